"""The API's JSON rendering (orjson), shared by the app and its routes."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson
from fastapi.responses import Response


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):  # numbers are numbers: amounts and areas fit a double exactly enough
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"cannot render {type(value).__name__}")


class JSONResponse(Response):
    """orjson: dates and datetimes as ISO-8601 (naive datetimes are UTC), decimals as numbers."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, default=_default,
                            option=orjson.OPT_NAIVE_UTC | orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS)


def iso(value: datetime | None) -> str | None:
    """A timestamp with its zone (naive ones are UTC, as the pipeline writes them)."""
    if value is None:
        return None
    return orjson.dumps(value, option=orjson.OPT_NAIVE_UTC | orjson.OPT_UTC_Z).decode()[1:-1]
