"""The endpoints. Each names the datasets it reads; a client sees the ones its grants cover for the
purpose it states, each row masked by that grant, and the keys of what it saw go to the audit log."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Path, Query, Request
from fastapi.responses import StreamingResponse

from sharing.api import cursor as cursors
from sharing.api import masking, queries
from sharing.api.app import ApiState, entry_of, state_of
from sharing.api.auth import KEY_HEADER, PURPOSE_HEADER, authenticate
from sharing.api.policy import PURPOSE_PATTERN, Client, Grant, pii_class

router = APIRouter(prefix="/v1")

DATASET_NAME = r"^[a-z][a-z0-9_]{1,59}$"
COMMUNE = r"^\d{5}$"
PARTY_ID = r"^[0-9A-Za-z .\-]{9,24}$"
MAX_PAGE = 200
# What enterprise names are made of; quotes, wildcards and the like are refused, not searched for.
NAME_TEXT = re.compile(r"^[^\W_](?:[^\W_]|[\s.,&()/-])*$")


@dataclass(frozen=True, slots=True)
class Caller:
    client: Client
    purpose: str

    def grants(self, datasets: Sequence[str]) -> dict[str, Grant]:
        """The grants covering `datasets` for the stated purpose; 403 when there is none."""
        found = {}
        for name in datasets:
            grant = self.client.grant(name)
            if grant is not None and self.purpose in grant.purposes:
                found[name] = grant
        if not found:
            raise HTTPException(403, f"client {self.client.name} has no grant on {', '.join(datasets)} "
                                     f"for purpose {self.purpose}")
        return found


async def caller(
    request: Request,
    api_key: Annotated[str | None, Header(alias=KEY_HEADER, description="The client's API key")] = None,
    purpose: Annotated[str | None, Header(alias=PURPOSE_HEADER, description="Why this request is made",
                                          examples=["tax_assessment"])] = None,
) -> Caller:
    """Who is asking and why: 401 without a known key, 429 over the rate, 400 without a purpose."""
    entry = entry_of(request)
    route = request.scope.get("route")
    if route is not None:
        entry.endpoint = route.path
    entry.params = {**request.path_params, **{k: v[:200] for k, v in request.query_params.items() if k != "cursor"}}
    state = state_of(request)
    client = authenticate(state.policy, api_key)
    if client is None:
        raise HTTPException(401, f"missing or unknown {KEY_HEADER}", headers={"WWW-Authenticate": "ApiKey"})
    entry.client = client.name
    wait = state.limiter.take(client.name, client.rate)
    if wait > 0:
        raise HTTPException(429, f"client {client.name}: over {client.rate.per_second:g} requests/s",
                            headers={"Retry-After": str(max(1, round(wait)))})
    if purpose is None or not PURPOSE_PATTERN.match(purpose):
        raise HTTPException(400, f"header {PURPOSE_HEADER} is required: a purpose like tax_assessment")
    entry.purpose = purpose
    return Caller(client, purpose)


CallerDep = Annotated[Caller, Depends(caller)]


def _answer(request: Request, grants: dict[str, Grant], found: dict[str, list[queries.Row]],
            next_cursor: str | None = None) -> dict[str, Any]:
    """Rows as each grant shows them; the keys of every row returned go to the audit log."""
    entry = entry_of(request)
    data = {}
    for name, grant in grants.items():
        rows = found.get(name, [])
        entry.row_keys[name] = [queries.key_of(name, r) for r in rows]
        data[name] = [masking.apply(name, grant, r) for r in rows]
    body: dict[str, Any] = {"data": data}
    if next_cursor is not None or request.query_params.get("cursor") is not None or "limit" in request.query_params:
        body["next_cursor"] = next_cursor
    return body


def _tax_code(raw: str) -> tuple[str, str | None]:
    from stdnum.exceptions import ValidationError
    from stdnum.vn import mst

    try:
        code = mst.validate(raw)
    except ValidationError as exc:
        raise HTTPException(422, f"tax code {raw[:30]!r}: {exc}") from exc
    return code[:10], code if len(code) == 13 else None


def _page_cursor(scope: str, value: str | None, shape: Sequence[type]) -> list[Any] | None:
    if value is None:
        return None
    try:
        position = cursors.decode(scope, value)
    except cursors.BadCursor as exc:
        raise HTTPException(400, f"cursor: {exc}") from exc
    if len(position) != len(shape) or not all(isinstance(p, t) for p, t in zip(position, shape, strict=True)):
        raise HTTPException(400, "cursor: malformed cursor")
    return position


ENTERPRISE_SETS = ("enterprises", "enterprise_profile", "branches", "taxpayers")

_ENTERPRISE_EXAMPLE = {"data": {
    "enterprises": [{"enterprise_code": "0100109106", "name": "Công ty TNHH Hòa Bình", "status": "active",
                     "legal_rep_name": "N*** V*** A***", "legal_rep_id": "*********345"}],
    "enterprise_profile": [{"enterprise_code": "0100109106", "branches": 2, "parcels_held": 1,
                            "permits_granted": 3, "tax_status_code": "00"}],
    "branches": [], "taxpayers": []}}


@router.get(
    "/enterprises/{tax_code}",
    summary="Enterprise profile by tax code",
    description="A 10-digit tax code (or a 13-digit branch code), written with or without separators. "
                "Returns the enterprise, its cross-agency profile, its branches and its tax record, as far "
                "as the caller's grants reach.",
    responses={200: {"content": {"application/json": {"example": _ENTERPRISE_EXAMPLE}}},
               404: {"description": "no enterprise with this code"}},
)
def enterprise(
    request: Request, who: CallerDep,
    tax_code: Annotated[str, Path(max_length=30, examples=["0100109106", "0100-109-106", "0100109106-001"])],
) -> dict[str, Any]:
    grants = who.grants(ENTERPRISE_SETS)
    code10, code13 = _tax_code(tax_code)
    state = state_of(request)
    present = state.published()  # before taking a connection: it may need one of its own
    with state.engine.connect() as conn:
        found = queries.enterprise(conn, present, code10, code13, list(grants))
    if not any(found.values()):
        raise HTTPException(404, f"no enterprise with tax code {code13 or code10}")
    return _answer(request, grants, found)


PARCEL_SETS = ("parcels", "parcel_profile", "land_certificates")


@router.get(
    "/parcels/{commune_code}/{map_sheet}/{parcel_number}",
    summary="Parcel profile by commune, map sheet and parcel number",
    description="The commune code may be the pre-2025 one or the current (2025) one: a parcel filed under an "
                "old commune is found by the code of the commune it went to, and the other way round.",
    responses={200: {"content": {"application/json": {"example": {"data": {
        "parcels": [{"commune_code_source": "00004", "map_sheet": 12, "parcel_number": 345,
                     "commune_code": "00004", "area_m2": "152.40", "holder_name": "T*** T*** B***"}],
        "parcel_profile": [{"commune_code_source": "00004", "map_sheet": 12, "parcel_number": 345,
                            "certificates": 1, "permits": 1, "tax_notices": 2}],
        "land_certificates": []}}}}}},
)
def parcel(
    request: Request, who: CallerDep,
    commune_code: Annotated[str, Path(pattern=COMMUNE, examples=["00004"])],
    map_sheet: Annotated[int, Path(ge=0, le=100_000, examples=[12])],
    parcel_number: Annotated[int, Path(ge=0, le=10_000_000, examples=[345])],
) -> dict[str, Any]:
    grants = who.grants(PARCEL_SETS)
    state = state_of(request)
    present = state.published()  # before taking a connection: it may need one of its own
    with state.engine.connect() as conn:
        found = queries.parcel(conn, present, commune_code, map_sheet, parcel_number, list(grants))
    if not found.get("parcels"):
        raise HTTPException(404, f"no parcel {commune_code}/{map_sheet}/{parcel_number}")
    return _answer(request, grants, found)


Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description="Rows per page")]
Cursor = Annotated[str | None, Query(max_length=cursors.MAX_CURSOR_LENGTH,
                                     description="`next_cursor` of the previous page, as given")]


@router.get(
    "/permits",
    summary="Permits by investor or by parcel",
    description="Either `investor_id` (a tax code or citizen ID) or all of `commune_code`, `map_sheet`, "
                "`parcel_number`. Pages of `limit` permits by permit number; follow `next_cursor`.",
    responses={200: {"content": {"application/json": {"example": {"data": {"permits": [
        {"permit_no": "GPXD-2024-000123", "investor_id": "*******106", "investor_name": "C*** T*** H***",
         "map_sheet": 12, "parcel_number": 345, "floors": 5, "status": "issued"}]},
        "next_cursor": "WyJHUFhELTIwMjQtMDAwMTIzIl0.3q2-7w"}}}}},
)
def permits(
    request: Request, who: CallerDep,
    investor_id: Annotated[str | None, Query(pattern=PARTY_ID, examples=["0100109106"])] = None,
    commune_code: Annotated[str | None, Query(pattern=COMMUNE)] = None,
    map_sheet: Annotated[int | None, Query(ge=0, le=100_000)] = None,
    parcel_number: Annotated[int | None, Query(ge=0, le=10_000_000)] = None,
    limit: Limit = 50, cursor: Cursor = None,
) -> dict[str, Any]:
    grants = who.grants(("permits",))
    by_parcel = (commune_code, map_sheet, parcel_number)
    if (investor_id is None) == all(v is None for v in by_parcel) or (
        investor_id is None and any(v is None for v in by_parcel)
    ):
        raise HTTPException(422, "give investor_id, or commune_code with map_sheet and parcel_number")
    investor = re.sub(r"[\s.\-]", "", investor_id) if investor_id is not None else None
    parcel_at = None if investor is not None else (str(commune_code), int(map_sheet or 0), int(parcel_number or 0))
    scope = f"permits|{investor}|{parcel_at}"
    after = _page_cursor(scope, cursor, (str,))
    state = state_of(request)
    present = state.published()  # before taking a connection: it may need one of its own
    with state.engine.connect() as conn:
        rows = queries.permits(conn, present, investor_id=investor, parcel_at=parcel_at,
                               after=after[0] if after else None, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    nxt = cursors.encode(scope, [rows[-1]["permit_no"]]) if more else None
    return _answer(request, grants, {"permits": rows}, nxt)


@router.get(
    "/enterprises",
    summary="Search enterprises by name",
    description="Case and diacritics do not matter (`cong ty hoa binh` finds `Công ty Hòa Bình`). Every word "
                "must appear; the whole name first, then names starting with the query, then the rest.",
    responses={200: {"content": {"application/json": {"example": {"data": {"enterprises": [
        {"enterprise_code": "0100109106", "name": "Công ty TNHH Hòa Bình", "name_search": "cong ty tnhh hoa binh"}]},
        "next_cursor": None}}}}},
)
def search(
    request: Request, who: CallerDep,
    name: Annotated[str, Query(min_length=2, max_length=100, examples=["hoa binh"])],
    limit: Limit = 20, cursor: Cursor = None,
) -> dict[str, Any]:
    from schemas.normalize.text import search_key_scalar

    grants = who.grants(("enterprises",))
    if not NAME_TEXT.match(name):
        raise HTTPException(422, "name: letters, digits, spaces and . , & ( ) - / only")
    key = search_key_scalar(name)
    if len(key) < 2 or len(key.split()) > 10:
        raise HTTPException(422, "name: between 2 characters and 10 words")
    scope = f"search|{key}"
    after = _page_cursor(scope, cursor, (int, str))
    state = state_of(request)
    present = state.published()  # before taking a connection: it may need one of its own
    with state.engine.connect() as conn:
        rows = queries.search_enterprises(conn, present, key,
                                          after=(after[0], after[1]) if after else None, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    nxt = cursors.encode(scope, [rows[-1]["rank"], rows[-1]["enterprise_code"]]) if more else None
    for r in rows:
        del r["rank"]
    return _answer(request, grants, {"enterprises": rows}, nxt)


@router.get("/datasets", summary="The dataset catalog",
            description="The published datasets this client may read for the stated purpose.")
def catalog(request: Request, who: CallerDep) -> dict[str, Any]:
    from sharing.catalog import list_datasets

    state = state_of(request)
    entries = [e for e in list_datasets(state.url) if who.client.grant(e.name)
               and who.purpose in who.client.grants[e.name].purposes]
    entry_of(request).row_keys["lt_datasets"] = [e.name for e in entries]
    return {"datasets": [{
        "name": e.name, "owner_agency": e.owner_agency, "version": e.version, "rows": e.rows,
        "published_at": e.published_at, "contract_version": e.contract_version,
        "quality_score": e.quality_score, "primary_key": e.primary_key.split(","), "description": e.description,
        "freshness_seconds": e.freshness_seconds(),
    } for e in entries]}


DatasetName = Annotated[str, Path(pattern=DATASET_NAME, examples=["enterprises"])]


def _dataset_grant(who: Caller, name: str) -> Grant:
    if name not in queries.specs():
        raise HTTPException(404, f"no dataset {name}")
    return who.grants((name,))[name]


@router.get("/datasets/{name}/versions", summary="The versions of one dataset")
def versions(request: Request, who: CallerDep, name: DatasetName) -> dict[str, Any]:
    from sharing.catalog import list_versions

    _dataset_grant(who, name)
    found = list_versions(state_of(request).url, name)
    entry_of(request).row_keys["lt_dataset_versions"] = [v["version"] for v in found]
    keep = ("version", "published_at", "rows", "inserted", "updated", "deleted", "unchanged", "content_hash",
            "contract_version")
    return {"dataset": name, "versions": [{k: v[k] for k in keep} for v in found]}


class _Sink:
    """A write-only file that hands over what was written so far: Parquet streamed row group by row group."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> int:
        self.chunks.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def take(self) -> bytes:
        out, self.chunks = b"".join(self.chunks), []
        return out


def _masked_batches(state: ApiState, name: str, version: int, grant: Grant) -> Iterator[Any]:
    import pyarrow as pa

    from sharing.snapshots import read_version

    table = read_version(state.data_dir, name, version)
    shown = masking.visible_columns(name, grant, table.column_names)
    for batch in table.to_batches(max_chunksize=20_000):
        arrays, fields = [], []
        for column, masked in shown:
            values = batch.column(column)
            if masked:
                cls = pii_class(name, column)
                values = pa.array([masking.mask_value(v, cls) for v in values.to_pylist()],
                                  type=values.type if pa.types.is_string(values.type) else pa.string())
            arrays.append(values)
            fields.append(pa.field(column, values.type))
        yield pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields))


def _parquet(batches: Iterator[Any]) -> Iterator[bytes]:
    import pyarrow.parquet as pq

    sink = _Sink()
    writer = None
    for batch in batches:
        if writer is None:
            writer = pq.ParquetWriter(sink, batch.schema)
        writer.write_batch(batch)
        yield sink.take()
    if writer is not None:
        writer.close()
    yield sink.take()


def _csv(batches: Iterator[Any]) -> Iterator[bytes]:
    import pyarrow.csv as pacsv

    first = True
    for batch in batches:
        out = io.BytesIO()
        pacsv.write_csv(batch, out, pacsv.WriteOptions(include_header=first))
        first = False
        yield out.getvalue()


@router.get(
    "/datasets/{name}/versions/{version}/export",
    summary="Export one version of a dataset (Parquet or CSV, streamed)",
    description="The rows of that version, with the columns the grant allows, masked as it says.",
    responses={200: {"content": {"application/vnd.apache.parquet": {}, "text/csv": {}}}},
)
def export(
    request: Request, who: CallerDep, name: DatasetName,
    version: Annotated[int, Path(ge=1, le=10_000_000)],
    format: Annotated[Literal["parquet", "csv"], Query()] = "parquet",
) -> StreamingResponse:
    from sharing.snapshots import read_manifest

    grant = _dataset_grant(who, name)
    state = state_of(request)
    try:
        manifest = read_manifest(state.data_dir, name, version)
    except FileNotFoundError as exc:
        raise HTTPException(404, f"dataset {name} has no version {version}") from exc
    # An export's rows are the whole version: the log names the version and the count, not each key.
    entry_of(request).row_keys[name] = [{"version": version, "rows": manifest.get("rows")}]
    batches = _masked_batches(state, name, version, grant)
    body, media = (_parquet(batches), "application/vnd.apache.parquet") if format == "parquet" else (
        _csv(batches), "text/csv")
    filename = f"{name}-v{version}.{format}"
    return StreamingResponse(body, media_type=media,
                             headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@router.get(
    "/audit",
    summary="The audit log (auditors only)",
    description="Entries in chain order, `limit` at a time after the cursor; optionally one client's.",
)
def audit(
    request: Request, who: CallerDep, limit: Limit = 100, cursor: Cursor = None,
    client: Annotated[str | None, Query(pattern=r"^[a-z][a-z0-9_]{1,49}$")] = None,
) -> dict[str, Any]:
    from sharing.api import audit as log

    if not who.client.auditor:
        raise HTTPException(403, f"client {who.client.name} is not an auditor")
    scope = f"audit|{client}"
    after = _page_cursor(scope, cursor, (int,))
    rows = log.read(state_of(request).url, after=after[0] if after else 0, limit=limit + 1, client=client)
    more = len(rows) > limit
    rows = rows[:limit]
    entry_of(request).row_keys["lt_audit_log"] = [r["seq"] for r in rows]
    return {"entries": rows, "next_cursor": cursors.encode(scope, [rows[-1]["seq"]]) if more else None}
