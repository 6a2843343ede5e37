"""One sync DAG per source file in connectors/sources (generated: a new source file is a new DAG)."""

from lienthong.airflow.dags import sync_dags

globals().update(sync_dags())
