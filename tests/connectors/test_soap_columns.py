"""The SOAP bulk path's column-at-a-time decoding gives exactly what the record-at-a-time one gave.

A changed `_raw` reads as a changed record (re-quarantined, re-published), so each page below is decoded
both ways (BulkPlan.columnar off and on) and the records must match in keys, order, types and values,
and each `_raw` byte for byte: namespaces and prefixes, missing optional fields, xsi:nil, Vietnamese
text, characters JSON escapes, numbers and timestamps in every spelling, undeclared (drift) and
repeated children, processing instructions, nested children. The Coercer's whole-column Arrow
conversions of decimals and timestamps are checked against its value-by-value conversions.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pyarrow as pa
import pytest

from connectors.bulk import BulkPlan, Shape
from connectors.coerce import Coercer, Decoded, raw_json, raw_of
from connectors.config import load_source
from connectors.http import HttpCaller
from connectors.secrets import Redactor
from connectors.soap import SoapReader

pytestmark = pytest.mark.unit

ROOT = Path(__file__).parents[2]
NS = "urn:lienthong:land:v1"
XSI = 'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
FIELDS = ["communeCode", "mapSheet", "parcelNumber", "provinceCode", "districtCode", "address", "areaM2",
          "landUseCode", "holderType", "holderId", "holderName", "updatedAt", "deleted"]
# Each field's spellings: plain text is escaped for XML; "<...>" is written as it is (CDATA, nil, empty).
TEXT = ["11791", "", "  padded  ", 'quote " and \\ backslash', "tab\tand\nnewline", "line\u2028sep", "%s %d",
        "Xã Tiên Minh", "Công ty Cổ phần Vận tải Thành Thịnh", "<&> escaped", "<![CDATA[a<b & c]]>",
        "<![CDATA[]]>", "\U0001f600 emoji", "a\x7fdel", "&#x1EA0;&#233;"]
VARIANTS: dict[str, list[str]] = {
    "int": ["5", " 7 ", "+3", "-0", "007", "1_000", "abc", "", "99999999999999999999", "1.5", "0"],
    "decimal": ["288.99", "0012.50", "1E+2", " 3.1 ", "NaN", "abc", "0.0000001", "-0.00", "1.234", "7",
                "0.000001", "12345678901234567.5", "Infinity", "1_0.5"],
    "datetime": ["2019-01-01T01:42:27Z", "2019-01-01T01:42:27+07:00", "2019-01-01T01:42:27.500000Z",
                 "2019-01-01T01:42:27.000000Z", "2019-01-01T01:42:27+00:00", "2019-01-01T01:42:27-00:00",
                 "2019-01-01T01:42:27", "2019-01-01", " 2019-01-01T01:42:27Z ", "not a date",
                 "2019-01-01T01:42:27.5Z", "2019-01-01T01:42:27.123456-05:30", "2019-13-01T00:00:00Z",
                 "0999-01-01T00:00:00Z", "2019-01-01 01:42:27Z", "2019-01-01T01:42:27z"],
    "bool": ["true", "false", "1", "0", " true ", "yes", "", "TRUE"],
    "str": TEXT,
}
KIND = {"mapSheet": "int", "parcelNumber": "int", "areaM2": "decimal", "updatedAt": "datetime", "deleted": "bool"}
CLEAN = {"communeCode": "11791", "mapSheet": "5", "parcelNumber": "436", "provinceCode": "31", "districtCode": "",
         "address": "Số 220 Lê Duẩn, Xã Tiên Minh, Thành phố Hải Phòng", "areaM2": "288.99",
         "landUseCode": "SKK", "holderType": "enterprise", "holderId": "0212403018",
         "holderName": "Công ty Cổ phần Vận tải Thành Thịnh", "updatedAt": "2019-01-01T01:42:27Z",
         "deleted": "false"}


@pytest.fixture(scope="module")
def plan(tmp_path_factory: pytest.TempPathFactory) -> BulkPlan:
    tmp = tmp_path_factory.mktemp("land")
    (tmp / "land.wsdl").write_bytes((ROOT / "agencies" / "soap" / "wsdl" / "land.wsdl").read_bytes())
    text = (ROOT / "connectors" / "sources" / "land.yaml").read_text(encoding="utf-8")
    text = re.sub(r"soap:\n(  .*\n)+", 'soap:\n  wsdl: land.wsdl\n  version: "1.1"\n  offline: true\n', text)
    (tmp / "land.yaml").write_text(text, encoding="utf-8")
    source = load_source(tmp / "land.yaml", environ={})
    client = httpx.Client(transport=httpx.MockTransport(lambda r: pytest.fail(f"fetched {r.url}")))
    reader = SoapReader(source, HttpCaller(source, client, Redactor()), Redactor(), environ={})
    found = reader.plan("GetParcelChanges", "parcel", "nextPageToken")
    assert found is not None and found.shape is not None and found.shape.flat
    return found


def _value(text: str) -> str:
    if text.startswith("<![CDATA[") or text.startswith("&#"):
        return text
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _child(prefix: str, name: str, text: str | None) -> str:
    tag = f"{prefix}{name}"
    if text is None:
        return f"<{tag}/>"
    if text == "nil":
        return f'<{tag} xsi:nil="true"/>'
    if text == "nil-with-text":
        return f'<{tag} xsi:nil="1">ignored</{tag}>'
    return f"<{tag}>{_value(text)}</{tag}>"


def _record(prefix: str, values: Mapping[str, str | None], extra: str = "", order: list[str] | None = None) -> str:
    children = "".join(_child(prefix, name, values[name]) for name in (order or FIELDS) if name in values)
    return f"<{prefix}parcel>{children}{extra}</{prefix}parcel>"


def _page(records: list[str], prefix: str = "", token: str | None = "p2",  # noqa: S107 (a page token)
          pretty: bool = False) -> bytes:
    declare = f'xmlns="{NS}"' if not prefix else f'xmlns:{prefix[:-1]}="{NS}"'
    sep = "\n    " if pretty else ""
    body = sep.join(records) + (f"{sep}<{prefix}nextPageToken>{token}</{prefix}nextPageToken>" if token else "")
    return (f'<?xml version="1.0" encoding="utf-8"?>\n<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/'
            f'soap/envelope/" {XSI}><soap:Header><h:note xmlns:h="urn:other">1</h:note></soap:Header>'
            f'<soap:Body><{prefix}GetParcelChangesResponse {declare}>{sep}{body}'
            f"</{prefix}GetParcelChangesResponse></soap:Body></soap:Envelope>").encode()


def _typed(records: list[Any]) -> list[list[tuple[str, type, str]]]:
    """Keys in order with each value's type and repr (Decimal('NaN') != itself, so == will not do)."""
    return [[(k, type(v), repr(v)) for k, v in r.items()] for r in records]


def _both_ways(plan: BulkPlan, content: bytes) -> Decoded:
    plan.columnar = False
    try:
        before, token_before = plan.parse(content)
    finally:
        plan.columnar = True
    after, token_after = plan.parse(content)
    assert isinstance(after, Decoded)
    assert token_after == token_before
    assert _typed(after) == _typed(before)
    assert after.raw == [raw_json(r) for r in before]  # byte for byte
    return after


def test_a_regular_page_reads_the_same_both_ways(plan: BulkPlan) -> None:
    records = [_record("", dict(CLEAN, parcelNumber=str(i), holderName=f"Phạm Trí Bảo {i}")) for i in range(50)]
    for prefix in ("", "l:"):  # the default namespace, and a prefix
        after = _both_ways(plan, _page([_record(prefix, dict(CLEAN, parcelNumber=str(i))) for i in range(50)], prefix))
        assert len(after) == 50 and after[3]["parcelNumber"] == 3
        assert after.raw[0] == ('{"communeCode":"11791","mapSheet":5,"parcelNumber":0,"provinceCode":"31",'
                                '"districtCode":null,"address":"Số 220 Lê Duẩn, Xã Tiên Minh, Thành phố Hải Phòng",'
                                '"areaM2":"288.99","landUseCode":"SKK","holderType":"enterprise",'
                                '"holderId":"0212403018","holderName":"Công ty Cổ phần Vận tải Thành Thịnh",'
                                '"updatedAt":"2019-01-01T01:42:27Z","deleted":false}')
    _both_ways(plan, _page(records, pretty=True))
    _both_ways(plan, _page([], token=None))


def test_regular_pages_are_read_a_column_at_a_time(plan: BulkPlan, monkeypatch: pytest.MonkeyPatch) -> None:
    """Not one record at a time: with a nil, with optional fields left out, pretty-printed."""
    monkeypatch.setattr(Shape, "read", lambda *_: pytest.fail("a record was read on its own"))
    missing = {k: v for k, v in CLEAN.items() if k not in ("districtCode", "areaM2")}
    for page in (_page([_record("", CLEAN)] * 5), _page([_record("l:", dict(CLEAN, holderId="nil"))] * 5, "l:"),
                 _page([_record("", missing)] * 5, pretty=True),
                 _page([_record("", CLEAN), _record("", missing), _record("", CLEAN)])):
        records = plan.parse(page)[0]
        assert isinstance(records, Decoded) and len(records) in (3, 5)


@pytest.mark.parametrize("field", FIELDS)
def test_every_spelling_of_a_value_reads_the_same(plan: BulkPlan, field: str) -> None:
    """A page where one column takes every spelling (with nil, nil with text and self-closing), the rest clean."""
    spellings: list[str | None] = [*VARIANTS[KIND.get(field, "str")], *TEXT, "nil", "nil-with-text", None]
    records = [_record("", dict(CLEAN, **{field: s})) for s in spellings]
    after = _both_ways(plan, _page(records))
    assert len(after) == len(spellings)
    for spelling in spellings:  # and each alone, so a column of one kind takes its whole-column path
        _both_ways(plan, _page([_record("", dict(CLEAN, **{field: spelling}))] * 3))


def test_records_of_other_shapes_read_the_same(plan: BulkPlan) -> None:
    missing = {k: v for k, v in CLEAN.items() if k not in ("districtCode", "areaM2", "holderName")}
    shapes = [
        _record("", CLEAN),
        _record("", missing),  # optional fields left out
        _record("", CLEAN, order=list(reversed(FIELDS))),  # another order
        _record("", CLEAN, extra="<drift>new field</drift>"),  # undeclared: kept as text in _raw
        _record("", CLEAN, extra='<o:address xmlns:o="urn:other">other namespace</o:address>'),
        _record("", CLEAN, extra="<holderId>twice</holderId>"),
        _record("", CLEAN, extra="<?pi data?>"),
        _record("", CLEAN, extra="<!-- a comment -->"),
        _record("", CLEAN, extra="<nested><deleted>true</deleted></nested>"),
        _record("", CLEAN).replace("<address>", "<address><b>bold</b>", 1),
        _record("", CLEAN).replace("<parcel>", '<parcel id="7" xsi:nil="true">', 1),
        "<parcel/>",
        _record("", {k: "nil" for k in CLEAN}),
        _record("", {k: None for k in CLEAN}),
        # a declared child under another child: right after the record's last child (the last record's
        # children would seem to be all declared, one each)
        _record("", {k: v for k, v in CLEAN.items() if k != "districtCode"}).replace(
            "<address>", "<address><districtCode>9</districtCode>", 1),
        # a whole record under the last child, where the next record would be
        _record("", CLEAN).replace("<deleted>false</deleted>",
                                   f"<deleted>false{_record('', dict(CLEAN, holderId='under'))}</deleted>", 1),
    ]
    _both_ways(plan, _page(shapes))
    _both_ways(plan, _page(shapes, pretty=True))
    _both_ways(plan, _page([shapes[1]] * 5))  # one layout, not the declared one: still whole columns
    for shape in shapes:  # a page of regular records with one odd one at the start, middle or end
        for at in (0, 2, 4):
            page = [_record("", CLEAN)] * 4
            page.insert(at, shape)
            _both_ways(plan, _page(page))
    # a record inside another record (under an element with the container's tag) is still read
    inner = _record("", dict(CLEAN, holderId="inner"))
    _both_ways(plan, _page([_record("", CLEAN, extra=f"<GetParcelChangesResponse>{inner}</GetParcelChangesResponse>"),
                            _record("", CLEAN)]))
    _both_ways(plan, _page([_record("", CLEAN), _record("", CLEAN)]).replace(
        b"</soap:Body>", b"<parcel><communeCode>outside</communeCode></parcel></soap:Body>"))


def test_random_pages_read_the_same(plan: BulkPlan) -> None:
    rng = random.Random(15)
    extras = ["", "", "", "<drift>x</drift>", "<?pi?>", "<deleted>1</deleted>"]
    for _ in range(60):
        prefix = rng.choice(["", "l:"])
        records = []
        for _ in range(rng.randint(0, 25)):
            values: dict[str, str | None] = {}
            for name in FIELDS:
                roll = rng.random()
                if roll < 0.6:
                    values[name] = CLEAN[name]
                elif roll < 0.7:
                    continue  # left out
                elif roll < 0.8:
                    values[name] = rng.choice(["nil", None, "nil-with-text"])
                else:
                    values[name] = rng.choice(VARIANTS[KIND.get(name, "str")])
            records.append(_record(prefix, values, rng.choice(extras)))
        _both_ways(plan, _page(records, prefix, pretty=rng.random() < 0.3))


def test_the_batch_is_the_same_with_the_written_raw(plan: BulkPlan) -> None:
    """Through the Coercer: the batch from the written `_raw` equals the one from each record encoded."""
    source = load_source("land", environ={})
    stream = source.stream("parcels")
    coercer = Coercer("land", "parcels", stream.fields, zone=ZoneInfo(source.timezone))
    spellings = [dict(CLEAN, **{f: s}) for f in FIELDS for s in VARIANTS[KIND.get(f, "str")]]
    for records in ([CLEAN] * 20, spellings):
        decoded = plan.parse(_page([_record("", r) for r in records]))[0]
        assert isinstance(decoded, Decoded)
        deleted = [False] * len(decoded)
        written = coercer.batch(decoded, "p1", deleted, raw=raw_of(decoded, decoded))
        encoded = coercer.batch(list(decoded), "p1", deleted)
        assert written.equals(encoded)
        kept = decoded[1::3]
        assert raw_of(decoded, kept) == [raw_json(r) for r in kept]
    assert raw_of([{"a": 1}], [{"a": 1}]) is None


def _per_value(coercer: Coercer, name: str, t: pa.DataType, values: list[Any]) -> tuple[pa.Array, list[Any]]:
    """The column as the Coercer converts it value by value (what it did before the Arrow fast paths)."""
    convert = coercer._convert[name]
    out: list[Any] = []
    errors: list[list[str] | None] = []
    for v in values:
        try:
            out.append(None if v is None else convert(v))
            errors.append(None)
        except (ValueError, TypeError, OverflowError) as exc:
            out.append(None)
            errors.append([f"{name}: {exc}"])
    try:
        return pa.array(out, t), errors
    except (pa.ArrowInvalid, OverflowError) as exc:
        return pa.nulls(len(out), t), [e or [f"{name}: {exc}"] if v is not None else e for e, v in zip(
            errors, out, strict=True)]


def test_whole_column_decimals_and_timestamps_match_value_by_value() -> None:
    coercer = Coercer("land", "parcels", {"a": "decimal128(18,2)", "t": "timestamp"}, zone=ZoneInfo("Asia/Ho_Chi_Minh"))
    dec, ts = pa.decimal128(18, 2), pa.timestamp("us", tz="UTC")
    rng = random.Random(7)
    decimals = ["288.99", "1.5", "1.500", "1.234", "1E+2", "-0", "-0.00", "12345678901234567.00",
                "1234567890123456.5", "0.0000001", "NaN", "Infinity", "-Infinity", "sNaN", "1E+16", "1E+17",
                "9999999999999999.99", "0.001E+1", "123456789012345678901234567890"]
    decimals += [f"{rng.randint(-10**18, 10**18)}E{rng.randint(-6, 2)}" for _ in range(300)]
    for text in decimals:
        for cells in ([Decimal(text)], [Decimal("1.25"), Decimal(text), None]):
            values: list[Any] = list(cells)
            errors: list[Any] = [None] * len(values)
            got = coercer._column("a", dec, values, errors)
            want, want_errors = _per_value(coercer, "a", dec, values)
            assert got.equals(want), text
            assert [e is None for e in errors] == [e is None for e in want_errors], text
    zones = [UTC, timezone(timedelta(hours=7)), timezone(timedelta(hours=-5, minutes=-30)), timezone(timedelta(0))]
    stamps = [datetime(2019, 1, 1, 1, 42, 27, tzinfo=z) for z in zones]
    stamps += [datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
               datetime(1969, 12, 31, 23, 59, 59, 1, tzinfo=timezone(timedelta(hours=14)))]
    stamps += [datetime.fromtimestamp(rng.randint(-2 * 10**9, 4 * 10**9) + rng.random(), tz=rng.choice(zones))
               for _ in range(300)]
    for stamp in stamps:
        values = [stamp]
        got = coercer._column("t", ts, values, [None])
        want, _ = _per_value(coercer, "t", ts, values)
        assert got.equals(want), values
    got = coercer._column("t", ts, [*stamps, None], [None] * (len(stamps) + 1))
    assert got.equals(_per_value(coercer, "t", ts, [*stamps, None])[0])
    # naive datetimes, and zones other than fixed offsets, are still converted one at a time (in the zone)
    naive = [datetime(2019, 1, 1, 7), datetime(2019, 6, 1, 7, tzinfo=ZoneInfo("Europe/Paris"))]
    got = coercer._column("t", ts, naive, [None, None])
    assert got.to_pylist() == [datetime(2019, 1, 1, 0, tzinfo=UTC), datetime(2019, 6, 1, 5, tzinfo=UTC)]


@pytest.mark.integration
def test_a_land_sync_keeps_the_raw_the_decoder_wrote(monkeypatch: pytest.MonkeyPatch) -> None:
    """Through the extraction loop: each batch's `_raw` is the one written with the page, not encoded again."""
    from agencies.testing import running_simulator
    from connectors import read
    from tests.connectors.helpers import source_at

    class Refuses:
        def encode(self, record: Any) -> str:
            raise AssertionError(f"a record was encoded again: {record}")

    with running_simulator("land", records=600, seed=3) as handle:
        source = source_at("land", handle.base_url)
        monkeypatch.setattr("connectors.coerce._RAW_ENCODER", Refuses())
        batches = list(read(source, "parcels"))
        monkeypatch.undo()
        assert sum(b.num_rows for b in batches) > 400
        init = BulkPlan.__init__

        def one_at_a_time(self: BulkPlan, *args: Any) -> None:
            init(self, *args)
            self.columnar = False

        monkeypatch.setattr(BulkPlan, "__init__", one_at_a_time)
        before = list(read(source, "parcels"))  # each record read alone, its _raw encoded by the Coercer
    assert pa.Table.from_batches(batches).equals(pa.Table.from_batches(before))
    assert all(raw.startswith('{"communeCode":"') for b in batches for raw in b.column("_raw").to_pylist())
