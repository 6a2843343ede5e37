"""The pipeline: extract -> map -> validate -> publish for one stream, and the run's transaction boundary.

It is the one package that knows every stage: it asks `connectors` for record batches, `schemas` for the
contract and mapping, `quality` for validation and quarantine, and `sharing` to publish the valid rows with
the new cursor in one transaction. The stages import nothing of it; the CLI and the Airflow tasks call it.
"""

from pipeline.memory import prefer_jemalloc

prefer_jemalloc()  # before any of our modules imports pyarrow (pipeline/memory.py)
