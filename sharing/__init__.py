"""Sharing: what other agencies read.

Belongs here: publishing (versioned Parquet snapshots and SQL serving tables, exactly once), the dataset
catalog, the cross-agency views, access policy, the lookup API, the audit log, the operations dashboard.

Does not belong here: fetching (`connectors`), validation (`quality`).
"""
