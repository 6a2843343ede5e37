"""Schemas: the dataset contracts and the mapping from each source to them.

Belongs here: one contract per published dataset (columns, Arrow types, keys, cursor, PII class,
descriptions, version), the source-to-contract mappings and their small normalisation functions, drift
detection, and reference data (`schemas/reference/admin-units`, the 2025 administrative units).

Does not belong here: fetching (`connectors`), expectations and quarantine (`quality`), storage (`sharing`).

Entry points: `schemas.contract.get_contract(dataset)` / `contract_for_stream(agency, stream)` (the YAML
files in `schemas/contracts/`), `schemas.changes.classify_change(old, new)`, `schemas.mapping.map_batch`,
the normalisation functions in `schemas.normalize`, `schemas.drift` (detection, the `drift_log` table,
policies) and `schemas.wire.batch_from_records` (records into a connector-shaped batch).
"""
