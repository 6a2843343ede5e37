"""Dataset contracts: declared as data (`schemas/contracts/*.yaml`), checked when loaded.

A contract names the published columns (Arrow type, nullability, PII class, descriptions in Vietnamese
and English), the primary key and cursor, the source stream and its wire fields, how each column is
made from those fields, the drift policy and the failure-rate threshold. The models below are the
file's schema, every default written once; `schemas/json/contract.schema.json` is generated from
them. A wrong file fails at load with the path of the bad key: `parcels.yaml: columns[3].type: unknown
type 'strin'`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

import pyarrow as pa
from pydantic import BeforeValidator, Field, PlainValidator, StringConstraints, WithJsonSchema
from pydantic.dataclasses import dataclass

from core.declarations import FORBID, Bool, Float, Int, Invalid, Str, read_yaml, validate
from core.errors import ConfigError
from core.registry import registry_dirs

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


def _arrow_type(value: Any) -> pa.DataType:
    if isinstance(value, pa.DataType):
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected str, got {type(value).__name__} {value!r}")
    return parse_type(value)


ArrowType = Annotated[pa.DataType, PlainValidator(_arrow_type), WithJsonSchema(
    {"type": "string", "pattern": r"^(string|int32|int64|float64|bool|date32|timestamp\[us, UTC\]"
                                  r"|decimal128\(\d+,\s*\d+\))$"})]


def _strings(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


# one name, or a list of names
Names = Annotated[tuple[Str, ...], BeforeValidator(_strings), WithJsonSchema(
    {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]})]


@dataclass(frozen=True, slots=True, kw_only=True, config=FORBID)
class Text:
    vi: Str
    en: Str


@dataclass(frozen=True, slots=True, kw_only=True, config=FORBID)
class Step:
    """A transform computed once per batch whose named outputs several columns use (admin-unit recoding)."""

    name: Str
    function: Str  # a name in schemas.transforms.STEP_FUNCTIONS
    inputs: Names


@dataclass(frozen=True, slots=True, kw_only=True, config=FORBID)
class Expect:
    """A column's declared expectations (`expect:`); the GX suite of a dataset without a Python suite is
    built from them (quality.suites.contract_expectations). Not-null is `nullable: false`."""

    unique: Bool = False
    pattern: Str | None = None  # a regular expression, anchored at both ends when checked
    values: tuple[Str | Int | Bool, ...] | None = None  # the allowed values
    min: Int | Float | None = None
    max: Int | Float | None = None

    def __post_init__(self) -> None:
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise Invalid("pattern", f"not a regular expression: {exc}") from None


Constant = Str | Int | Float | Bool


@dataclass(frozen=True, slots=True, kw_only=True, config=FORBID)
class Column:
    name: Str
    type: ArrowType
    description: Text
    nullable: Bool = True
    pii: PiiClass = "public"
    source: Names = ()  # wire fields this column is made from (empty when from a step or a value)
    transform: Str = "copy"  # a name in schemas.transforms.TRANSFORMS; "step" when made by a step
    step: Str | None = None  # "step_name.output" when made by a step
    value: Constant | None = None  # the same value on every row (a source's fixed province code, say)
    recode: Mapping[str, Str] | None = None  # after the transform: values as sent -> canonical values
    expect: Expect = Field(default_factory=Expect)

    def __post_init__(self) -> None:
        if self.value is not None:
            object.__setattr__(self, "transform", "value")
        elif self.step is not None:
            object.__setattr__(self, "transform", "step")
        elif not self.source and self.transform != "absent":  # "absent": a feed that does not send it
            raise Invalid("source", "required key is missing (or give step, or value)")


@dataclass(frozen=True, slots=True, kw_only=True, config=FORBID)
class ContractSource:
    """The connector stream a dataset is read from, and its wire fields with their wire types."""

    # the source (file) name: any source a registry declares, not a fixed list of agencies
    agency: Annotated[Str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$")]
    stream: Str
    fields: Mapping[str, WireType]


def _share(value: float | None, where: str) -> None:
    if value is not None and not 0.0 <= value <= 1.0:
        raise Invalid(where, f"{value} is not a share between 0 and 1")


@dataclass(frozen=True, slots=True, kw_only=True, config=FORBID)
class HoldRules:
    """When a run is held for a person instead of published (docs/contracts.md, Held runs).

    Shares are of the rows the dataset has published. A declared full reload (`sync --full-reload`)
    overrides all three.
    """

    max_delete_share: Float | None = 0.05  # deleting more than this share of published rows holds the run
    max_change_share: Float | None = None  # inserting, updating and deleting more than this share at once
    min_volume_share: Float | None = 0.5  # a full sync fetching under this share of the recent median ...
    volume_window: Int = 10  # ... of this many last full syncs,
    volume_min_runs: Int = 3  # counted once at least this many are known
    min_published_rows: Int = 20  # below this many published rows the share rules do not apply

    def __post_init__(self) -> None:
        _share(self.max_delete_share, "max_delete_share")
        _share(self.max_change_share, "max_change_share")
        _share(self.min_volume_share, "min_volume_share")
        if self.volume_window < 1 or self.volume_min_runs < 1 or self.min_published_rows < 0:
            raise Invalid("volume_window", "volume_window and volume_min_runs must be positive")


@dataclass(frozen=True, slots=True, kw_only=True, config=FORBID)
class Retention:
    """How long a dataset's history (serving-table rows and Parquet snapshots) is kept (docs/contracts.md).

    `lienthong datasets prune` keeps every version needed for an as-of read inside the window: the last
    `versions`, or those of the last `days` (with the version current at the window's start), and never
    less than `legal_minimum_days`, the minimum the law sets for this record (named in `legal_basis`).
    """

    versions: Int | None = None
    days: Int | None = None
    legal_minimum_days: Int = 0
    legal_basis: Str | None = None

    def __post_init__(self) -> None:
        if self.versions is None and self.days is None:
            raise Invalid("versions", "give versions or days (or leave retention out to keep everything)")
        if (self.versions is not None and self.versions < 1) or (self.days is not None and self.days < 1):
            raise Invalid("versions", "versions and days must be positive")
        if self.legal_minimum_days < 0:
            raise Invalid("legal_minimum_days", "must not be negative")


@dataclass(frozen=True, slots=True, kw_only=True, config=FORBID)
class Feeds:
    """A dataset fed by several sources (docs/contracts.md, Several sources): the contract's own `source`
    is one feed, each mapping file (`mappings/<dataset>.<source>.yaml`) another.

    Every published row carries its source in `column`. With `keys: per_source` the published key is
    (`column`, primary key): two districts may both issue permit number 05. With `keys: global` the key is
    the primary key alone, and `settle` says what becomes of a key another source already published:
    `quarantine` (the default) quarantines it as a conflict for a person, never overwritten; `prefer`
    ranks the sources (`prefer`, first wins): a source takes over a key held by a source ranked below it
    (any source not listed ranks below every listed one), and yields a key held by one ranked above it;
    two sources of equal rank (both unlisted) are still a conflict. Every takeover and yield is reported
    in the run's summary. Either way a sync's deletes (tombstones, reconciliation, full refresh) reach
    only the rows of its own source.
    """

    column: Annotated[Str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$")] = "source"
    keys: Literal["per_source", "global"] = "per_source"
    settle: Literal["quarantine", "prefer"] = "quarantine"
    prefer: tuple[Str, ...] = ()  # with settle: prefer, the sources by rank, first wins

    def __post_init__(self) -> None:
        if self.settle == "prefer" and self.keys != "global":
            raise Invalid("settle", "prefer settles a global key; with keys: per_source no two sources share one")
        if (self.settle == "prefer") != bool(self.prefer):
            raise Invalid("prefer", "give the sources by rank with settle: prefer, and only then")
        if len(set(self.prefer)) != len(self.prefer):
            raise Invalid("prefer", "names a source twice")

    def outranked_by(self, agency: str) -> tuple[str, ...] | None:
        """The sources whose keys `agency` may not take over, or None when it takes over none.

        A listed source takes over every source but those listed above it; an unlisted one, none."""
        if self.settle != "prefer" or agency not in self.prefer:
            return None
        return self.prefer[:self.prefer.index(agency)]

    def rank(self, agency: str) -> int:
        """0 for the most preferred source; every unlisted source shares the last rank."""
        return self.prefer.index(agency) if agency in self.prefer else len(self.prefer)


def feed_column(feeds: Feeds, agency: str) -> Column:
    """The column naming each row's source: the feed's agency on every row it sends."""
    return Column(name=feeds.column, type=pa.string(), nullable=False, value=agency,
                  description=Text(vi="Hệ thống nguồn của bản ghi", en="The source system that sent the row"))


@dataclass(frozen=True, slots=True, kw_only=True, config=FORBID)
class Contract:
    dataset: Str
    version: Int
    description: Text
    source: ContractSource
    primary_key: Names
    cursor: Str
    drift_policy: DriftPolicy
    failure_threshold: Float  # the share of failing rows above which the run fails
    columns: tuple[Column, ...]
    tombstone: Str | None = None  # the column that marks a delete, where the source sends tombstones
    steps: tuple[Step, ...] = ()
    holds: HoldRules = HoldRules()
    retention: Retention | None = None  # None: every version is kept
    feeds: Feeds | None = None  # several sources feed this dataset (one mapping file each)
    owner: Str | None = None  # the agency owning the dataset; default: source.agency

    def __post_init__(self) -> None:
        from schemas.transforms import STEP_FUNCTIONS, TRANSFORMS

        if self.feeds is not None:
            # the feed column is the contract's, never declared: it says this feed's agency on every row
            for i, col in enumerate(self.columns):
                if col.name == self.feeds.column and col.value is None:
                    raise Invalid(("columns", i, "name"), f"{col.name!r} is feeds.column: added, not declared")
            own = tuple(c for c in self.columns if c.name != self.feeds.column)
            object.__setattr__(self, "columns", (feed_column(self.feeds, self.source.agency), *own))
        wire = self.source.fields
        for i, step in enumerate(self.steps):
            if step.function not in STEP_FUNCTIONS:
                raise Invalid(("steps", i, "function"),
                              f"{step.function!r} is not one of {', '.join(STEP_FUNCTIONS)}")
            for j, field in enumerate(step.inputs):
                if field not in wire:
                    raise Invalid(("steps", i, "inputs", j), f"{field!r} is not a field of source.fields")
        outputs = {f"{s.name}.{out}" for s in self.steps for out in STEP_FUNCTIONS[s.function]}
        for i, col in enumerate(self.columns):
            if col.value is not None or col.transform == "absent":
                continue
            if col.step is not None:
                if col.step not in outputs:
                    raise Invalid(("columns", i, "step"),
                                  f"{col.step!r} is not a step output ({', '.join(sorted(outputs))})")
                continue
            if col.transform not in TRANSFORMS:
                raise Invalid(("columns", i, "transform"), f"{col.transform!r} is not one of {', '.join(TRANSFORMS)}")
            for j, field in enumerate(col.source):
                if field not in wire:
                    at: tuple[str | int, ...] = ("columns", i, "source") + ((j,) if len(col.source) > 1 else ())
                    raise Invalid(at, f"{field!r} is not a field of source.fields")
        names = [c.name for c in self.columns]
        for i, name in enumerate(names):
            if names.index(name) != i:
                raise Invalid(("columns", i, "name"), f"duplicate column {name!r}")
        for i, key in enumerate(self.primary_key):
            if key not in names:
                raise Invalid(("primary_key", i), f"{key!r} is not a column")
        if self.cursor not in names:
            raise Invalid("cursor", f"{self.cursor!r} is not a column")
        if self.tombstone is not None and self.tombstone not in names:
            raise Invalid("tombstone", f"{self.tombstone!r} is not a column")
        if not 0.0 <= self.failure_threshold <= 1.0:
            raise Invalid("failure_threshold", f"{self.failure_threshold} is not a share between 0 and 1")
        if self.version < 1:
            raise Invalid("version", "must be a positive integer")

    @property
    def agency(self) -> str:
        return self.source.agency

    @property
    def owner_agency(self) -> str:
        return self.owner or self.source.agency

    @property
    def published_key(self) -> tuple[str, ...]:
        """The serving table's key: the primary key, led by the feed column when keys are per source."""
        if self.feeds is not None and self.feeds.keys == "per_source":
            return (self.feeds.column, *self.primary_key)
        return tuple(self.primary_key)

    @property
    def scope(self) -> tuple[str, str] | None:
        """(feed column, this feed's agency): the rows this contract's syncs may delete, or None (all)."""
        return (self.feeds.column, self.source.agency) if self.feeds is not None else None

    @property
    def stream(self) -> str:
        return self.source.stream

    @property
    def wire_fields(self) -> Mapping[str, WireType]:
        """The source stream's fields and their wire types."""
        return self.source.fields

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


# Mapping files: one more source feeding a dataset whose contract declares `feeds:`.
#
# Mapping files: one more source feeding a dataset whose contract declares `feeds:` (docs/contracts.md).
#
# A mapping file (`mappings/<dataset>.<source>.yaml` in a registry) names the source stream and its wire
# fields, the steps it needs, and for every column of the contract how this source makes it: wire fields
# and a transform, a step output, a fixed value, a recoding of the values it sends, and its own
# expectations (a district numbers its permits its own way). A column
# the source does not send is written `name: ~` (the contract must allow nulls there).
#
# The result is the contract as this source feeds it (`feed_contract`): the same dataset, columns, types
# and key, with the mapping's `source`, `steps` and column recipes. The pipeline, the suite and drift use
# it as they use any contract, so a source is brought into a shared dataset by this file alone.

MAPPINGS_DIR = CONTRACTS_DIR.parent / "mappings"


@dataclass(frozen=True, slots=True, kw_only=True, config=FORBID)
class ColumnMapping:
    """How one source makes one contract column; the keys mean what they mean on a contract column."""

    source: Names = ()
    transform: Str = "copy"
    step: Str | None = None
    value: Constant | None = None
    recode: Mapping[str, Str] | None = None
    expect: Expect | None = None  # replaces the column's expectations for this source's rows

    def __post_init__(self) -> None:
        if not self.source and self.step is None and self.value is None:
            raise Invalid("source", "required key is missing (or give step, or value; `~` for a column not sent)")


@dataclass(frozen=True, slots=True, kw_only=True, config=FORBID)
class FeedMapping:
    """A mapping file: `source` feeds `dataset`, column by column."""

    dataset: Str
    source: ContractSource
    columns: Mapping[str, ColumnMapping | None]  # every contract column; None (`~`): this source does not send it
    description: Str | None = None
    steps: tuple[Step, ...] = ()
    drift_policy: DriftPolicy | None = None  # default: the contract's
    failure_threshold: Float | None = None  # default: the contract's


def feed_contract(base: Contract, mapping: FeedMapping, where: str = "<mapping>") -> Contract:
    """The contract `base` as `mapping`'s source feeds it; a mapping that does not fit names its key."""
    if base.feeds is None:
        raise ConfigError(f"{where}: dataset: {base.dataset!r} declares no `feeds:`; a dataset fed by several "
                          "sources names the column that carries each row's source (docs/contracts.md)")
    if mapping.source.agency == base.agency:
        raise ConfigError(f"{where}: source.agency: {base.agency!r} is the contract's own source")
    columns = []
    declared = {c.name for c in base.columns if c.name != base.feeds.column}
    for name in mapping.columns:
        if name not in declared:
            raise ConfigError(f"{where}: columns.{name}: not a column of {base.dataset} "
                              f"({', '.join(sorted(declared))})")
    for col in base.columns:
        if col.name == base.feeds.column:
            continue
        if col.name not in mapping.columns:
            raise ConfigError(f"{where}: columns.{col.name}: required key is missing (map it, or write "
                              f"`{col.name}: ~` when this source does not send it)")
        how = mapping.columns[col.name]
        if how is None:
            if not col.nullable:
                raise ConfigError(f"{where}: columns.{col.name}: the contract requires a value (nullable: false)")
            columns.append(dataclasses.replace(col, source=(), step=None, value=None, recode=None,
                                               transform="absent", expect=Expect()))
            continue
        columns.append(dataclasses.replace(
            col, source=how.source, step=how.step, value=how.value, recode=how.recode,
            transform=how.transform, expect=how.expect if how.expect is not None else col.expect))
    try:
        return dataclasses.replace(
            base, source=mapping.source, steps=mapping.steps, columns=tuple(columns),
            owner=base.owner_agency, drift_policy=mapping.drift_policy or base.drift_policy,
            failure_threshold=(base.failure_threshold if mapping.failure_threshold is None
                               else mapping.failure_threshold))
    except ValueError as exc:  # a check across keys (a field not in source.fields, an unknown transform)
        raise ConfigError(f"{where}: {_relative(exc, mapping)}") from None


def _relative(exc: ValueError, mapping: FeedMapping) -> str:
    """The contract check's message, its `columns[i]` path named as the mapping's `columns.<name>`."""
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        error = exc.errors(include_url=False)[0]
        found = (error.get("ctx") or {}).get("error")
        if isinstance(found, Invalid):
            path = list(found.path)
            if path[:1] == ["columns"] and len(path) > 1 and isinstance(path[1], int):
                return f"columns: {found.message}"
            return f"{'.'.join(str(p) for p in path)}: {found.message}"
        return str(error["msg"])
    return str(exc)


def load_mapping_file(path: Path) -> tuple[FeedMapping, Contract]:
    """A mapping file and the contract it makes; errors name the file and the key."""
    mapping: FeedMapping = validate(FeedMapping, read_yaml(path, path.name), path.name)
    known = contracts()
    if mapping.dataset not in known:
        raise ConfigError(f"{path.name}: dataset: no contract {mapping.dataset!r} ({', '.join(sorted(known))})")
    contract = feed_contract(known[mapping.dataset], mapping, path.name)
    expected = f"{mapping.dataset}.{mapping.source.agency}"
    if path.stem != expected:
        raise ConfigError(f"{path.name}: the file of {mapping.source.agency}'s feed of {mapping.dataset} is "
                          f"named {expected}.yaml")
    return mapping, contract


def mapping_dirs() -> tuple[Path, ...]:
    """`schemas/mappings`, then the `mappings/` of each registry `LIENTHONG_REGISTRY` names."""
    return (MAPPINGS_DIR, *(d / "mappings" for d in registry_dirs()))


def feed_contracts() -> dict[tuple[str, str], Contract]:
    """The contract of every mapping file, by (source, stream)."""
    return _feeds(mapping_dirs())


@cache
def _feeds(directories: tuple[Path, ...]) -> dict[tuple[str, str], Contract]:
    found: dict[tuple[str, str], Contract] = {}
    for directory in directories:
        for path in sorted(directory.glob("*.yaml")):
            _, contract = load_mapping_file(path)
            key = (contract.agency, contract.stream)
            if key in found:
                raise ConfigError(f"{path.name}: stream {key[0]}/{key[1]} already feeds {found[key].dataset}")
            found[key] = contract
    _check_preferences(found.values())
    return found


def _check_preferences(fed: Iterable[Contract]) -> None:
    """A `feeds.prefer` names only sources that feed its dataset: a misspelt name would rank it last."""
    sources: dict[str, set[str]] = {}
    for contract in fed:
        sources.setdefault(contract.dataset, set()).add(contract.agency)
    for dataset, contract in contracts().items():
        if contract.feeds is None or not contract.feeds.prefer:
            continue
        known = sources.get(dataset, set()) | {contract.agency}
        for i, name in enumerate(contract.feeds.prefer):
            if name not in known:
                raise ConfigError(f"{dataset}.yaml: feeds.prefer.{i}: {name!r} feeds no {dataset} "
                                  f"(its sources: {', '.join(sorted(known))})")


def feed_of(dataset: str, agency: str) -> Contract:
    """The contract of `dataset` as `agency` feeds it: its own, or its mapping file's."""
    for contract in feeds_of(dataset):
        if contract.agency == agency:
            return contract
    return get_contract(dataset)  # a dataset of one source: its quarantine's source is its own


def feeds_of(dataset: str) -> list[Contract]:
    """Every feed of `dataset`: its contract's own source first, then each mapping file's."""
    base = contracts()[dataset]
    return [base, *(c for c in feed_contracts().values() if c.dataset == dataset)]


def contract_from_dict(document: Any, origin: str = "<contract>") -> Contract:
    """Build and check a contract from a parsed document; errors name `origin: path`."""
    contract: Contract = validate(Contract, document, origin)
    return contract


def load_contract_file(path: Path) -> Contract:
    contract = contract_from_dict(read_yaml(path, path.name), path.name)
    if contract.dataset != path.stem:
        raise ConfigError(f"{path.name}: dataset: {contract.dataset!r} does not match the file name")
    return contract


def contract_dirs() -> tuple[Path, ...]:
    """`schemas/contracts`, then the `contracts/` of each registry `LIENTHONG_REGISTRY` names."""
    return (CONTRACTS_DIR, *(d / "contracts" for d in registry_dirs()))


def contracts() -> dict[str, Contract]:
    """Every contract of every registry, by dataset name."""
    return _contracts(contract_dirs())


@cache
def _contracts(directories: tuple[Path, ...]) -> dict[str, Contract]:
    found: dict[str, Contract] = {}
    where: dict[str, Path] = {}
    for directory in directories:
        for path in sorted(directory.glob("*.yaml")):
            if path.stem in found:
                raise ConfigError(f"dataset {path.stem!r} has two contracts: {where[path.stem]} and {path}")
            found[path.stem], where[path.stem] = load_contract_file(path), path
    return found


def get_contract(dataset: str) -> Contract:
    known = contracts()
    if dataset not in known:
        raise ConfigError(f"unknown dataset {dataset!r}; contracts: {', '.join(sorted(known))}")
    return known[dataset]


def contract_for_stream(agency: str, stream: str) -> Contract:
    """The contract fed by a connector stream (tax `land_tax_notices` feeds `tax_notices`); for a stream a
    mapping file brings into a dataset of several sources, the contract as that source feeds it."""
    fed = feed_contracts().get((agency, stream))
    if fed is not None:
        return fed
    for contract in contracts().values():
        if contract.agency == agency and contract.stream == stream:
            return contract
    raise ConfigError(f"no contract reads stream {agency}/{stream}")
