"""The Airflow glue: DAG builders, the tasks they run, the agency hook, pools and the UI plugin.

DAG files in `dags/` only call `lienthong.airflow.dags`; tasks call `pipeline` and `sharing` at run time.
"""
