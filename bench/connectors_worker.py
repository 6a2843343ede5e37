"""One contender of `bench.connectors`, run in its own process so its peak RSS is its own.

    python -m bench.connectors_worker CONTENDER AGENCY BASE_URL OUT_DIR

Prints one JSON line: {"records", "seconds", "startup_seconds", "peak_rss_mb", ...}: `seconds` is the
read alone; `startup_seconds` the fixed cost before it (imports, and dlt's source and pipeline set-up). Contenders:
ours (our connector, Parquet out), ours_zeep (SOAP with zeep objects instead of the bulk path), ours_rows
(SOAP: the bulk path reading a record at a time, as before pages were decoded a column at a time),
httpx_json (REST: plain httpx + json, nothing written), dlt (REST: dlt's rest_api source to Parquet, as
shipped), dlt_tuned (the same with dlt's documented performance settings),
zeep (SOAP: a plain zeep client, objects serialised to dicts), lxml (SOAP: httpx + lxml, untyped dicts).
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

STARTED = time.perf_counter()
STREAM = {"land": "parcels", "business": "enterprises", "construction": "permits", "tax": "taxpayers"}
EPOCH = "1970-01-01T00:00:00Z"
PAGE = 1000


def _source(agency: str, url: str, bulk: bool = True) -> Any:
    import dataclasses

    from connectors import load_source

    source = load_source(agency, environ={f"LIENTHONG_AGENCY_{agency.upper()}_URL": url})
    stream = dataclasses.replace(source.stream(STREAM[agency]), bulk=bulk)
    return dataclasses.replace(source, streams={**source.streams, stream.name: stream})


def _rows_at_a_time() -> None:
    """The bulk path as it was before pages were decoded a column at a time (Shape.read per record, and
    each `_raw` encoded by the Coercer): the same run's before figure."""
    from connectors import bulk

    init = bulk.BulkPlan.__init__

    def rows_init(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        self.columnar = False

    bulk.BulkPlan.__init__ = rows_init  # type: ignore[method-assign]


def ours(agency: str, url: str, out: Path, bulk: bool = True, one_at_a_time: bool = False) -> int:
    import pyarrow.parquet as pq

    from connectors import read

    if one_at_a_time:
        _rows_at_a_time()

    extraction = read(_source(agency, url, bulk), STREAM[agency])
    rows = 0
    with pq.ParquetWriter(out / f"{agency}.parquet", extraction.schema, compression="zstd") as writer:
        for batch in extraction:
            writer.write_batch(batch)
            rows += batch.num_rows
    NOTES["reconciled"] = extraction.reconciled  # it also listed every live key: more work than the others
    return rows


def httpx_json(agency: str, url: str, out: Path) -> int:
    import httpx

    rows = 0
    if agency == "construction":
        with httpx.Client(base_url=url, headers={"X-API-Key": "construction-dev-key"}) as client:
            offset = 0
            while True:
                body = json.loads(client.get("/api/v1/permits", params={
                    "updated_since": EPOCH, "offset": offset, "limit": PAGE}).content)
                rows += len(body["items"])
                offset += PAGE
                if offset >= body["total"]:
                    return rows
    with httpx.Client(base_url=url) as client:
        token = client.post("/oauth/token", data={"grant_type": "client_credentials"},
                            auth=("lienthong", "tax-dev-secret")).json()["access_token"]
        client.headers["Authorization"] = f"Bearer {token}"
        path: str | None = f"/api/v1/taxpayers?changed_since={EPOCH}&limit={PAGE}"
        while path:
            body = json.loads(client.get(path).content)
            rows += len(body["items"])
            path = body.get("next")
    return rows


NOTES: dict[str, Any] = {}  # what a contender reports beside its count (its set-up time, whether it reconciled)
# dlt's documented knobs ("Optimizing dlt"): bigger item buffers and files, parallel normalise and load,
# and Airflow's secrets provider off (dlt reads an Airflow Variable when both are installed).
DLT_TUNED = {
    "DATA_WRITER__BUFFER_MAX_ITEMS": "50000", "DATA_WRITER__FILE_MAX_ITEMS": "500000",
    "EXTRACT__DATA_WRITER__BUFFER_MAX_ITEMS": "50000", "NORMALIZE__DATA_WRITER__BUFFER_MAX_ITEMS": "50000",
    "NORMALIZE__WORKERS": "2", "LOAD__WORKERS": "4", "EXTRACT__WORKERS": "2",
    "PROVIDERS__ENABLE_AIRFLOW_SECRETS": "false",
}


def dlt_rest(agency: str, url: str, out: Path, tuned: bool = False) -> int:
    set_up = time.perf_counter()
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    if tuned:
        os.environ.update(DLT_TUNED)
    import dlt
    from dlt.sources.rest_api import rest_api_source

    if agency == "construction":
        client: dict[str, Any] = {"base_url": url, "auth": {
            "type": "api_key", "name": "X-API-Key", "api_key": "construction-dev-key", "location": "header"}}
        endpoint: dict[str, Any] = {"path": "api/v1/permits", "params": {"updated_since": EPOCH},
                                    "data_selector": "items", "paginator": {
                                        "type": "offset", "limit": PAGE, "offset_param": "offset",
                                        "limit_param": "limit", "total_path": "total"}}
    else:
        client = {"base_url": url, "auth": {
            "type": "oauth2_client_credentials", "access_token_url": f"{url}/oauth/token",
            "client_id": "lienthong", "client_secret": "tax-dev-secret",
            "access_token_request_data": {"grant_type": "client_credentials"}}}
        endpoint = {"path": "api/v1/taxpayers", "params": {"changed_since": EPOCH, "limit": PAGE},
                    "data_selector": "items", "paginator": {"type": "json_link", "next_url_path": "next"}}
    config: Any = {"client": client, "resources": [{"name": STREAM[agency], "endpoint": endpoint}]}
    source = rest_api_source(config)
    pipeline = dlt.pipeline(pipeline_name=f"bench_{agency}", pipelines_dir=str(out / "dlt"),
                            destination=dlt.destinations.filesystem(bucket_url=(out / "dlt_out").as_uri()),
                            dataset_name="bench")
    NOTES["setup_seconds"] = time.perf_counter() - set_up  # source and pipeline built: fixed, not per record
    info = pipeline.run(source, loader_file_format="parquet")
    info.raise_on_failed_jobs()
    trace: Any = pipeline.last_trace
    return int(trace.last_normalize_info.row_counts.get(STREAM[agency], 0))


def _zeep_client(agency: str, url: str) -> Any:
    import zeep
    from zeep.wsse.username import UsernameToken

    from connectors.wsdl import zeep_settings

    wsse = UsernameToken("lienthong", "land-dev-secret") if agency == "land" else None  # type: ignore[no-untyped-call]
    return zeep.Client(f"{url}/ws/{agency}?wsdl", settings=zeep_settings(), wsse=wsse)  # type: ignore[no-untyped-call]


def _xroad(operation: str) -> list[Any]:
    from lxml import etree

    ns = "http://x-road.eu/xsd/xroad.xsd"
    values = {"client": "VN/GOV/000.00.00.H01/lienthong", "service": f"VN/GOV/000.00.00.H02/dkkd/{operation}",
              "userId": "bench", "id": str(time.monotonic_ns()), "protocolVersion": "4.0"}
    out = []
    for name, value in values.items():
        element = etree.Element(f"{{{ns}}}{name}")
        element.text = value
        out.append(element)
    return out


def zeep_alone(agency: str, url: str, out: Path) -> int:
    from zeep.helpers import serialize_object

    client = _zeep_client(agency, url)
    operation = {"land": "GetParcelChanges", "business": "GetEnterpriseChanges"}[agency]
    field = {"land": "parcel", "business": "enterprise"}[agency]
    rows, token = 0, None
    while True:
        headers = _xroad(operation) if agency == "business" else None
        result = getattr(client.service, operation)(since=EPOCH, pageSize=PAGE, pageToken=token,
                                                    _soapheaders=headers)
        data = serialize_object(result, dict)  # type: ignore[no-untyped-call]
        data = data.get("body", data)
        rows += len(data[field] or [])
        token = data.get("nextPageToken")
        if not token:
            return rows


_LOCAL: dict[str, str] = {}


def _local(tag: str) -> str:
    """`{ns}name` -> `name`, remembered per tag (an lxml element's QName built per element is the slow way)."""
    name = _LOCAL.get(tag)
    if name is None:
        name = _LOCAL[tag] = tag.rpartition("}")[2]
    return name


def plain_lxml(agency: str, url: str, out: Path) -> int:
    import httpx
    from lxml import etree

    from connectors.open import open_reader
    from connectors.secrets import Redactor

    source = _source(agency, url)
    operation = {"land": "GetParcelChanges", "business": "GetEnterpriseChanges"}[agency]
    ns = f"urn:lienthong:{agency}:v1"
    tag = f"{{{ns}}}{ {'land': 'parcel', 'business': 'enterprise'}[agency]}"
    rows, token = 0, None
    with open_reader(source, Redactor()) as (reader, _), httpx.Client() as client:
        while True:
            args = {"since": EPOCH, "pageSize": PAGE} | ({"pageToken": token} if token else {})
            body, headers = reader.envelope(operation, args)  # type: ignore[attr-defined]
            root = etree.fromstring(client.post(source.endpoint, content=body, headers=headers).content)
            records = [{_local(c.tag): c.text for c in r} for r in root.iter(tag)]
            rows += len(records)
            token = root.findtext(f".//{{{ns}}}nextPageToken")
            if not token:
                return rows


def parse_only(agency: str, url: str, out: Path) -> dict[str, float]:
    """The same SOAP reply bytes parsed three ways: zeep objects, our bulk path, plain lxml (untyped)."""
    import httpx
    from lxml import etree
    from zeep.helpers import serialize_object

    from connectors.bulk import BulkPlan
    from connectors.coerce import raw_json
    from connectors.http import Response
    from connectors.open import open_reader
    from connectors.secrets import Redactor
    from connectors.soap import SoapReader, _Reply

    source = _source(agency, url)
    operation = {"land": "GetParcelChanges", "business": "GetEnterpriseChanges"}[agency]
    field = {"land": "parcel", "business": "enterprise"}[agency]
    tag = f"{{urn:lienthong:{agency}:v1}}{field}"
    replies: list[bytes] = []
    with open_reader(source, Redactor()) as (reader, _), httpx.Client() as client:
        assert isinstance(reader, SoapReader)
        token = None
        while True:
            args = {"since": EPOCH, "pageSize": PAGE} | ({"pageToken": token} if token else {})
            body, headers = reader.envelope(operation, args)
            content = client.post(source.endpoint, content=body, headers=headers).content
            replies.append(content)
            token = etree.fromstring(content).findtext(f".//{{urn:lienthong:{agency}:v1}}nextPageToken")
            if not token:
                break
        binding, zclient = reader.binding, reader.client
        plan = BulkPlan(binding, operation, field, "nextPageToken")

        def zeep_parse(data: bytes) -> int:
            response = Response(200, httpx.Headers({"Content-Type": "text/xml"}), data, "")
            reply = binding.process_reply(zclient, binding.get(operation), _Reply(response, data))
            result = serialize_object(reply, dict)  # type: ignore[no-untyped-call]
            return len(result.get("body", result)[field] or [])

        def bulk_parse(data: bytes) -> int:  # records and each one's _raw, a column at a time
            return len(plan.parse(data)[0])

        rows_plan = BulkPlan(binding, operation, field, "nextPageToken")
        rows_plan.columnar = False

        def rows_parse(data: bytes) -> int:  # records one at a time, then each one's _raw as the Coercer wrote it
            records = rows_plan.parse(data)[0]
            return len([raw_json(r) for r in records])

        def lxml_parse(data: bytes) -> int:
            root = etree.fromstring(data)
            return len([{_local(c.tag): c.text for c in r} for r in root.iter(tag)])

        figures: dict[str, float] = {"bytes": float(sum(map(len, replies)))}
        for name, parse in (("zeep", zeep_parse), ("bulk", bulk_parse), ("rows", rows_parse), ("lxml", lxml_parse)):
            best = float("inf")
            for _ in range(3):
                start = time.process_time()  # CPU time: on a shared machine, wall time is mostly the others
                rows = sum(parse(r) for r in replies)
                best = min(best, time.process_time() - start)
            figures[name] = rows / best
        return figures


CONTENDERS: dict[str, Any] = {
    "ours": ours, "ours_zeep": lambda a, u, o: ours(a, u, o, bulk=False), "httpx_json": httpx_json,
    "ours_rows": lambda a, u, o: ours(a, u, o, one_at_a_time=True),
    "dlt": dlt_rest, "dlt_tuned": lambda a, u, o: dlt_rest(a, u, o, tuned=True), "zeep": zeep_alone,
    "lxml": plain_lxml,
}


def warm_up(contender: str) -> None:
    """Import what the contender uses before the clock starts: we time reading, not interpreter start-up."""
    import httpx  # noqa: F401
    import pyarrow as pa
    import pyarrow.parquet

    pa.array([1])  # pyarrow imports pandas on its first list conversion
    if contender in ("ours", "ours_zeep", "ours_rows", "lxml"):
        import connectors.extract
        import connectors.rest
        import connectors.soap  # noqa: F401
    if contender in ("zeep", "ours_zeep", "ours", "ours_rows", "lxml"):
        import zeep  # noqa: F401
    if contender in ("dlt", "dlt_tuned"):
        os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
        if contender == "dlt_tuned":
            os.environ.update(DLT_TUNED)
        import dlt  # noqa: F401
        from dlt.sources.rest_api import rest_api_source  # noqa: F401


def main() -> None:
    contender, agency, url, out = sys.argv[1:5]
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    warm_up(contender)
    startup = time.perf_counter() - STARTED
    if contender == "parse":
        print(json.dumps(parse_only(agency, url, out_dir)))
        return
    start, cpu = time.perf_counter(), time.process_time()
    rows = CONTENDERS[contender](agency, url, out_dir)
    seconds = time.perf_counter() - start
    NOTES["cpu_seconds"] = time.process_time() - cpu  # this process's own work, whatever else the machine runs
    setup = float(NOTES.pop("setup_seconds", 0.0))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"records": rows, "seconds": seconds - setup, "startup_seconds": startup + setup,
                      "peak_rss_mb": peak, **NOTES}))


if __name__ == "__main__":
    main()
