"""What publishing needs to know of a dataset: its name, key, Arrow schema, owner and contract version."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pyarrow as pa

if TYPE_CHECKING:
    from schemas.contract import Contract


@dataclass(frozen=True, slots=True)
class DatasetSpec:
    """What publishing needs to know of a dataset's contract."""

    name: str
    primary_key: tuple[str, ...]
    schema: pa.Schema
    contract_version: str = "1"
    owner_agency: str | None = None
    partition_by: str | None = None
    description: str = ""
    # (column, value): a dataset of several sources, published by the source `value`; its deletes (full
    # refresh, tombstones, reconciliation) reach only the current rows whose `column` is `value`
    scope: tuple[str, str] | None = None
    # with a declared preference (`feeds: {settle: prefer}`), the sources ranked above `scope`'s: this
    # publish may replace, by key, the current rows of any other source; None: of none
    outranked_by: tuple[str, ...] | None = None


def dataset_spec(contract: Contract) -> DatasetSpec:
    """What publishing needs from a contract: the tombstone column marks deletes and is not published."""
    schema = contract.arrow_schema()
    if contract.tombstone:
        schema = schema.remove(schema.get_field_index(contract.tombstone))
    return DatasetSpec(
        name=contract.dataset, primary_key=contract.published_key, schema=schema,
        contract_version=str(contract.version), owner_agency=contract.owner_agency,
        partition_by="province_code" if "province_code" in schema.names else None,
        description=contract.description.en, scope=contract.scope,
        outranked_by=contract.feeds.outranked_by(contract.agency) if contract.feeds is not None else None,
    )
