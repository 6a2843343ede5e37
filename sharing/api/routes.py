"""The endpoints. Each names the datasets it reads; a client sees the ones its grants cover for the
purpose it states, each row masked by that grant, and the keys of what it saw go to the audit log."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import StreamingResponse

from core.dbfaults import read_retrying
from sharing.api import cursor as cursors
from sharing.api import labels, masking, queries, subjects
from sharing.api.auth import KEY_HEADER, PURPOSE_HEADER
from sharing.api.contract import SHAPES, lookup_schema
from sharing.api.policy import PURPOSE_PATTERN, Client, Grant, Policy, pii_class
from sharing.api.problems import Problem
from sharing.api.responses import JSONResponse
from sharing.api.state import ApiState, client_of, entry_of, state_of
from sharing.history import POINT_PATTERN

router = APIRouter(prefix="/v1")

DATASET_NAME = r"^[a-z][a-z0-9_]{1,59}$"
COMMUNE = r"^\d{5}$"
# 10 digits, or 13 (a branch), with an optional separator between any two: the check digit is checked after
TAX_CODE = r"^(?:[0-9][ .\-]?){9}[0-9](?:[ .\-]?[0-9]{3})?$"
PARTY_ID = r"^[0-9A-Za-z .\-]{9,24}$"
MAX_PAGE = 200
# What enterprise names are made of; quotes, wildcards and the like are refused, not searched for.
# Latin letters with Vietnamese diacritics (precomposed, or combining marks after a letter), digits; the
# same pattern is declared in the contract, so what the document allows the server accepts.
_LETTER = "0-9A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u1e00-\u1eff"
NAME_PATTERN = f"^[{_LETTER}][{_LETTER}\u0300-\u036f .,&()/-]*$"
NAME_TEXT = re.compile(NAME_PATTERN)
MAX_WORDS = 10


@dataclass(frozen=True, slots=True)
class Caller:
    client: Client
    purpose: str
    policy: Policy | None = None
    asked: str = ""

    def refusal(self, why_vi: str, why_en: str) -> dict[str, Any]:
        """The written refusal's members: what was asked, why not, and the legal basis."""
        if self.policy is None:
            return {}
        return self.policy.refusal(self.asked, self.purpose, why_vi, why_en)

    def grants(self, datasets: Sequence[str]) -> dict[str, Grant]:
        """The grants covering `datasets` for the stated purpose; 403 when there is none."""
        found: dict[str, Grant] = {}
        other_purposes: set[str] = set()
        for name in datasets:
            grant = self.client.grant(name)
            if grant is None:
                continue
            if self.purpose in grant.purposes:
                found[name] = grant
            else:
                other_purposes |= grant.purposes
        if found:
            return found
        names, others = ", ".join(datasets), ", ".join(sorted(other_purposes))
        if other_purposes:
            why_en = f"client {self.client.name} may read {names} for {others}, not for {self.purpose}"
            raise Problem("purpose-not-allowed", why_en, allowed_purposes=sorted(other_purposes), **self.refusal(
                f"Đơn vị {self.client.name} chỉ được khai thác {names} cho mục đích {others}, "
                f"không cho mục đích {self.purpose}", why_en))
        why_en = f"client {self.client.name} has no grant on {names}"
        raise Problem("not-permitted", why_en, **self.refusal(
            f"Đơn vị {self.client.name} không được cấp quyền khai thác {names}", why_en))


def _known(request: Request) -> Client:
    entry = entry_of(request)
    route = request.scope.get("route")
    if route is not None:
        entry.endpoint = route.path
    params = {**request.path_params, **{k: v[:200] for k, v in request.query_params.items() if k != "cursor"}}
    entry.params = subjects.scrub(params)  # a person's identifier is kept as its keyed hash, never in clear
    if route is not None:  # a misspelt parameter is an error, not silently ignored
        takes = {p.alias for p in route.dependant.query_params} | {
            p.alias for d in route.dependant.dependencies for p in d.query_params}
        unknown = sorted(set(request.query_params) - takes)
        if unknown:
            shown = ", ".join(repr(u[:40]) for u in unknown[:5])
            raise Problem("invalid-input", f"unknown query parameter {shown}; this operation takes "
                                           f"{', '.join(sorted(takes)) or 'none'}",
                          errors=[{"field": f"query.{u[:40]}", "rule": "not a parameter of this operation"}
                                  for u in unknown[:5]])
    client = client_of(request)
    if client is None:
        raise Problem("unauthenticated", f"missing or unknown {KEY_HEADER}", headers={"WWW-Authenticate": "ApiKey"})
    return client


async def caller(request: Request) -> Caller:
    """Who is asking (the gateway identified the key) and why: 401, 400 without a purpose, 403 for a
    purpose the client is not granted at all."""
    client = _known(request)
    purpose = request.headers.get(PURPOSE_HEADER)
    if purpose is None or not PURPOSE_PATTERN.match(purpose):
        raise Problem("purpose-required", f"header {PURPOSE_HEADER} is required: a purpose like tax_assessment",
                      allowed_purposes=client.purposes)
    entry_of(request).purpose = purpose
    who = Caller(client, purpose, state_of(request).policy, f"{request.method} {entry_of(request).endpoint}"[:200])
    if not client.grants and not client.auditor:
        why_en = f"client {client.name} has no grant on any dataset"
        raise Problem("not-permitted", why_en, **who.refusal(
            f"Đơn vị {client.name} không được cấp quyền khai thác dữ liệu nào", why_en))
    if purpose not in client.purposes and not client.auditor:
        why_en = f"client {client.name} is not granted purpose {purpose}"
        raise Problem("purpose-not-allowed", why_en, allowed_purposes=client.purposes, **who.refusal(
            f"Đơn vị {client.name} không được cấp mục đích {purpose}", why_en))
    return who


CallerDep = Annotated[Caller, Depends(caller)]


def _answer(request: Request, who: Caller, grants: dict[str, Grant], found: dict[str, list[queries.Row]],
            present: queries.Published, next_cursor: str | None = None, paged: bool = False) -> JSONResponse:
    """Rows as each grant shows them, with the version each dataset was read at; the keys of every row
    returned go to the audit log."""
    entry = entry_of(request)
    data, read = {}, {}
    for name, grant in grants.items():
        rows = found.get(name, [])
        # the version the rows were read at; for no rows, the current one as last seen (at most seconds old)
        read[name] = queries.version_of(rows) or present.versions.get(name) or queries.VersionRead(None, None)
        entry.row_keys[name] = [queries.key_of(name, r) for r in rows]
        entry.subjects |= subjects.of_rows(rows)
        data[name] = [labels.add_labels(name, masking.apply(name, grant, r, who.client)) for r in rows]
    body: dict[str, Any] = {
        "data": data,
        "datasets": {name: version.json() for name, version in read.items()},
        "has_more": next_cursor is not None,
    }
    if paged:
        body["next_cursor"] = next_cursor
    return JSONResponse(body)


def _tax_code(raw: str) -> tuple[str, str | None]:
    from stdnum.exceptions import ValidationError
    from stdnum.vn import mst

    try:
        code = mst.validate(raw)
    except ValidationError as exc:  # well formed, but no tax code: no enterprise can have it
        raise Problem("not-found", f"no enterprise with tax code {re.sub(r'[^0-9]', '', raw)}: {exc}") from exc
    return code[:10], code if len(code) == 13 else None


def _page_cursor(scope: str, value: str | None, shape: Sequence[type]) -> list[Any] | None:
    if value is None:
        return None
    # Well formed (the pattern) but not signed for this query: a page that does not exist, hence 404.
    try:
        position = cursors.decode(scope, value)
    except cursors.BadCursor as exc:
        raise Problem("unknown-cursor", f"cursor: {exc}") from exc
    if len(position) != len(shape) or not all(isinstance(p, t) for p, t in zip(position, shape, strict=True)):
        raise Problem("unknown-cursor", "cursor: not a position of this query")
    return position


ENTERPRISE_SETS = ("enterprises", "enterprise_profile", "branches", "taxpayers")
_AS_OF = {"version": 3, "as_of": "2026-11-30T02:00:00.123456Z"}
_ENTERPRISE_EXAMPLE = {"data": {
    "enterprises": [{"enterprise_code": "0100109106", "name": "Công ty TNHH Hòa Bình", "status": "active",
                     "charter_capital_vnd": 5000000000, "updated_at": "2026-11-29T08:15:00Z",
                     "legal_rep_name": "N*** V*** A***", "legal_rep_id": "*********345"}],
    "enterprise_profile": [{"enterprise_code": "0100109106", "branches": 2, "parcels_held": 1,
                            "parcel_area_m2": 152.4, "permits_granted": 3, "tax_status_code": "06",
                            "tax_status_code_label": {"vi": "Không hoạt động tại địa chỉ đã đăng ký",
                                                      "en": "Not operating at the registered address"}}],
    "branches": [], "taxpayers": []},
    "datasets": dict.fromkeys(ENTERPRISE_SETS, _AS_OF), "has_more": False}
SHAPES["/v1/enterprises/{tax_code}"] = (lookup_schema(ENTERPRISE_SETS, False), _ENTERPRISE_EXAMPLE)


AsOf = Annotated[str | None, Query(
    max_length=40, pattern=POINT_PATTERN, examples=["2026-07-01T00:00:00+07:00", "3"],
    description="Answer as the data stood then: an ISO-8601 time (a zone-less time is UTC), or a version of the "
                "lookup's first dataset (the others as of that version's publication). The answer names the "
                "version of each dataset it read.")]


def _read(state: ApiState, lookup: Any, names: Sequence[str] = (),
          as_of: str | None = None) -> tuple[queries.Published, Any]:
    """What is published, then the rows. With `as_of`, the versions of `names` at that point, and the rows
    as they were then."""
    from sharing import history

    present = state.published()  # before taking a connection: it may need one of its own

    def run(conn: Any) -> tuple[queries.Published, Any]:
        now = present
        # Autocommit: under READ COMMITTED each statement reads its own snapshot either way (the version read
        # by the same statement as the rows); a transaction only added a BEGIN and a ROLLBACK round trip.
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        if as_of is not None:
            try:
                point = history.parse_point(as_of)
                read = queries.versions_as_of(conn, names, point) if point is not None else {}
            except ValueError as exc:  # the declared pattern holds, yet the calendar has no such day
                raise Problem("no-such-resource", f"as_of: {exc}") from exc
            except history.VersionPruned as exc:
                raise Problem("version-pruned", f"as_of: {exc}") from exc
            except history.NoSuchVersion as exc:
                raise Problem("no-such-resource", f"as_of: {exc}") from exc
            if not read:
                raise Problem("no-such-resource", f"as_of: none of {', '.join(names)} had a version yet at {as_of}")
            now = now.as_of(read, names)
        return now, lookup(conn, now)

    return read_retrying(state.engine, run)  # a dead pooled connection (a restart) is not a failed lookup


@router.get(
    "/enterprises/{tax_code}", operation_id="enterprise",
    summary="Enterprise profile by tax code",
    description="A 10-digit tax code (or a 13-digit branch code), written with or without separators. "
                "Returns the enterprise, its cross-agency profile, its branches and its tax record, as far "
                "as the caller's grants reach. 404 when none of them holds the code.",
)
def enterprise(
    request: Request, who: CallerDep,
    tax_code: Annotated[str, Path(pattern=TAX_CODE, examples=["0100109106", "0100-109-106", "0100109106-001"])],
    as_of: AsOf = None,
) -> JSONResponse:
    grants = who.grants(ENTERPRISE_SETS)
    code10, code13 = _tax_code(tax_code)
    present, found = _read(state_of(request),
                           lambda conn, present: queries.enterprise(conn, present, code10, code13, list(grants)),
                           list(grants), as_of)
    if not any(found.values()):
        raise Problem("not-found", f"no enterprise with tax code {code13 or code10}")
    return _answer(request, who, grants, found, present)


PARCEL_SETS = ("parcels", "parcel_profile", "land_certificates")
SHAPES["/v1/parcels/{commune_code}/{map_sheet}/{parcel_number}"] = (lookup_schema(PARCEL_SETS, False), {
    "data": {
        "parcels": [{"commune_code_source": "00004", "map_sheet": 12, "parcel_number": 345,
                     "commune_code": "00004", "area_m2": 152.4, "holder_name": "T*** T*** B***"}],
        "parcel_profile": [{"commune_code_source": "00004", "map_sheet": 12, "parcel_number": 345,
                            "holder_name": "T*** T*** B***", "certificates": 1, "permits": 1, "tax_notices": 2}],
        "land_certificates": []},
    "datasets": dict.fromkeys(PARCEL_SETS, _AS_OF), "has_more": False})


@router.get(
    "/parcels/{commune_code}/{map_sheet}/{parcel_number}", operation_id="parcel",
    summary="Parcel profile by commune, map sheet and parcel number",
    description="The commune code may be the pre-2025 one or the current (2025) one: a parcel filed under an "
                "old commune is found by the code of the commune it went to, and the other way round.",
)
def parcel(
    request: Request, who: CallerDep,
    commune_code: Annotated[str, Path(pattern=COMMUNE, examples=["00004"])],
    map_sheet: Annotated[int, Path(ge=0, le=100_000, examples=[12])],
    parcel_number: Annotated[int, Path(ge=0, le=10_000_000, examples=[345])],
    as_of: AsOf = None,
) -> JSONResponse:
    grants = who.grants(PARCEL_SETS)
    present, found = _read(state_of(request), lambda conn, present: queries.parcel(
        conn, present, commune_code, map_sheet, parcel_number, list(grants)), list(grants), as_of)
    if not found.get("parcels"):
        raise Problem("not-found", f"no parcel {commune_code}/{map_sheet}/{parcel_number}")
    return _answer(request, who, grants, found, present)


Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description="Rows per page")]
Cursor = Annotated[str | None, Query(max_length=cursors.MAX_CURSOR_LENGTH, pattern=r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$",
                                     description="`next_cursor` of the previous page, as given")]
SHAPES["/v1/permits"] = (lookup_schema(("permits",), True), {
    "data": {"permits": [
        {"permit_no": "GPXD-2024-000123", "investor_id": "*******106", "investor_name": "C*** T*** H***",
         "map_sheet": 12, "parcel_number": 345, "floors": 5, "floor_area_m2": 410.5, "status": "issued",
         "issued_date": "2024-03-05"}]},
    "datasets": {"permits": _AS_OF}, "has_more": True, "next_cursor": "WyJHUFhELTIwMjQtMDAwMTIzIl0.3q2-7w"})


SHAPES["/v1/parcels/{commune_code}/{map_sheet}/{parcel_number}/permits"] = SHAPES["/v1/permits"]


@router.get(
    "/permits", operation_id="permits",
    summary="Permits of an investor",
    description="`investor_id` is a tax code or citizen ID. Pages of `limit` permits by permit number; "
                "`has_more` says whether another follows, fetched with `cursor=next_cursor`. No permit: an "
                "empty page, not 404.",
)
def permits(
    request: Request, who: CallerDep,
    investor_id: Annotated[str, Query(pattern=PARTY_ID, examples=["0100109106"])],
    limit: Limit = 50, cursor: Cursor = None, as_of: AsOf = None,
) -> JSONResponse:
    return _permits(request, who, re.sub(r"[\s.\-]", "", investor_id), None, limit, cursor, as_of)


@router.get(
    "/parcels/{commune_code}/{map_sheet}/{parcel_number}/permits", operation_id="parcel_permits",
    summary="Permits on a parcel",
    description="The parcel as in the parcel lookup (pre-2025 or current commune code). Pages as `/v1/permits`.",
)
def parcel_permits(
    request: Request, who: CallerDep,
    commune_code: Annotated[str, Path(pattern=COMMUNE, examples=["00004"])],
    map_sheet: Annotated[int, Path(ge=0, le=100_000, examples=[12])],
    parcel_number: Annotated[int, Path(ge=0, le=10_000_000, examples=[345])],
    limit: Limit = 50, cursor: Cursor = None, as_of: AsOf = None,
) -> JSONResponse:
    return _permits(request, who, None, (commune_code, map_sheet, parcel_number), limit, cursor, as_of)


def _permits(request: Request, who: Caller, investor: str | None, parcel_at: tuple[str, int, int] | None,
             limit: int, cursor: str | None, as_of: str | None) -> JSONResponse:
    grants = who.grants(("permits",))
    scope = f"permits|{investor}|{parcel_at}|{as_of}"
    order = queries.permit_order()
    after = _page_cursor(scope, cursor, (str,) * len(order))
    present, rows = _read(state_of(request), lambda conn, present: queries.permits(
        conn, present, investor_id=investor, parcel_at=parcel_at, after=after, limit=limit + 1),
        ["permits"], as_of)
    more = len(rows) > limit
    rows = rows[:limit]
    nxt = cursors.encode(scope, [rows[-1][k] for k in order]) if more else None
    return _answer(request, who, grants, {"permits": rows}, present, nxt, paged=True)


SHAPES["/v1/enterprises"] = (lookup_schema(("enterprises",), True), {
    "data": {"enterprises": [{"enterprise_code": "0100109106", "name": "Công ty TNHH Hòa Bình",
                              "name_search": "cong ty tnhh hoa binh"}]},
    "datasets": {"enterprises": _AS_OF}, "has_more": False, "next_cursor": None})


@router.get(
    "/enterprises", operation_id="search_enterprises",
    summary="Search enterprises by name",
    description="Case and diacritics do not matter (`cong ty hoa binh` finds `Công ty Hòa Bình`). Every word "
                "must appear (the first ten words count); the whole name first, then names starting with "
                "the query, then the rest.",
)
def search(
    request: Request, who: CallerDep,
    name: Annotated[str, Query(min_length=2, max_length=100, pattern=NAME_PATTERN, examples=["hoa binh"])],
    limit: Limit = 20, cursor: Cursor = None, as_of: AsOf = None,
) -> JSONResponse:
    from schemas.normalize.text import search_key_scalar

    grants = who.grants(("enterprises",))
    if not NAME_TEXT.match(name):  # the declared pattern; FastAPI checked it already
        raise Problem("invalid-input", "name: letters, digits, spaces and . , & ( ) - / only",
                      errors=[{"field": "query.name", "rule": "letters, digits, spaces and . , & ( ) - /"}])
    key = " ".join(search_key_scalar(name).split()[:MAX_WORDS])  # the first ten words are plenty
    if not key:
        key = name.strip().lower()
    scope = f"search|{key}|{as_of}"
    after = _page_cursor(scope, cursor, (int, str))
    present, rows = _read(state_of(request), lambda conn, present: queries.search_enterprises(
        conn, present, key, after=(after[0], after[1]) if after else None, limit=limit + 1), ["enterprises"], as_of)
    more = len(rows) > limit
    rows = rows[:limit]
    nxt = cursors.encode(scope, [rows[-1]["rank"], rows[-1]["enterprise_code"]]) if more else None
    for r in rows:
        del r["rank"]
    return _answer(request, who, grants, {"enterprises": rows}, present, nxt, paged=True)


_CATALOG_ENTRY = {
    "type": "object", "additionalProperties": False,
    "required": ["name", "owner_agency", "version", "rows", "published_at", "contract_version", "quality_score",
                 "primary_key", "description", "freshness_seconds"],
    "properties": {
        "name": {"type": "string"}, "owner_agency": {"type": "string", "nullable": True},
        "version": {"type": "integer"}, "rows": {"type": "integer", "nullable": True},
        "published_at": {"type": "string", "format": "date-time", "nullable": True},
        "contract_version": {"type": "string", "nullable": True},
        "quality_score": {"type": "number", "nullable": True},
        "primary_key": {"type": "array", "items": {"type": "string"}},
        "description": {"type": "string", "nullable": True},
        "freshness_seconds": {"type": "number", "nullable": True}}}
SHAPES["/v1/datasets"] = ({"type": "object", "required": ["datasets"], "additionalProperties": False,
                           "properties": {"datasets": {"type": "array", "items": _CATALOG_ENTRY}}},
                          {"datasets": [{"name": "enterprises", "owner_agency": "business_registry", "version": 3,
                                         "rows": 20000, "published_at": "2026-11-30T02:00:00.123456Z",
                                         "contract_version": "1", "quality_score": 0.998,
                                         "primary_key": ["enterprise_code"],
                                         "description": "Enterprises registered in the province",
                                         "freshness_seconds": 3600.5}]})


@router.get("/datasets", operation_id="catalog", summary="The dataset catalog",
            description="The published datasets this client may read for the stated purpose.")
def catalog(request: Request, who: CallerDep) -> JSONResponse:
    from sharing.catalog import list_datasets

    state = state_of(request)
    entries = [e for e in list_datasets(state.url) if who.client.grant(e.name)
               and who.purpose in who.client.grants[e.name].purposes]
    entry_of(request).row_keys["lt_datasets"] = [e.name for e in entries]
    return JSONResponse({"datasets": [{
        "name": e.name, "owner_agency": e.owner_agency, "version": e.version, "rows": e.rows,
        "published_at": e.published_at, "contract_version": e.contract_version,
        "quality_score": e.quality_score, "primary_key": e.primary_key.split(","), "description": e.description,
        "freshness_seconds": e.freshness_seconds(),
    } for e in entries]})


DatasetName = Annotated[str, Path(pattern=DATASET_NAME, examples=["enterprises"])]


def _dataset_grant(who: Caller, name: str) -> Grant:
    if name not in queries.specs():
        raise Problem("no-such-resource", f"no dataset {name}")
    return who.grants((name,))[name]


_VERSION = {"type": "object", "additionalProperties": False, "properties": {
    "version": {"type": "integer"}, "published_at": {"type": "string", "format": "date-time"},
    **{k: {"type": "integer", "nullable": True} for k in ("rows", "inserted", "updated", "deleted", "unchanged")},
    "content_hash": {"type": "string"}, "contract_version": {"type": "string", "nullable": True}}}
SHAPES["/v1/datasets/{name}/versions"] = (
    {"type": "object", "required": ["dataset", "versions"], "additionalProperties": False,
     "properties": {"dataset": {"type": "string"}, "versions": {"type": "array", "items": _VERSION}}},
    {"dataset": "permits", "versions": [{"version": 1, "published_at": "2026-11-30T02:00:00.123456Z", "rows": 300,
                                         "inserted": 300, "updated": 0, "deleted": 0, "unchanged": 0,
                                         "content_hash": "9f2c...", "contract_version": "1"}]})


@router.get("/datasets/{name}/versions", operation_id="versions", summary="The versions of one dataset")
def versions(request: Request, who: CallerDep, name: DatasetName) -> JSONResponse:
    from sharing.catalog import list_versions

    _dataset_grant(who, name)
    found = list_versions(state_of(request).url, name)
    entry_of(request).row_keys["lt_dataset_versions"] = [v["version"] for v in found]
    keep = ("version", "published_at", "rows", "inserted", "updated", "deleted", "unchanged", "content_hash",
            "contract_version")
    return JSONResponse({"dataset": name, "versions": [{k: v[k] for k in keep} for v in found]})


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


def _masked_batches(state: ApiState, name: str, version: int, grant: Grant, client: Client) -> Iterator[Any]:
    import pyarrow as pa

    from sharing.snapshots import read_version

    table = read_version(state.data_dir, name, version)
    shown = masking.visible_columns(name, grant, table.column_names, client)
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
    "/datasets/{name}/versions/{version}/export", operation_id="export",
    summary="Export one version of a dataset (Parquet or CSV, streamed)",
    description="The rows of that version, with the columns the grant allows, masked as it says.",
    responses={200: {"content": {"application/vnd.apache.parquet": {"schema": {"type": "string", "format": "binary"}},
                                 "text/csv": {"schema": {"type": "string"}}}}},
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
        raise Problem("no-such-resource", f"dataset {name} has no version {version}") from exc
    # An export's rows are the whole version: the log names the version and the count, not each key.
    entry_of(request).row_keys[name] = [{"version": version, "rows": manifest.get("rows")}]
    batches = _masked_batches(state, name, version, grant, who.client)
    body, media = (_parquet(batches), "application/vnd.apache.parquet") if format == "parquet" else (
        _csv(batches), "text/csv")
    filename = f"{name}-v{version}.{format}"
    return StreamingResponse(body, media_type=media,
                             headers={"Content-Disposition": f'attachment; filename="{filename}"'})


SHAPES["/v1/audit"] = (
    {"type": "object", "required": ["entries", "has_more", "next_cursor"], "additionalProperties": False,
     "properties": {"entries": {"type": "array", "items": {"type": "object"}}, "has_more": {"type": "boolean"},
                    "next_cursor": {"type": "string", "nullable": True}}},
    {"entries": [{"seq": 1, "at": "2026-11-30T02:00:00.123456+00:00", "client": "tax_office",
                  "purpose": "tax_assessment", "method": "GET", "endpoint": "/v1/enterprises/{tax_code}",
                  "params": "{\"tax_code\":\"0100109106\"}", "outcome": "allowed", "status": 200, "detail": "",
                  "row_keys": "{\"enterprises\":[\"0100109106\"]}", "prev_hash": "0" * 64,
                  "hash": "5d41402abc4b2a76b9719d911017c592", "context": "{\"request_id\":\"3f2b8c1e\"}"}],
     "has_more": False, "next_cursor": None})


@router.get(
    "/audit", operation_id="audit",
    summary="The audit log (auditors only)",
    description="Entries in chain order, `limit` at a time after the cursor; optionally one client's.",
)
def audit(
    request: Request, who: CallerDep, limit: Limit = 100, cursor: Cursor = None,
    client: Annotated[str | None, Query(pattern=r"^[a-z][a-z0-9_]{1,49}$")] = None,
) -> JSONResponse:
    from sharing.api import audit as log

    if not who.client.auditor:
        raise Problem("not-permitted", f"client {who.client.name} is not an auditor")
    scope = f"audit|{client}"
    after = _page_cursor(scope, cursor, (int,))
    rows = log.read(state_of(request).url, after=after[0] if after else 0, limit=limit + 1, client=client)
    more = len(rows) > limit
    rows = rows[:limit]
    entry_of(request).row_keys["lt_audit_log"] = [r["seq"] for r in rows]
    return JSONResponse({"entries": rows, "has_more": more,
                         "next_cursor": cursors.encode(scope, [rows[-1]["seq"]]) if more else None})


_ME = {"type": "object", "additionalProperties": False,
       "required": ["client", "agency", "auditor", "purposes", "rate_limit", "datasets"],
       "properties": {
           "client": {"type": "string"}, "agency": {"type": "string"}, "auditor": {"type": "boolean"},
           "purposes": {"type": "array", "items": {"type": "string"}},
           "rate_limit": {"type": "object", "required": ["per_second", "burst"], "additionalProperties": False,
                          "properties": {"per_second": {"type": "number"}, "burst": {"type": "integer"}}},
           "datasets": {"type": "array", "items": {
               "type": "object", "additionalProperties": False, "required": ["name", "purposes", "columns"],
               "properties": {
                   "name": {"type": "string"}, "purposes": {"type": "array", "items": {"type": "string"}},
                   "columns": {"type": "array", "items": {
                       "type": "object", "additionalProperties": False, "required": ["name", "pii", "masked"],
                       "properties": {"name": {"type": "string"},
                                      "pii": {"type": "string", "enum": ["public", "personal", "sensitive"]},
                                      "masked": {"type": "boolean"}}}}}}}}}
SHAPES["/v1/me"] = (_ME, {
    "client": "tax_office", "agency": "tax", "auditor": False, "purposes": ["land_use_tax", "tax_assessment"],
    "rate_limit": {"per_second": 100, "burst": 200},
    "datasets": [{"name": "enterprises", "purposes": ["tax_assessment"], "columns": [
        {"name": "enterprise_code", "pii": "public", "masked": False},
        {"name": "legal_rep_id", "pii": "sensitive", "masked": True}]}]})


@router.get("/me", operation_id="me", summary="Who the caller is and what it may read",
            description="The calling client, its agency, the purposes it may state, its rate limit, and each "
                        "dataset it may read: for which purposes, which columns, which of them masked (as "
                        "X-Road's allowedMethods). Needs the API key only, no purpose.")
def me(request: Request) -> JSONResponse:
    client = _known(request)
    entry_of(request).row_keys["lt_policy"] = [client.name]
    known = queries.specs()
    datasets = []
    for name, grant in sorted(client.grants.items()):
        columns = queries.columns(name) if name in known else sorted(grant.columns or ())
        datasets.append({"name": name, "purposes": sorted(grant.purposes), "columns": [
            {"name": c, "pii": pii_class(name, c), "masked": masking.masked(name, c, grant, client)}
            for c in columns if grant.readable(c)]})
    return JSONResponse({"client": client.name, "agency": client.agency, "auditor": client.auditor,
                         "purposes": client.purposes,
                         "rate_limit": {"per_second": client.rate.per_second, "burst": client.rate.burst},
                         "datasets": datasets})
