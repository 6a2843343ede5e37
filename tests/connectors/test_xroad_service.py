"""The X-Road-style register (agencies/soap/xroad_business.py) through a source declared in a file alone.

Imported XSDs through a catalog, `request/keha` parameters with the page number in the body, records
three levels down with nested and repeated children and an attribute, structured X-Road 4.x headers the
server validates against xroad.xsd/identifiers.xsd, the echoed `id` checked. A full sync then two
incrementals reproduce the register's truth exactly, through the bulk path and through zeep, clean and
with request faults; the bulk path yields exactly what zeep yields on both nested operations.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from lxml import etree

from agencies.soap.xroad_business import business_lines
from agencies.testing import running_simulator
from connectors import read
from connectors.config import SourceConfig, XRoadAuth, read_source, resolve_endpoint
from connectors.errors import HeaderMismatch, RequestRejected
from connectors.http import Response
from connectors.open import open_reader
from connectors.secrets import Redactor
from connectors.soap import SoapReader
from tests.connectors.test_simulators_sync import norm

pytestmark = pytest.mark.integration

SOURCE = Path(__file__).parent / "xroad_registry" / "sources" / "business_xroad.yaml"
# the register's wire names -> the business world's field names (the truth)
WIRE = {"maSoDoanhNghiep": "enterpriseCode", "tenDoanhNghiep": "name", "loaiHinh": "enterpriseType",
        "trangThai": "status", "ngayDangKy": "registeredDate", "vonDieuLe": "charterCapitalVnd",
        "diaChi.maTinh": "provinceCode", "diaChi.maXa": "communeCode", "diaChi.chiTiet": "address",
        "nguoiDaiDien.hoTen": "legalRepName", "nguoiDaiDien.soGiayTo": "legalRepId", "capNhatLuc": "updatedAt"}
FAULTS = {"http_500": 0.05, "http_503": 0.03, "rate_limit": 0.03, "truncated": 0.03, "malformed": 0.03}
EPOCH = "1970-01-01T00:00:00Z"


def _source(url: str, bulk: bool = True) -> SourceConfig:
    source = resolve_endpoint(read_source(SOURCE), url)
    stream = source.stream("enterprises")
    # the repeated business lines as an Arrow list column too (contracts cannot publish lists yet)
    fields = {**stream.fields, "nganhNghe.maNganh": "list<string>"}
    stream = dataclasses.replace(stream, bulk=bulk, fields=fields)
    return dataclasses.replace(source, streams={"enterprises": stream})


def _truth(sim: Any) -> dict[str, dict[str, Any]]:
    out = {}
    for key, _, body in sim.store.all_rows("enterprises"):
        record = json.loads(body)
        out[key] = {k: v for k, v in ((w, norm(record.get(f))) for w, f in WIRE.items()) if v is not None}
    return out


def _sync(source: SourceConfig, state: dict[str, Any] | None, view: dict[str, dict[str, Any]]) -> dict[str, Any]:
    extraction = read(source, "enterprises", state)
    for batch in extraction:
        for row in batch.to_pylist():
            assert row["_error"] is None, row
            key = row["maSoDoanhNghiep"]
            if row["_deleted"]:
                view.pop(key)
                continue
            view[key] = {w: norm(row[w]) for w in WIRE if norm(row[w]) is not None}
            raw = json.loads(row["_raw"])
            assert raw["nganhNghe"]["maNganh"] == business_lines(key)  # repeated children kept, in order
            assert row["nganhNghe.maNganh"] == business_lines(key)  # and as an Arrow list<string> column
    new_state: dict[str, Any] = json.loads(json.dumps(extraction.state))
    return new_state


@pytest.mark.parametrize("faults", [None, FAULTS], ids=["clean", "faults"])
@pytest.mark.parametrize("bulk", [True, False], ids=["bulk", "zeep"])
def test_full_then_two_incrementals_reproduce_the_registers_truth(bulk: bool, faults: dict[str, float] | None) -> None:
    with running_simulator("business", records=400, seed=13, faults=faults) as handle:
        source = _source(handle.base_url, bulk)
        view: dict[str, dict[str, Any]] = {}
        state = _sync(source, None, view)
        assert view == _truth(handle.sim) and len(view) > 200
        for _ in range(2):
            httpx.post(f"{handle.base_url}/_admin/advance", params={"minutes": 90}).raise_for_status()
            state = _sync(source, state, view)
            assert view == _truth(handle.sim)


def _exchange(reader: SoapReader, operation: str, args: dict[str, Any], request_id: str = "t-1") -> Response:
    body, headers = reader.envelope(operation, args, request_id)
    reply = httpx.post(reader.source.endpoint, content=body, headers=headers)
    return Response(reply.status_code, reply.headers, reply.content, str(reply.url))


def _types(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _types(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_types(v) for v in value]
    return type(value).__name__


def test_bulk_yields_exactly_what_zeep_yields_on_every_nested_operation() -> None:
    with running_simulator("business", records=300, seed=13) as handle:
        source = _source(handle.base_url)
        with open_reader(source, Redactor()) as (reader, _):
            assert isinstance(reader, SoapReader)
            cases: list[tuple[str, dict[str, Any], str]] = [
                ("layThayDoiDoanhNghiep", {"request.keha.tuThoiDiem": EPOCH, "request.keha.soBanGhi": 50},
                      "response/keha/doanhNghieps/doanhNghiep"),
                     ("layDanhSachMaDoanhNghiep", {"request.keha.trang": 2, "request.keha.soBanGhi": 40},
                      "response/keha/maSos/maSo")]
            for operation, args, records in cases:
                response = _exchange(reader, operation, args)
                assert response.status == 200, response.content[:300]
                want = reader.read_reply(operation, response, records, "response/keha/tongSoTrang", bulk=False)
                got = reader.read_reply(operation, response, records, "response/keha/tongSoTrang", bulk=True)
                assert got == want and len(got[0]) in (40, 50)
                for a, b in zip(got[0], want[0], strict=True):  # the same Python types, nested too
                    assert _types(a) == _types(b)


def test_the_server_validates_headers_and_the_client_checks_the_echoed_id() -> None:
    with running_simulator("business", records=100, seed=13) as handle:
        source = _source(handle.base_url)
        with open_reader(source, Redactor()) as (reader, _):
            assert isinstance(reader, SoapReader)
            args = {"request.keha.tuThoiDiem": EPOCH}
            body, headers = reader.envelope("layThayDoiDoanhNghiep", args, "abc123")
            sent = etree.fromstring(body)
            ns = {"xrd": "http://x-road.eu/xsd/xroad.xsd", "id": "http://x-road.eu/xsd/identifiers"}
            client = sent.find(".//xrd:client", ns)
            assert client is not None and client.get("{http://x-road.eu/xsd/identifiers}objectType") == "SUBSYSTEM"
            assert [etree.QName(c).localname for c in client] == ["xRoadInstance", "memberClass", "memberCode",
                                                                   "subsystemCode"]
            assert sent.findtext(".//xrd:service/id:serviceCode", namespaces=ns) == "layThayDoiDoanhNghiep"
            assert sent.findtext(".//xrd:service/id:serviceVersion", namespaces=ns) == "v2"
            assert sent.findtext(".//xrd:issue", namespaces=ns) == "LT-2025-001"
            reply = httpx.post(source.endpoint, content=body, headers=headers)
            assert reply.status_code == 200 and b"abc123" in reply.content  # echoed verbatim
            # objectType removed: the server's schema validation refuses the header
            broken = body.replace(b'id:objectType="SUBSYSTEM"', b"", 1)
            assert broken != body
            refused = httpx.post(source.endpoint, content=broken, headers=headers)
            assert refused.status_code == 500 and b"does not validate against xroad.xsd" in refused.content
            # the request ids of a run are unique, kept with it, and each page names its own
            extraction = read(source, "enterprises")
            pages = {row["_page"] for batch in extraction for row in batch.to_pylist()}
            ids = extraction.request_ids
            assert len(ids) == len(set(ids)) == extraction.stats.requests - 1  # all but the WSDL's GET
            assert {p.split(" xroad-id=")[1] for p in pages} <= set(ids) and len(pages) == 1  # 100 records: one page
        handle.sim.faults.set_rates({"wrong_id": 1.0})
        with pytest.raises(HeaderMismatch, match=r"^\[business_xroad\] operation layThayDoiDoanhNghiep page page=1: "
                                                 r"the reply's X-Road id"):
            list(read(source, "enterprises"))


def test_a_wrong_service_identifier_is_refused_by_the_provider() -> None:
    with running_simulator("business", records=50, seed=13) as handle:
        source = _source(handle.base_url)
        assert isinstance(source.auth, XRoadAuth)
        auth = dataclasses.replace(source.auth, xroad_service_prefix="VN/GOV/000.00.00.H02/other")
        with pytest.raises(RequestRejected, match=r"service 'VN/GOV/000.00.00.H02/other/layThayDoiDoanhNghiep/v2' "
                                                  r"is not VN/GOV/000.00.00.H02/dkkd"):
            list(read(dataclasses.replace(source, auth=auth), "enterprises"))


def test_the_xroad_5_header_set_is_selectable() -> None:
    with running_simulator("business", records=50, seed=13) as handle:
        source = _source(handle.base_url)
        assert isinstance(source.auth, XRoadAuth)
        auth = dataclasses.replace(source.auth, xroad_headers="5")
        with open_reader(dataclasses.replace(source, auth=auth), Redactor()) as (reader, _):
            assert isinstance(reader, SoapReader)
            body, _ = reader.envelope("layThayDoiDoanhNghiep", {"request.keha.tuThoiDiem": EPOCH}, "r-5")
    header = etree.fromstring(body).find("{http://schemas.xmlsoap.org/soap/envelope/}Header")
    assert header is not None
    assert {etree.QName(e).localname: e.text for e in header} == {
        "asutus": "000.00.00.H01", "andmekogu": "dkkd", "isikukood": "VN0123456789",
        "nimi": "dkkd.layThayDoiDoanhNghiep.v2", "id": "r-5", "toimik": "LT-2025-001"}


def test_a_first_sync_of_zero_records_warns_loudly(caplog: pytest.LogCaptureFixture) -> None:
    with running_simulator("business", records=50, seed=13) as handle:
        source = _source(handle.base_url)
        stream = source.stream("enterprises")
        assert stream.incremental is not None
        late = dataclasses.replace(stream, incremental=dataclasses.replace(
            stream.incremental, initial_value="2100-01-01T00:00:00Z"))
        extraction = read(dataclasses.replace(source, streams={"enterprises": late}), "enterprises")
        assert sum(b.num_rows for b in extraction) == 0
    assert extraction.warnings and "the first sync read 0 records" in extraction.warnings[0]
    assert any("first sync read 0 records" in r.message and r.levelname == "WARNING" for r in caplog.records)


def test_lienthong_sync_publishes_the_registers_truth_through_x_road(tmp_path: Path, sqlite_url: str,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The whole pipeline on the X-Road source, brought in by a registry folder (source file + contract)."""
    from pipeline.sync import sync_source
    from tests.pipeline.test_sync import published_keys, truth_keys

    monkeypatch.setenv("LIENTHONG_REGISTRY", str(SOURCE.parents[1]))
    with running_simulator("business", records=300, seed=13, tmp_dir=tmp_path / "sim") as handle:
        env = {"LIENTHONG_AGENCY_BUSINESS_XROAD_URL": handle.base_url, "LIENTHONG_REGISTRY": str(SOURCE.parents[1])}
        for round_no in range(3):
            if round_no:
                handle.sim.store.advance(90)
            summary = sync_source("business_xroad", url=sqlite_url, data_dir=tmp_path / "data", environ=env)[0]
            assert summary.error is None, summary.line()
            assert published_keys(sqlite_url, "xroad_enterprises", ("enterprise_code",)) == \
                truth_keys(handle.sim, "enterprises"), round_no
            assert summary.extra["xroad_request_ids"], summary.line()
            # the business lines are not in the contract: seen as drift, not lost (the nested address and
            # representative are parents of declared fields, not drift)
            assert summary.extra["drift_open"] == ["new_field:nganhNghe"], summary.line()
