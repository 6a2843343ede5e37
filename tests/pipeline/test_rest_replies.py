"""A 200 that is not the declared JSON fails the stream with an error naming source, operation and page,
and changes no published dataset; on the reconciled construction stream, the key listing and the records.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agencies.testing import running_simulator
from pipeline.sync import StreamSummary, sync_source
from sharing import snapshots
from tests.pipeline.hostile import Rewrite, hostile_proxy, source_file
from tests.pipeline.test_sync import published_keys

pytestmark = pytest.mark.integration

KEYS, RECORDS = "/api/v1/permit-keys", "/api/v1/permits"
HTML = b"<!DOCTYPE html><html><body><h1>Maintenance</h1>The service is being upgraded.</body></html>"


def _json(change: object) -> Rewrite:
    return lambda _kind, _body: ("application/json", json.dumps(change).encode())


def _null_list(kind: str, body: bytes) -> tuple[str, bytes]:
    return kind, json.dumps({**json.loads(body), "items": None}).encode()


def _bad_utf8(kind: str, body: bytes) -> tuple[str, bytes]:
    # one listed key with a byte that is not UTF-8: read loosely, that key would no longer match
    return kind, body.replace(b'"GPXD', b'"\xffGPXD', 1)


CASES: dict[str, tuple[str, Rewrite, str]] = {
    "html_page": (KEYS, lambda _k, _b: ("text/html; charset=utf-8", HTML), "content type 'text/html'"),
    "json_as_html": (KEYS, lambda _k, b: ("text/html", b), "content type 'text/html'"),
    "invalid_utf8": (KEYS, _bad_utf8, "not valid UTF-8"),
    "truncated": (KEYS, lambda k, b: (k, b[: len(b) // 2]), "not valid JSON"),
    "empty_body": (KEYS, lambda k, _b: (k, b""), "empty body"),
    "other_shape": (KEYS, _json({"data": {"items": []}, "total": 0}), "has no 'items'"),
    "bare_list": (KEYS, _json([]), "got a JSON list"),
    "null_list": (KEYS, _null_list, "got null"),
    "null_key": (KEYS, lambda k, b: (k, b.replace(b'"GPXD', b'null, "GPXD', 1)), "not a string or number"),
    # shapes of a key the listing's JSON can carry and no key of the dataset has
    "newline_key": (KEYS, lambda k, b: (k, b.replace(b'"GPXD', b'"\\nGPXD', 1)), "a listed key contains a newline"),
    "surrogate_key": (KEYS, lambda k, b: (k, b.replace(b'"GPXD', b'"\\ud800GPXD', 1)), "is not valid Unicode"),
    "records_html": (RECORDS, lambda _k, _b: ("text/html", HTML), "content type 'text/html'"),
    "records_null": (RECORDS, _null_list, "got null"),
    "records_not_objects": (RECORDS, lambda k, b: (k, json.dumps({**json.loads(b), "items": [1, "x"]}).encode()),
                            "a record is not an object: '1'"),
}


def _sync(source: str, url: str, data_dir: Path, env: dict[str, str]) -> StreamSummary:
    (summary,) = sync_source(source, url=url, data_dir=data_dir, environ=env, streams=["permits"])
    return summary


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_wrong_200_fails_the_stream_and_changes_nothing(case: str, sqlite_url: str, tmp_path: Path) -> None:
    path, rule, message = CASES[case]
    data_dir = tmp_path / "data"
    source = str(source_file("construction", tmp_path))
    with running_simulator("construction", records=300, seed=4, tmp_dir=tmp_path / "sim") as sim, \
            hostile_proxy(sim.url) as proxy:
        env = {"LIENTHONG_AGENCY_CONSTRUCTION_URL": proxy.url}
        first = _sync(source, sqlite_url, data_dir, env)
        assert first.error is None and first.published is not None, first.line()
        before = published_keys(sqlite_url, "permits", ("permit_no",))
        version = snapshots.current_version(data_dir, "permits")
        sim.sim.store.advance(120)  # real changes wait at the source: only the wrong reply stops them

        proxy.rewrite[path] = rule
        summary = _sync(source, sqlite_url, data_dir, env)
        assert proxy.served.get(path), "the hostile reply was never asked for"
        assert summary.error is not None and summary.published is None, summary.line()
        first_page = "first" if path.endswith("-keys") else "offset=0"  # the key listing pages by keyset
        assert summary.error.startswith(f"[construction] operation {path} page {first_page}: "), summary.error
        assert message in summary.error, summary.error
        assert published_keys(sqlite_url, "permits", ("permit_no",)) == before
        assert snapshots.current_version(data_dir, "permits") == version

        del proxy.rewrite[path]  # the agency answers properly again: the run goes through
        after = _sync(source, sqlite_url, data_dir, env)
        assert after.error is None and after.published is not None and after.published.new_version, after.line()
