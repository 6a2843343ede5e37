"""`GET /v1/parcels/{commune_code}/{map_sheet}/{parcel_number}/land-tax`: has this parcel's land-use tax
been paid? The parcel's row of `parcel_obligations` (due, paid to the State Treasury, outstanding, paid
late, fully paid) and its notices from `tax_obligations`, as far as the caller's grants reach; the
commune code may be the pre-2025 one or the 2025 one, as for `/v1/parcels/...`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from sqlalchemy.engine import Connection

from sharing.api import queries
from sharing.api.contract import SHAPES, lookup_schema
from sharing.api.problems import Problem
from sharing.api.responses import JSONResponse
from sharing.api.routes import _AS_OF, COMMUNE, CallerDep, _answer, _read
from sharing.api.state import state_of

router = APIRouter(prefix="/v1")
SETS = ("parcel_obligations", "tax_obligations")
PATH = "/parcels/{commune_code}/{map_sheet}/{parcel_number}/land-tax"
SHAPES["/v1" + PATH] = (lookup_schema(SETS, False), {
    "data": {
        "parcel_obligations": [{"commune_code_source": "11455", "map_sheet": 1, "parcel_number": 110,
                                "notices": 2, "due_vnd": 45442000, "paid_vnd": 22721000,
                                "outstanding_vnd": 22721000, "notices_paid_late": 0, "fully_paid": False}],
        "tax_obligations": [{"notice_no": "TB-2021-4333172", "tax_year": 2021, "due_date": "2021-05-30",
                             "due_vnd": 42440000, "paid_vnd": 21220000, "outstanding_vnd": 21220000,
                             "paid_late": False}]},
    "datasets": dict.fromkeys(SETS, _AS_OF),
    "has_more": False})


def _lookup(conn: Connection, present: queries.Published, commune: str, sheet: int, number: int,
            wanted: list[str]) -> dict[str, list[queries.Row]]:
    out: dict[str, list[queries.Row]] = {}
    for name in wanted:
        if name not in present.names:
            continue
        t, q = queries._select(name, present)
        q = q.where(t.c.map_sheet == sheet, t.c.parcel_number == number,
                    queries._commune(t, commune, present, legacy_column=False))
        key = [t.c[k] for k in queries.specs()[name].primary_key]
        out[name] = queries._rows(conn, q.order_by(*key).limit(200))
    return out


@router.get(
    PATH, operation_id="parcel_land_tax",
    summary="Has this parcel's land-use tax been paid?",
    description="The tax department's land-use tax notices on the parcel against the State Treasury's receipts: "
                "due, paid, outstanding and paid late, per parcel and per notice. 404 when no notice names it.",
)
def parcel_land_tax(
    request: Request, who: CallerDep,
    commune_code: Annotated[str, Path(pattern=COMMUNE, examples=["11455"])],
    map_sheet: Annotated[int, Path(ge=0, le=100_000, examples=[1])],
    parcel_number: Annotated[int, Path(ge=0, le=10_000_000, examples=[110])],
) -> JSONResponse:
    grants = who.grants(SETS)
    present, found = _read(state_of(request), lambda conn, present: _lookup(
        conn, present, commune_code, map_sheet, parcel_number, list(grants)), list(grants))
    if not any(found.values()):
        raise Problem("not-found", f"no land-use tax notice on parcel {commune_code}/{map_sheet}/{parcel_number}")
    return _answer(request, who, grants, found, present)
