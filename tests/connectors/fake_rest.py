"""A small REST agency on loopback, per agencies/PROTOCOL.md (construction and tax), for connector tests
until the real simulators land. Records, clock, advance and faults are deterministic from a seed."""

from __future__ import annotations

import base64
import contextlib
import json
import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def z(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class World:
    agency: str  # construction | tax
    n: int
    seed: int = 1
    clock: datetime = T0
    records: dict[str, dict[str, Any]] = field(default_factory=dict)  # live + tombstones (tax)
    faults: dict[str, float] = field(default_factory=dict)
    rng: random.Random = field(default_factory=random.Random)
    token_ttl: float = 300.0
    tokens: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        gen = random.Random(self.seed + 1)
        self._counter = 0
        for _ in range(self.n):
            self._insert(gen, T0 - timedelta(days=gen.randint(1, 2500), seconds=gen.randint(0, 86399)))

    @property
    def key(self) -> str:
        return "permit_no" if self.agency == "construction" else "tax_code"

    def _insert(self, gen: random.Random, ts: datetime) -> None:
        self._counter += 1
        i = self._counter
        if self.agency == "construction":
            rec = {"permit_no": f"GPXD-2024-{i:06d}", "investor_id": f"{gen.randint(10**9, 10**10 - 1)}",
                   "investor_name": gen.choice(["Nguyễn Văn An", "Trần Thị Bình", "Le Van C"]),
                   "investor_type": "enterprise", "province_code": "01", "commune_code": "00004",
                   "map_sheet": gen.randint(1, 50), "parcel_number": gen.randint(1, 900), "floors": gen.randint(1, 9),
                   "floor_area_m2": round(gen.uniform(50, 900), 2), "building_grade": "III",
                   "issued_date": "12-03-2024" if i % 7 == 0 else "2024-03-12", "status": "granted",
                   "updated_at": z(ts)}
        else:
            rec = {"tax_code": f"{i:010d}", "name": "Công ty TNHH Minh Phát", "taxpayer_type": "enterprise",
                   "status_code": "00", "tax_office": "Chi cục Thuế 1", "province_code": "01", "district_code": "",
                   "commune_code": "00004", "registered_date": "2020-01-02", "updated_at": z(ts), "deleted": False}
        self.records[str(rec[self.key])] = rec

    def advance(self, minutes: int) -> None:
        gen = random.Random(f"{self.seed}:{self.clock.isoformat()}")
        old, self.clock = self.clock, self.clock + timedelta(minutes=minutes)
        span = int((self.clock - old).total_seconds())
        live = sorted(k for k, r in self.records.items() if not r.get("deleted"))
        for _ in range(max(10, self.n // 100)):
            # several changes share a second, to exercise cursor ties
            ts = old + timedelta(seconds=gen.randint(1, max(1, span // 60)) * 60)
            action = gen.random()
            if action < 0.4:
                self._insert(gen, ts)
            elif action < 0.8:
                k = gen.choice(live)
                self.records[k] = {**self.records[k], "floors" if self.agency == "construction" else "status_code":
                                   gen.randint(1, 9) if self.agency == "construction" else "04", "updated_at": z(ts)}
            else:
                k = gen.choice(live)
                live.remove(k)
                if self.agency == "construction":
                    del self.records[k]
                else:
                    self.records[k] = {"tax_code": k, "deleted": True, "updated_at": z(ts)}

    def feed(self, since: str) -> list[dict[str, Any]]:
        rows = [r for r in self.records.values() if r["updated_at"] >= since]
        return sorted(rows, key=lambda r: (r["updated_at"], r[self.key]))

    def truth(self) -> dict[str, dict[str, Any]]:
        return {k: r for k, r in self.records.items()}

    def fault(self) -> str | None:
        for name, rate in self.faults.items():
            if self.rng.random() < rate:
                return name
        return None


def _enc(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode()


def _dec(token: str) -> dict[str, Any]:
    return dict(json.loads(base64.urlsafe_b64decode(token.encode())))


def app_for(world: World) -> Starlette:
    def faulty(request: Request) -> Response | None:
        name = world.fault()
        if name in ("http_500", "http_503"):
            return JSONResponse({"error": "boom"}, status_code=int(name[-3:]))
        if name == "rate_limit":
            return JSONResponse({"error": "slow down"}, status_code=429, headers={"Retry-After": "1"})
        if name == "slow":
            time.sleep(2)
        return None

    def body(payload: dict[str, Any]) -> Response:
        name = world.faults and world.fault()
        data = json.dumps(payload, ensure_ascii=False).encode()
        if name == "truncated":
            data = data[: len(data) // 2]
        elif name == "malformed":
            data = data[:-1]
        return Response(data, media_type="application/json")

    def authorised(request: Request) -> bool:
        if world.agency == "construction":
            return request.headers.get("X-API-Key") == "construction-dev-key"
        auth = request.headers.get("Authorization", "")
        expiry = world.tokens.get(auth.removeprefix("Bearer "))
        return expiry is not None and expiry > time.monotonic()

    async def token(request: Request) -> Response:
        basic = request.headers.get("Authorization", "")
        form = await request.form()
        ok = basic == "Basic " + base64.b64encode(b"lienthong:tax-dev-secret").decode() or (
            form.get("client_id") == "lienthong" and form.get("client_secret") == "tax-dev-secret")
        if not ok:
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        tok = f"tok{len(world.tokens)}x{random.random()}"
        world.tokens[tok] = time.monotonic() + world.token_ttl
        return JSONResponse({"access_token": tok, "token_type": "Bearer", "expires_in": world.token_ttl})

    def listing(request: Request) -> Response:
        if (f := faulty(request)) is not None:
            return f
        if not authorised(request):
            return JSONResponse({"error": "unauthorised"}, status_code=401,
                                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        q = request.query_params
        if world.agency == "construction":
            rows = world.feed(q.get("updated_since", "1970"))
            offset, limit = int(q.get("offset", 0)), min(int(q.get("limit", 1000)), 5000)
            start = offset
            if world.faults.get("duplicate_page") and offset and world.rng.random() < world.faults["duplicate_page"]:
                start = max(0, offset - 3)
            return body({"total": len(rows), "offset": offset, "limit": limit,
                         "items": rows[start:offset + limit]})
        if "cursor" in q:
            cur = _dec(q["cursor"])
            since, after = cur["since"], tuple(cur["after"])
        else:
            since, after = q.get("changed_since", "1970"), ("", "")
        limit = int(q.get("limit", 1000))
        rows = [r for r in world.feed(since) if (r["updated_at"], r["tax_code"]) > after]
        page = rows[:limit]
        dup = world.faults.get("duplicate_page", 0.0)
        if dup and after != ("", "") and world.rng.random() < dup:
            page = [r for r in world.feed(since) if (r["updated_at"], r["tax_code"]) <= after][-3:] + page
        nxt = None
        if len(rows) > limit:
            last = page[-1]
            nxt = _enc({"since": since, "after": [last["updated_at"], last["tax_code"]]})
        if world.fault() == "stale_cursor" and "cursor" in q:
            nxt = q["cursor"]
        return body({"items": page, "next_cursor": nxt,
                     "next": f"/api/v1/taxpayers?cursor={nxt}&limit={limit}" if nxt else None})

    def keys(request: Request) -> Response:
        if (f := faulty(request)) is not None:
            return f
        if not authorised(request):
            return JSONResponse({"error": "unauthorised"}, status_code=401)
        offset, limit = int(request.query_params.get("offset", 0)), int(request.query_params.get("limit", 1000))
        live = sorted(world.records)
        return body({"total": len(live), "offset": offset, "limit": limit, "items": live[offset:offset + limit]})

    async def advance(request: Request) -> Response:
        world.advance(int(request.query_params["minutes"]))
        return JSONResponse({"clock": z(world.clock)})

    return Starlette(routes=[
        Route("/oauth/token", token, methods=["POST"]),
        Route("/api/v1/permits", listing), Route("/api/v1/permit-keys", keys),
        Route("/api/v1/taxpayers", listing),
        Route("/_admin/advance", advance, methods=["POST"]),
    ])


def serve(world: World, port: int) -> contextlib.AbstractContextManager[str]:
    """The fake agency on 127.0.0.1:`port`, in a thread (the one in-thread server of the tests)."""
    from tests.servers import in_thread

    return in_thread(app_for(world), port)
