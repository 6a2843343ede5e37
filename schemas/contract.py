"""Dataset contracts: declared as data (`schemas/contracts/*.yaml`), checked when loaded.

A contract names the published columns (Arrow type, nullability, PII class, descriptions in Vietnamese
and English), the primary key and cursor, the source stream and its wire fields, how each column is
made from those fields, the drift policy and the failure-rate threshold. A wrong file fails at load
with the path of the bad key: `parcels.yaml: columns[3].type: unknown type 'strin'`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal, cast, get_args

import pyarrow as pa
import yaml

from core.errors import ConfigError

CONTRACTS_DIR = Path(__file__).resolve().parent / "contracts"

PiiClass = Literal["public", "personal", "sensitive"]
DriftPolicy = Literal["evolve", "freeze", "quarantine"]
WireType = Literal["string", "int", "decimal", "float", "bool", "timestamp"]

_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "int32": pa.int32(),
    "int64": pa.int64(),
    "float64": pa.float64(),
    "bool": pa.bool_(),
    "date32": pa.date32(),
    "timestamp[us, UTC]": pa.timestamp("us", tz="UTC"),
}
_DECIMAL = re.compile(r"^decimal128\((\d+),\s*(\d+)\)$")


def parse_type(text: str) -> pa.DataType:
    """An Arrow type from its name in a contract: string, int64, date32, decimal128(14,2), ..."""
    if text in _TYPES:
        return _TYPES[text]
    match = _DECIMAL.match(text)
    if match:
        return pa.decimal128(int(match.group(1)), int(match.group(2)))
    raise ValueError(f"unknown type {text!r} (expected one of {', '.join(_TYPES)} or decimal128(p,s))")


def type_name(dtype: pa.DataType) -> str:
    for name, known in _TYPES.items():
        if dtype == known:
            return name
    if pa.types.is_decimal(dtype):
        return f"decimal128({dtype.precision},{dtype.scale})"
    return str(dtype)


@dataclass(frozen=True, slots=True)
class Text:
    vi: str
    en: str


@dataclass(frozen=True, slots=True)
class Step:
    """A transform computed once per batch whose named outputs several columns use (admin-unit recoding)."""

    name: str
    function: str
    inputs: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: pa.DataType
    nullable: bool
    pii: PiiClass
    description: Text
    source: tuple[str, ...]  # wire fields this column is made from (empty when from a step)
    transform: str  # a name in schemas.transforms.TRANSFORMS, or "step"
    step: str | None = None  # "step_name.output" when made by a step


@dataclass(frozen=True, slots=True)
class Contract:
    dataset: str
    version: int
    description: Text
    agency: str
    stream: str
    wire_fields: Mapping[str, WireType]  # the source stream's fields and their wire types
    primary_key: tuple[str, ...]
    cursor: str
    tombstone: str | None  # the column that marks a delete, where the source sends tombstones
    drift_policy: DriftPolicy
    failure_threshold: float  # the share of failing rows above which the run fails
    steps: tuple[Step, ...]
    columns: tuple[Column, ...]

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(f"{self.dataset}: no column {name!r}")

    def arrow_schema(self) -> pa.Schema:
        return pa.schema([pa.field(c.name, c.type, nullable=c.nullable) for c in self.columns])

    def key_wire_fields(self) -> tuple[str, ...]:
        """The wire fields the primary key is made from, in key order."""
        fields: list[str] = []
        for name in self.primary_key:
            col = self.column(name)
            sources = col.source or next(s.inputs for s in self.steps if col.step and col.step.startswith(s.name + "."))
            fields.append(sources[-1])
        return tuple(fields)


# --- loading, with the path of the bad key --------------------------------------------------------

class _Reader:
    """Walks a parsed YAML document and raises ConfigError naming `file: path.to[3].key`."""

    def __init__(self, origin: str) -> None:
        self.origin = origin

    def fail(self, path: str, message: str) -> ConfigError:
        return ConfigError(f"{self.origin}: {path}: {message}")

    def mapping(self, node: Any, path: str) -> Mapping[str, Any]:
        if not isinstance(node, Mapping):
            raise self.fail(path, f"expected a mapping, got {type(node).__name__}")
        return node

    def get(self, node: Mapping[str, Any], key: str, path: str, kind: type | tuple[type, ...],
            default: Any = ...) -> Any:
        where = f"{path}.{key}" if path else key
        if key not in node:
            if default is ...:
                raise self.fail(where, "required key is missing")
            return default
        value = node[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            raise self.fail(where, f"expected {names}, got {type(value).__name__} {value!r}")
        return value

    def choice(self, node: Mapping[str, Any], key: str, path: str, allowed: tuple[str, ...],
               default: Any = ...) -> str:
        value = self.get(node, key, path, str, default)
        if value not in allowed:
            raise self.fail(f"{path}.{key}" if path else key, f"{value!r} is not one of {', '.join(allowed)}")
        return cast(str, value)

    def unknown_keys(self, node: Mapping[str, Any], path: str, known: set[str]) -> None:
        extra = sorted(set(node) - known)
        if extra:
            raise self.fail(f"{path}.{extra[0]}" if path else extra[0],
                            f"unknown key (expected one of {', '.join(sorted(known))})")

    def text(self, node: Mapping[str, Any], key: str, path: str) -> Text:
        where = f"{path}.{key}" if path else key
        value = self.mapping(self.get(node, key, path, dict), where)
        self.unknown_keys(value, where, {"vi", "en"})
        return Text(vi=self.get(value, "vi", where, str), en=self.get(value, "en", where, str))


def _strings(reader: _Reader, node: Mapping[str, Any], key: str, path: str, default: Any = ...) -> tuple[str, ...]:
    value = reader.get(node, key, path, (list, str), default)
    items = [value] if isinstance(value, str) else list(value)
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise reader.fail(f"{path}.{key}[{i}]", f"expected str, got {type(item).__name__}")
    return tuple(items)


def contract_from_dict(document: Any, origin: str = "<contract>") -> Contract:
    """Build and check a contract from a parsed document; errors name `origin: path`."""
    from schemas.transforms import STEP_FUNCTIONS, TRANSFORMS

    r = _Reader(origin)
    doc = r.mapping(document, "(top)")
    r.unknown_keys(doc, "", {"dataset", "version", "description", "source", "primary_key", "cursor",
                             "tombstone", "drift_policy", "failure_threshold", "steps", "columns"})
    source = r.mapping(r.get(doc, "source", "", dict), "source")
    r.unknown_keys(source, "source", {"agency", "stream", "fields"})
    fields_node = r.mapping(r.get(source, "fields", "source", dict), "source.fields")
    wire_fields: dict[str, WireType] = {}
    for name, kind in fields_node.items():
        if kind not in get_args(WireType):
            raise r.fail(f"source.fields.{name}", f"{kind!r} is not one of {', '.join(get_args(WireType))}")
        wire_fields[str(name)] = cast(WireType, kind)

    steps: list[Step] = []
    for i, node in enumerate(r.get(doc, "steps", "", list, [])):
        path = f"steps[{i}]"
        node = r.mapping(node, path)
        r.unknown_keys(node, path, {"name", "function", "inputs"})
        step = Step(name=r.get(node, "name", path, str),
                    function=r.choice(node, "function", path, tuple(STEP_FUNCTIONS)),
                    inputs=_strings(r, node, "inputs", path))
        for j, field in enumerate(step.inputs):
            if field not in wire_fields:
                raise r.fail(f"{path}.inputs[{j}]", f"{field!r} is not a field of source.fields")
        steps.append(step)
    step_outputs = {f"{s.name}.{out}" for s in steps for out in STEP_FUNCTIONS[s.function]}

    columns: list[Column] = []
    for i, node in enumerate(r.get(doc, "columns", "", list)):
        path = f"columns[{i}]"
        node = r.mapping(node, path)
        r.unknown_keys(node, path, {"name", "type", "nullable", "pii", "description", "source", "transform", "step"})
        name = r.get(node, "name", path, str)
        try:
            dtype = parse_type(r.get(node, "type", path, str))
        except ValueError as exc:
            raise r.fail(f"{path}.type", str(exc)) from None
        step_ref = r.get(node, "step", path, str, None)
        sources = _strings(r, node, "source", path, ())
        if step_ref is not None:
            if step_ref not in step_outputs:
                raise r.fail(f"{path}.step", f"{step_ref!r} is not a step output ({', '.join(sorted(step_outputs))})")
            transform = "step"
        else:
            if not sources:
                raise r.fail(f"{path}.source", "required key is missing (or give step)")
            transform = r.choice(node, "transform", path, tuple(TRANSFORMS), "copy")
            for j, field in enumerate(sources):
                if field not in wire_fields:
                    raise r.fail(f"{path}.source[{j}]" if len(sources) > 1 else f"{path}.source",
                                 f"{field!r} is not a field of source.fields")
        columns.append(Column(
            name=name, type=dtype, nullable=r.get(node, "nullable", path, bool, True),
            pii=cast(PiiClass, r.choice(node, "pii", path, get_args(PiiClass), "public")),
            description=r.text(node, "description", path), source=sources, transform=transform, step=step_ref,
        ))
    names = [c.name for c in columns]
    for i, name in enumerate(names):
        if names.index(name) != i:
            raise r.fail(f"columns[{i}].name", f"duplicate column {name!r}")

    primary_key = _strings(r, doc, "primary_key", "")
    for i, key in enumerate(primary_key):
        if key not in names:
            raise r.fail(f"primary_key[{i}]", f"{key!r} is not a column")
    cursor = r.get(doc, "cursor", "", str)
    if cursor not in names:
        raise r.fail("cursor", f"{cursor!r} is not a column")
    tombstone = r.get(doc, "tombstone", "", str, None)
    if tombstone is not None and tombstone not in names:
        raise r.fail("tombstone", f"{tombstone!r} is not a column")
    threshold = r.get(doc, "failure_threshold", "", float)
    if not 0.0 <= threshold <= 1.0:
        raise r.fail("failure_threshold", f"{threshold} is not a share between 0 and 1")
    version = r.get(doc, "version", "", int)
    if version < 1:
        raise r.fail("version", "must be a positive integer")
    return Contract(
        dataset=r.get(doc, "dataset", "", str), version=version, description=r.text(doc, "description", ""),
        agency=r.choice(source, "agency", "source", ("land", "business", "construction", "tax")),
        stream=r.get(source, "stream", "source", str), wire_fields=wire_fields, primary_key=primary_key,
        cursor=cursor, tombstone=tombstone,
        drift_policy=cast(DriftPolicy, r.choice(doc, "drift_policy", "", get_args(DriftPolicy))),
        failure_threshold=threshold, steps=tuple(steps), columns=tuple(columns),
    )


def load_contract_file(path: Path) -> Contract:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path.name}: not valid YAML: {exc}") from None
    contract = contract_from_dict(document, path.name)
    if contract.dataset != path.stem:
        raise ConfigError(f"{path.name}: dataset: {contract.dataset!r} does not match the file name")
    return contract


@cache
def contracts() -> dict[str, Contract]:
    """Every contract in schemas/contracts, by dataset name."""
    return {p.stem: load_contract_file(p) for p in sorted(CONTRACTS_DIR.glob("*.yaml"))}


def get_contract(dataset: str) -> Contract:
    known = contracts()
    if dataset not in known:
        raise ConfigError(f"unknown dataset {dataset!r}; contracts: {', '.join(sorted(known))}")
    return known[dataset]


def contract_for_stream(agency: str, stream: str) -> Contract:
    """The contract fed by a connector stream (tax `land_tax_notices` feeds `tax_notices`)."""
    for contract in contracts().values():
        if contract.agency == agency and contract.stream == stream:
            return contract
    raise ConfigError(f"no contract reads stream {agency}/{stream}")
