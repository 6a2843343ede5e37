"""docker/compose.yaml's topology without containers: Airflow with the CeleryExecutor on the local Redis
and PostgreSQL, Celery workers started by the test.

One control plane (api-server, dag-processor, scheduler) for the module; each test starts its own
workers, pointed at its own serving database and simulators. The first syncs every agency through the
agency queues (the deployment's cluster policy routes each agency's tasks to the queue named for its
pool) and checks the published data against ground truth. The second kills the only worker while it
runs the tax sync (its simulator made slow, so the kill lands mid-sync); the scheduler notices the
silent task, Airflow retries it, a second worker started afterwards runs the retry, and the data is
published exactly once.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
import sqlalchemy as sa

from agencies.base import DATASETS, AgencyName
from agencies.testing import running_simulator
from lienthong.airflow.registry import sources
from schemas.contract import contract_for_stream
from sharing import db
from tests.e2e.airflow_helpers import fresh_pg_database, published_keys, truth_keys
from tests.e2e.celery_topology import Topology, control_plane, kill_tree, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

AGENCIES: tuple[AgencyName, ...] = ("land", "business", "construction", "tax")
REDIS_DB = 11  # this module's broker and results; nobody else's


@pytest.fixture(scope="module")
def topology(tmp_path_factory: pytest.TempPathFactory, airflow_pg_metadata: str) -> Iterator[Topology]:
    with control_plane(tmp_path_factory.mktemp("celery"), airflow_pg_metadata, redis_db=REDIS_DB) as topo:
        yield topo


def test_every_agency_syncs_through_its_worker_queue(topology: Topology, tmp_path: Path) -> None:
    with ExitStack() as stack:
        url = stack.enter_context(fresh_pg_database("lienthong_celery")).replace("+psycopg", "")
        sims = {a: stack.enter_context(running_simulator(a, records=300, seed=5, tmp_dir=tmp_path / "sims" / a))
                for a in AGENCIES}
        env = topology.worker_env("worker-1", database_url=url, data_dir=tmp_path / "data",
                                  endpoints={a: s.url for a, s in sims.items()})
        stack.enter_context(topology.worker("worker-1", env))
        runs = {s.dag_id: topology.trigger(s.dag_id) for s in sources()}
        states = topology.wait_finished(runs, timeout=420)
        assert states == dict.fromkeys(runs, "success"), "\n".join(
            topology.explain(dag, run) for dag, run in runs.items() if states[dag] != "success")

        for source in sources():
            tis = topology.task_instances(source.dag_id, runs[source.dag_id])
            syncs = {t["task_id"]: t for t in tis if t["task_id"].startswith("sync_")}
            assert set(syncs) == {f"sync_{s.name}" for s in source.streams}
            for ti in syncs.values():  # routed by the cluster policy, run by the test's worker
                assert (ti["queue"], ti["pool"], ti["hostname"]) == (source.pool, source.pool, "worker-1"), ti
        for agency in AGENCIES:
            for stream in DATASETS[agency]:
                contract = contract_for_stream(agency, stream)
                expected = truth_keys(sims[agency].sim, stream)
                assert expected and published_keys(url, contract.dataset, tuple(contract.primary_key)) == expected, \
                    f"{agency}/{stream}"


def test_a_killed_worker_s_sync_is_retried_on_a_second_worker_and_published_once(
        topology: Topology, tmp_path: Path) -> None:
    tax = next(s for s in sources() if s.name == "tax")
    with ExitStack() as stack:
        url = stack.enter_context(fresh_pg_database("lienthong_celery_kill")).replace("+psycopg", "")
        # every call waits a second: the sync lasts long enough to be killed in the middle
        sim = stack.enter_context(running_simulator("tax", records=300, seed=9, tmp_dir=tmp_path / "sim",
                                                    faults={"slow": 1.0}, slow_seconds=1.0))
        env_a = topology.worker_env("worker-a", database_url=url, data_dir=tmp_path / "data",
                                    endpoints={"tax": sim.url})
        env_b = topology.worker_env("worker-b", database_url=url, data_dir=tmp_path / "data",
                                    endpoints={"tax": sim.url})
        worker_a = stack.enter_context(topology.worker("worker-a", env_a))
        run_id = topology.trigger(tax.dag_id)
        streams = {f"sync_{s.name}" for s in tax.streams}

        def running_on_a() -> bool:
            tis = topology.task_instances(tax.dag_id, run_id)
            return all(t["state"] == "running" and t["hostname"] == "worker-a"
                       for t in tis if t["task_id"] in streams) and bool(tis)

        wait_for("the tax sync to run on worker-a", running_on_a, 240, topology.logs, every=0.3)
        kill_tree(worker_a)  # the worker, its pool processes and the tasks: no goodbye
        assert topology.run_state(tax.dag_id, run_id) == "running"
        stack.enter_context(topology.worker("worker-b", env_b))
        states = topology.wait_finished({tax.dag_id: run_id}, timeout=300)
        assert states == {tax.dag_id: "success"}, topology.explain(tax.dag_id, run_id)

        tis = {t["task_id"]: t for t in topology.task_instances(tax.dag_id, run_id)}
        for task_id in streams:
            assert tis[task_id]["try_number"] >= 2 and tis[task_id]["hostname"] == "worker-b", tis[task_id]
            assert topology.xcom(tax.dag_id, run_id, task_id)["version"] == 1
        engine = db.engine_for(url)
        for stream in DATASETS["tax"]:
            contract = contract_for_stream("tax", stream)
            expected = truth_keys(sim.sim, stream)
            assert published_keys(url, contract.dataset, tuple(contract.primary_key)) == expected, stream
            table = engine.dialect.identifier_preparer.quote("ds_" + contract.dataset)
            with engine.connect() as conn:  # every record once: no second copy from the killed attempt
                current, rows = conn.execute(sa.text(
                    f"SELECT count(*) FILTER (WHERE valid_to IS NULL AND NOT is_deleted), count(*) FROM {table}"  # noqa: S608
                )).one()
            assert current == len(expected) and rows == current, (stream, current, rows, len(expected))
