"""The subscribers' notifications, sent every minute from the outbox the publishes write."""

from lienthong.airflow.dags import deliver_dag

lienthong_deliver = deliver_dag()
