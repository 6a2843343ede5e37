"""The task functions without a scheduler: AgencyHook (endpoints and credentials from Airflow connections),
the run report, the registry."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from lienthong.airflow.registry import sources
from lienthong.airflow.tasks import run_report

pytestmark = pytest.mark.integration  # one test starts an interpreter with Airflow

REPO = Path(__file__).resolve().parents[3]


def test_registry_names_each_stream_dataset_and_pool() -> None:
    by_name = {s.name: s for s in sources()}
    assert set(by_name) == {"land", "business", "construction", "tax"}
    tax = by_name["tax"]
    assert {s.name: s.dataset for s in tax.streams} == {"taxpayers": "taxpayers", "land_tax_notices": "tax_notices"}
    assert (tax.dag_id, tax.pool, tax.conn_id) == ("lienthong_sync_tax", "lienthong_tax", "lienthong_tax")
    assert tax.concurrency >= 1


def test_run_report_names_the_streams_that_did_not_publish() -> None:
    ok = {"stream": "taxpayers", "line": "tax/taxpayers -> taxpayers: fetched 3"}
    text = run_report([ok, None], ["taxpayers", "land_tax_notices"])
    assert text.splitlines() == ["tax/taxpayers -> taxpayers: fetched 3", "land_tax_notices: FAILED (see its task log)"]


def _in_airflow(script: str, tmp_path: Path, connections: dict[str, dict[str, object]],
                extra: dict[str, str] | None = None) -> object:
    """Run `script` in a fresh interpreter whose Airflow finds `connections` (AIRFLOW_CONN_*); its last
    stdout line, as JSON."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AIRFLOW_CONN_LIENTHONG_", "LIENTHONG_AGENCY_"))}
    env.update({"AIRFLOW_HOME": str(tmp_path), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__UNIT_TEST_MODE": "False", **(extra or {})})
    env.update({f"AIRFLOW_CONN_{cid.upper()}": json.dumps(conn) for cid, conn in connections.items()})
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_endpoints_come_from_airflow_connections(tmp_path: Path) -> None:
    script = """
        import json
        from lienthong.airflow.hook import AgencyHook
        out = {s: AgencyHook(s).get_conn().endpoint for s in ("tax", "land", "business", "construction")}
        print(json.dumps(out))
    """
    found = _in_airflow(script, tmp_path, {
        "lienthong_tax": {"conn_type": "http", "host": "http://127.0.0.1:9/tax/"},
        "lienthong_land": {"conn_type": "http", "host": "127.0.0.1", "port": 8801, "schema": "ws/land"},
        "lienthong_construction": {"conn_type": "http", "login": "only-a-login"},  # no host: not an endpoint
    }, {"LIENTHONG_AGENCY_BUSINESS_URL": "http://127.0.0.1:8802"})
    # a connection's URL; host/port/schema; the variable, with the file's service path; the file's own
    assert found == {"tax": "http://127.0.0.1:9/tax", "land": "http://127.0.0.1:8801/ws/land",
                     "business": "http://127.0.0.1:8802/ws/business", "construction": "http://127.0.0.1:8803"}


def test_credentials_come_from_the_sources_connection(tmp_path: Path) -> None:
    script = """
        import json
        from connectors.secrets import resolve
        from lienthong.airflow.hook import AgencyHook
        out = {}
        for s in ("tax", "construction", "land"):
            auth = AgencyHook(s).get_conn().auth
            out[s] = [getattr(auth, "client_id", getattr(auth, "username", None)), auth.secret.describe(),
                      resolve(auth.secret, s)]
        print(json.dumps(out))
    """
    found = _in_airflow(script, tmp_path, {
        "lienthong_tax": {"conn_type": "http", "host": "http://127.0.0.1:9", "login": "lienthong-prod",
                          "password": "s3cr3t-from-airflow"},
        "lienthong_construction": {"conn_type": "http", "password": "key-from-airflow"},
    }, {"TAX_SIM_CLIENT_SECRET": "not-this-one"})
    assert found == {
        "tax": ["lienthong-prod", "airflow_conn:lienthong_tax.password", "s3cr3t-from-airflow"],
        "construction": [None, "airflow_conn:lienthong_construction.password", "key-from-airflow"],
        # no connection: the source file's user name and secret reference (its dev default here)
        "land": ["lienthong", "env:LAND_SIM_PASSWORD", "land-dev-secret"],
    }


def test_the_hook_reads_no_connection_until_asked(tmp_path: Path) -> None:
    script = """
        import json
        from airflow.sdk.bases.hook import BaseHook
        from lienthong.airflow.hook import AgencyHook
        calls = []
        original = BaseHook.get_connection.__func__
        BaseHook.get_connection = classmethod(lambda cls, cid: calls.append(cid) or original(cls, cid))
        hook = AgencyHook("tax")
        before = list(calls)
        hook.get_conn(); hook.get_conn()
        print(json.dumps([before, calls]))
    """
    assert _in_airflow(script, tmp_path, {"lienthong_tax": {"conn_type": "http", "host": "http://127.0.0.1:9"}}) \
        == [[], ["lienthong_tax"]]


def test_sync_task_calls_the_agency_its_connection_names(tmp_path: Path) -> None:
    """The task's source comes from the hook: the connection's endpoint and key win over the variable and
    the file's reference (both wrong here, so the sync could not read a record through them)."""
    from agencies.testing import running_simulator
    from agencies.truth import truth_rows

    script = """
        import json
        from lienthong.airflow.tasks import LAST_SUMMARIES, sync_stream_task
        result = sync_stream_task("construction", "permits", conn_id="lienthong_construction", run_id="hook-1")
        print(json.dumps([result["fetched"], result["quarantined"], result["error"],
                          LAST_SUMMARIES[("construction", "permits")]["endpoint"]]))
    """
    with running_simulator("construction", records=120, seed=3, tmp_dir=tmp_path / "sim") as sim:
        expected = sum(1 for r in truth_rows(sim.sim, "permits") if not r["_deleted"])
        found = _in_airflow(script, tmp_path, {
            "lienthong_construction": {"conn_type": "http", "host": sim.url, "password": "construction-dev-key"},
        }, {"LIENTHONG_AGENCY_CONSTRUCTION_URL": "http://127.0.0.1:9", "CONSTRUCTION_SIM_API_KEY": "wrong-key",
            "LIENTHONG_DATABASE_URL": f"sqlite:///{tmp_path / 'lt.db'}", "LIENTHONG_DATA_DIR": str(tmp_path / "d")})
    assert isinstance(found, list)
    fetched, quarantined, error, endpoint = found
    assert (fetched, error, endpoint) == (expected, None, sim.url.rstrip("/"))
    assert 0 <= quarantined < fetched
