"""The admin endpoints every simulator serves (PROTOCOL.md): clock, advance, faults. Loopback only."""

from __future__ import annotations

import ipaddress
import json
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp

from agencies.simulator import AgencySimulator

_MAX_BODY = 64 * 1024


def _reply(payload: Any, status: int = 200) -> Response:
    return Response(json.dumps(payload, ensure_ascii=False).encode(), status, media_type="application/json")


def _from_loopback(request: Request) -> bool:
    host = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def admin_routes(sim: AgencySimulator) -> list[BaseRoute]:
    def refuse(request: Request) -> Response | None:
        return None if _from_loopback(request) else _reply({"error": "admin endpoints answer loopback only"}, 403)

    async def clock(request: Request) -> Response:
        return refuse(request) or _reply({"agency": sim.agency, "clock": sim.store.meta()["clock"]})

    async def advance(request: Request) -> Response:
        refused = refuse(request)
        if refused:
            return refused
        text = request.query_params.get("minutes", "")
        try:
            minutes = int(text)
            if minutes < 1 or minutes > 525_600:
                raise ValueError
        except ValueError:
            return _reply({"error": f"minutes={text[:20]!r}: expected an integer from 1 to 525600"}, 400)
        return _reply(sim.advance(minutes))

    async def faults(request: Request) -> Response:
        refused = refuse(request)
        if refused:
            return refused
        if request.method == "POST":
            body = await request.body()
            if len(body) > _MAX_BODY:
                return _reply({"error": "body too large"}, 413)
            try:
                rates = json.loads(body or b"{}")
                if not isinstance(rates, dict):
                    raise ValueError("expected a JSON object {name: rate}")
                sim.faults.set_rates({str(k): float(v) for k, v in rates.items()})
            except (ValueError, TypeError) as exc:
                return _reply({"error": f"faults: {exc}"}, 400)
        return _reply({"rates": dict(sim.faults.rates), "slow_seconds": sim.faults.slow_seconds})

    return [
        Route("/_admin/clock", clock, methods=["GET"]),
        Route("/_admin/advance", advance, methods=["POST"]),
        Route("/_admin/faults", faults, methods=["GET", "POST"]),
    ]


def build_app(sim: AgencySimulator) -> ASGIApp:
    """The simulator's whole app: its protocol front end with the admin endpoints beside it."""
    if sim.protocol == "rest":
        from agencies.rest.app import rest_routes

        return Starlette(routes=[*admin_routes(sim), *rest_routes(sim)])
    from agencies import soap

    return Starlette(routes=[*admin_routes(sim), Mount("/", app=soap.build_app(sim))])
