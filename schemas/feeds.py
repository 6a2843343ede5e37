"""Mapping files: one more source feeding a dataset whose contract declares `feeds:` (docs/contracts.md).

A mapping file (`mappings/<dataset>.<source>.yaml` in a registry) names the source stream and its wire
fields, the steps it needs, and for every column of the contract how this source makes it: wire fields
and a transform, a step output, a fixed value, a recoding of the values it sends, and its own
expectations (a district numbers its permits its own way). A column
the source does not send is written `name: ~` (the contract must allow nulls there).

The result is the contract as this source feeds it (`feed_contract`): the same dataset, columns, types
and key, with the mapping's `source`, `steps` and column recipes. The pipeline, the suite and drift use
it as they use any contract, so a source is brought into a shared dataset by this file alone.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from functools import cache
from pathlib import Path

from pydantic.dataclasses import dataclass

from core.declarations import FORBID, Float, Invalid, Str, read_yaml, validate
from core.errors import ConfigError
from core.registry import registry_dirs
from schemas.contract import (
    CONTRACTS_DIR,
    Constant,
    Contract,
    ContractSource,
    DriftPolicy,
    Expect,
    Names,
    Step,
    contracts,
)

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
    expected = f"{mapping.dataset}.{mapping.source.agency}"
    if path.stem != expected:
        raise ConfigError(f"{path.name}: the file of {mapping.source.agency}'s feed of {mapping.dataset} is "
                          f"named {expected}.yaml")
    known = contracts()
    if mapping.dataset not in known:
        raise ConfigError(f"{path.name}: dataset: no contract {mapping.dataset!r} ({', '.join(sorted(known))})")
    return mapping, feed_contract(known[mapping.dataset], mapping, path.name)


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
    return found


def feeds_of(dataset: str) -> list[Contract]:
    """Every feed of `dataset`: its contract's own source first, then each mapping file's."""
    base = contracts()[dataset]
    return [base, *(c for c in feed_contracts().values() if c.dataset == dataset)]
