"""The cross-agency views DAG, scheduled on the Assets the sync DAGs publish."""

from lienthong.airflow.dags import views_dag

lienthong_views = views_dag()
