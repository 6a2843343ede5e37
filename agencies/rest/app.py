"""The ASGI app of a REST simulator: its API routes and its OpenAPI document."""

from __future__ import annotations

import json

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from agencies.base import Simulator
from agencies.rest import construction, district, openapi, tax, treasury


def rest_routes(sim: Simulator) -> list[BaseRoute]:
    if sim.agency == "construction":
        api, document = construction.routes(sim), openapi.construction()
    elif sim.agency == "tax":
        api, document = tax.routes(sim), openapi.tax()
    elif sim.agency == "treasury":
        api, document = treasury.routes(sim), openapi.treasury()
    elif sim.agency == "district":
        api, document = district.routes(sim), openapi.district()
    else:
        raise ValueError(f"{sim.agency} does not speak REST; the REST simulators are construction, tax, "
                         "treasury and district")
    body = json.dumps(document, ensure_ascii=False).encode()

    async def openapi_json(request: Request) -> Response:
        return Response(body, media_type="application/json")

    return [Route("/openapi.json", openapi_json, methods=["GET"]), *api]


def build_rest_app(sim: Simulator) -> Starlette:
    return Starlette(routes=rest_routes(sim))
