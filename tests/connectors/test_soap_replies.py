"""Each hostile SOAP reply behind a 200 fails the sync with its named error and publishes nothing.

On the reconciled business stream (a deleted enterprise is only absent from the key listing): a reply
read as an empty page there would publish every known key as deleted. Each test syncs clean first, then
switches one fault on for every request and checks the published dataset is unchanged.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from agencies.testing import running_simulator
from pipeline.sync import sync_source
from tests.pipeline.test_sync import published_keys, truth_keys

pytestmark = pytest.mark.integration

SOURCE = Path(__file__).parents[2] / "connectors" / "sources" / "business.yaml"

HOSTILE = [
    ("html_200", r"NotSoapReply|an HTML page \(Content-Type text/html"),
    ("not_xml", r"the body is not XML, not a SOAP envelope"),
    ("wrong_element", r"the Body holds <Notice>, not the operation's response <GetEnterpriseChangesResponse>"),
    ("records_renamed", r"records path 'enterprise' matched nothing, and the response holds <doanhNghiep>"),
    ("cp1258_body", r"not valid UTF-8 in \d+ of \d+ records"),
    ("lying_encoding", r"declares ISO-8859-1 but is UTF-8"),
    ("wrong_id", r"the reply's X-Road id '0000aaaa.*' is not the request's"),
]


def _fast_source(tmp_path: Path) -> Path:
    text = SOURCE.read_text(encoding="utf-8")
    text = re.sub(r"^retry: .*$", "retry: {attempts: 2, backoff_seconds: 0.01, max_backoff_seconds: 0.02}", text,
                  flags=re.M)
    path = tmp_path / "business.yaml"
    path.write_text(text, encoding="utf-8")
    return path


# Every reply through the bulk path; through zeep, those whose checks differ between the two paths.
CASES = [(f, m, True) for f, m in HOSTILE] + [
    (f, m, False) for f, m in HOSTILE if f in ("wrong_element", "records_renamed", "cp1258_body")]


@pytest.mark.parametrize(("fault", "message", "bulk"), CASES,
                         ids=[f"{f}-{'bulk' if b else 'zeep'}" for f, _, b in CASES])
def test_a_hostile_reply_fails_the_sync_and_publishes_nothing(fault: str, message: str, bulk: bool,
                                                              tmp_path: Path, sqlite_url: str) -> None:
    source = _fast_source(tmp_path)
    if not bulk:
        source.write_text(source.read_text(encoding="utf-8").replace("bulk: true", "bulk: false"), encoding="utf-8")
    with running_simulator("business", records=300, seed=3, tmp_dir=tmp_path / "sim") as sim:
        env = {**os.environ, "LIENTHONG_AGENCY_BUSINESS_URL": sim.url}
        first = sync_source(str(source), url=sqlite_url, data_dir=tmp_path / "data", environ=env,
                            streams=["enterprises"])
        assert first[0].error is None, first[0].line()
        before = published_keys(sqlite_url, "enterprises", ("enterprise_code",))
        assert before == truth_keys(sim.sim, "enterprises")
        sim.sim.store.advance(120)
        sim.sim.faults.set_rates({fault: 1.0})
        again = sync_source(str(source), url=sqlite_url, data_dir=tmp_path / "data", environ=env,
                            streams=["enterprises"])
        assert again[0].error is not None, again[0].line()
        assert re.search(message, again[0].error), again[0].error
        assert again[0].error.startswith("[business] operation GetEnterpriseChanges page first:"), again[0].error
        assert published_keys(sqlite_url, "enterprises", ("enterprise_code",)) == before


def test_the_xroad_request_id_is_kept_with_the_run_and_in_quarantine(tmp_path: Path, sqlite_url: str) -> None:
    import sqlalchemy as sa

    from quality.store import quarantine
    from sharing import db

    with running_simulator("business", records=300, seed=3, tmp_dir=tmp_path / "sim",
                           faults={"invalid_values": 0.1}) as sim:
        env = {**os.environ, "LIENTHONG_AGENCY_BUSINESS_URL": sim.url}
        summary = sync_source(str(_fast_source(tmp_path)), url=sqlite_url, data_dir=tmp_path / "data", environ=env,
                              streams=["enterprises"])[0]
    assert summary.error is None and summary.quarantined > 0, summary.line()
    ids = summary.extra["xroad_request_ids"]
    assert ids and len(ids) == len(set(ids))
    with db.engine_for(sqlite_url).connect() as conn:
        pages = [p for (p,) in conn.execute(sa.select(quarantine.c.page).where(quarantine.c.source == "business"))]
    assert pages and all(p.split(" xroad-id=")[1] in ids for p in pages)
