"""Schemas: the dataset contracts and the mapping from each source to them.

Belongs here: one contract per published dataset (columns, Arrow types, keys, cursor, PII class,
descriptions, version), the source-to-contract mappings and their small normalisation functions, drift
detection, and reference data (`schemas/reference/admin-units`, the 2025 administrative units).

Does not belong here: fetching (`connectors`), expectations and quarantine (`quality`), storage (`sharing`).
"""
