"""A stream of a source file (`streams.NAME:`): where its records are, their fields, key, cursor and deletes."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, WithJsonSchema
from pydantic.dataclasses import dataclass
from pydantic.json_schema import SkipJsonSchema

from connectors.declarations.pagination import NoPagination, Pagination
from core.declarations import FORBID, Bool, Float, Invalid, Str

SIMPLE_TYPES = ("string", "int64", "float64", "bool", "timestamp")
_DECIMAL = re.compile(r"^decimal128\((\d+),\s*(\d+)\)$")


def _field_type(value: Any) -> Any:
    inner = value[5:-1] if isinstance(value, str) and value.startswith("list<") and value.endswith(">") else value
    if not isinstance(inner, str) or not (inner in SIMPLE_TYPES or _DECIMAL.match(inner)):
        raise ValueError(f"unknown type {value!r}; expected one of {', '.join(SIMPLE_TYPES)}, decimal128(P,S), "
                         "or list<one of those> (repeated values, e.g. a SOAP element with maxOccurs > 1)")
    return value


# "string", "int64", "float64", "bool", "timestamp", "decimal128(P,S)", or "list<...>" of one of those
FieldType = Annotated[str, BeforeValidator(_field_type), WithJsonSchema(
    {"type": "string", "pattern": r"^(list<)?(string|int64|float64|bool|timestamp|decimal128\(\d+,\s*\d+\))>?$"})]


def _key_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


Key = Annotated[tuple[Str, ...], BeforeValidator(_key_list), WithJsonSchema(
    {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "minItems": 1}]})]


def _as_text(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): str(v) for k, v in value.items()}
    return value


Params = Annotated[Mapping[str, str], BeforeValidator(_as_text), WithJsonSchema(
    {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}})]


@dataclass(frozen=True, slots=True, kw_only=True, config=FORBID)
class Incremental:
    cursor_field: Str
    param: Str  # the request parameter (REST) or operation argument (SOAP) carrying `since`
    initial_value: Str = "1970-01-01T00:00:00Z"
    lookback_minutes: Float = 0.0
    on_cursor_value_missing: Literal["raise", "include"] = "raise"
    # how `since` is written in the request: ISO 8601 UTC (`2025-06-01T00:00:00Z`), or zone-less in the
    # source's `timezone` (`2025-06-01 07:00:00`) for systems that know no zones
    format: Literal["iso", "local"] = "iso"


DeleteMode = Literal["none", "tombstone", "reconcile"]


@dataclass(frozen=True, slots=True, kw_only=True, config=FORBID)
class Deletes:
    mode: DeleteMode = "none"
    field: Str | None = None  # tombstone: the boolean field that marks one
    # reconcile: where the live keys are listed
    path: Str | None = None  # REST
    operation: Str | None = None  # SOAP
    records: Str | None = None
    pagination: Pagination = Field(default_factory=NoPagination)
    every_minutes: Float = 0.0  # 0: every sync


@dataclass(frozen=True, slots=True, kw_only=True, config=FORBID)
class StreamConfig:
    name: SkipJsonSchema[str] = ""  # the key under `streams:`
    # REST: where the list is: a body field, a dotted path (`data.items`), or `$` for a bare top-level
    # list; SOAP: the response element's repeated child. Field names may be dotted paths into nested
    # objects (`thua_dat.ma_xa`), each read as one flat field.
    records: Str
    fields: Mapping[str, FieldType]
    primary_key: Key
    path: Str | None = None  # REST
    operation: Str | None = None  # SOAP
    params: Params = Field(default_factory=dict)
    pagination: Pagination = Field(default_factory=NoPagination)
    incremental: Incremental | None = None
    deletes: Deletes = Field(default_factory=Deletes)
    bulk: Bool = False  # SOAP: parse with the lxml bulk path instead of zeep objects

    def __post_init__(self) -> None:
        if not self.fields:
            raise Invalid("fields", "declare at least one field")
        for k in self.primary_key:
            if k not in self.fields:
                raise Invalid("primary_key", f"{k!r} is not a declared field")
        if self.incremental is not None and self.incremental.cursor_field not in self.fields:
            raise Invalid(("incremental", "cursor_field"), f"{self.incremental.cursor_field!r} is not a declared field")
        if self.deletes.mode == "tombstone" and self.deletes.field not in self.fields:
            raise Invalid(("deletes", "field"), "mode tombstone needs field, a declared boolean field")

    def check_protocol(self, protocol: str) -> None:
        """The keys a protocol needs: REST streams name a path, SOAP streams an operation."""
        where = "path" if protocol == "rest" else "operation"
        if getattr(self, where) is None:
            raise Invalid(("streams", self.name, where), "required key is missing")
        listed = self.deletes.path if protocol == "rest" else self.deletes.operation
        if self.deletes.mode == "reconcile" and not (self.deletes.records and listed):
            raise Invalid(("streams", self.name, "deletes"), f"mode reconcile needs records and {where}")
