"""Connectors: pulling records out of agency systems.

Belongs here: the SOAP client (zeep, plus the lxml bulk path), the REST client (httpx), pagination
strategies, cursors and sync state, auth, retries, and one declarative source file per agency system
(`connectors/sources/*.yaml`). A connector yields pyarrow RecordBatches and returns the new state; it
never saves state itself (publishing commits it with the data).

Does not belong here: contracts and normalisation (`schemas`), validation (`quality`), publishing
(`sharing`), anything Airflow-specific (`dags`).
"""
