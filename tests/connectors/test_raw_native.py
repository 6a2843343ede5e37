"""`_raw` of a REST record is written by orjson where orjson parsed the page: the same text the encoder
writes, and a number orjson cannot hold exactly (an integer beyond 64 bits) sends the page the long way,
so nothing is rounded on the way in or in `_raw`."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from agencies.testing import running_simulator
from connectors.coerce import raw_json, raw_json_native
from connectors.http import Response
from connectors.replies import json_body
from connectors.secrets import Redactor
from pipeline.sync import sync_source
from quality.store import quarantine
from tests.pipeline.hostile import hostile_proxy, source_file

_scalars = (st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.text(max_size=12)
            | st.floats(allow_nan=False, allow_infinity=False))
_json_values = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4)
                            | st.dictionaries(st.text(max_size=6), inner, max_size=4), max_leaves=12)


def _has_float(value: Any) -> bool:
    if isinstance(value, float):
        return True
    if isinstance(value, dict):
        return any(map(_has_float, value.values()))
    if isinstance(value, list):
        return any(map(_has_float, value))
    return False


@pytest.mark.unit
@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=8), _json_values, max_size=6))
def test_orjson_writes_what_the_encoder_writes(record: dict[str, Any]) -> None:
    parsed = orjson.loads(orjson.dumps(record))  # a record as the reader has it: parsed by orjson
    (native,) = raw_json_native([parsed])
    assert json.loads(native) == json.loads(raw_json(parsed))
    if not _has_float(parsed):  # a float's spelling may differ (0.00001 against 1e-05), nothing else
        assert native == raw_json(parsed)


def _reply(body: bytes) -> Response:
    return Response(200, httpx.Headers({"Content-Type": "application/json"}), body, "http://127.0.0.1/x")


@pytest.mark.unit
@pytest.mark.parametrize("number", ["1234567890123456789012345", "-9223372036854775809", "18446744073709551616"])
def test_an_integer_beyond_64_bits_is_read_whole(number: str) -> None:
    body, _, native = json_body(_reply(b'{"items": [{"a": %s}]}' % number.encode()), source="s", operation="o",
                                page="p", redactor=Redactor())
    assert body["items"][0]["a"] == int(number) and not native
    assert raw_json(body["items"][0]) == '{"a":' + number + '}'


@pytest.mark.unit
def test_a_plain_page_is_parsed_by_orjson() -> None:
    body, bad_utf8, native = json_body(_reply(b'{"items": [{"a": 922337203685477580, "b": "x"}]}'),
                                       source="s", operation="o", page="p", redactor=Redactor())
    assert native and not bad_utf8 and body == {"items": [{"a": 922337203685477580, "b": "x"}]}


def _huge_floors(huge: bytes, seen: dict[str, bytes]) -> Callable[[str, bytes], tuple[str, bytes]]:
    """A proxy rule: the first record of the first page sends `floors` as a number of `huge`'s digits."""

    def rewrite(kind: str, body: bytes) -> tuple[str, bytes]:
        page = json.loads(body)
        if page["offset"] == 0:
            seen["key"] = page["items"][0]["permit_no"].encode()
            at = body.index(b'"floors":', body.index(seen["key"]))
            body = body[:at] + b'"floors":' + huge + body[body.index(b",", at):]
        return kind, body

    return rewrite


def _quarantined(url: str) -> list[tuple[str, str]]:
    with sa.create_engine(url).connect() as conn:
        return [(k, raw) for k, raw in conn.execute(sa.select(quarantine.c.record_key, quarantine.c.raw))]


@pytest.mark.integration
def test_a_record_with_a_huge_number_is_quarantined_with_every_digit(sqlite_url: str, tmp_path: Path) -> None:
    huge = b"98765432109876543210987"
    seen: dict[str, bytes] = {}
    source = str(source_file("construction", tmp_path))
    with running_simulator("construction", records=300, seed=4, tmp_dir=tmp_path / "sim") as sim, \
            hostile_proxy(sim.url) as proxy:
        proxy.rewrite["/api/v1/permits"] = _huge_floors(huge, seen)
        env = {"LIENTHONG_AGENCY_CONSTRUCTION_URL": proxy.url}
        (summary,) = sync_source(source, url=sqlite_url, data_dir=tmp_path / "data", environ=env,
                                 streams=["permits"])
        assert summary.error is None and summary.published is not None, summary.line()
        assert summary.fetched == 300 and summary.quarantined == 1, summary.line()  # the other 299 are published
        (key, raw), = _quarantined(sqlite_url)
        assert key == seen["key"].decode()
        assert b'"floors":' + huge in raw.encode(), raw  # not 9.876543210987654e+22

        # As a version before the compact `_raw` wrote it: `"a": 1`. Read again, the record is the same one.
        with sa.create_engine(sqlite_url).begin() as conn:
            conn.execute(quarantine.update().values(raw=json.dumps(json.loads(raw), ensure_ascii=False)))
        (again,) = sync_source(source, url=sqlite_url, data_dir=tmp_path / "data", environ=env,
                               streams=["permits"], full_reload=True)
        assert again.error is None and again.quarantined == 1, again.line()
    assert [k for k, _ in _quarantined(sqlite_url)] == [key]  # waiting once, not twice
