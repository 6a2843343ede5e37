"""Validation judged on the whole run: chunk statistics added up, the failure threshold applied once.

A run is validated a chunk at a time (Great Expectations at batch speed); whether it fails is decided
on all of its rows, never on one unlucky chunk, and the run is one row in `validation_runs`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa

if TYPE_CHECKING:
    from quality.runner import Validation, ValidationFailed
    from schemas.contract import Contract


@dataclass(slots=True)
class RunQuality:
    contract: Contract
    run_id: str
    quarantine: list[pa.Table] = field(default_factory=list)
    stats: dict[str, Any] | None = None

    def add(self, checked: Validation) -> None:
        if checked.quarantine.num_rows:
            self.quarantine.append(checked.quarantine)
        part = checked.stats
        if self.stats is None:
            self.stats = {**part, "rule_counts": dict(part["rule_counts"]),
                          "reference_misses": dict(part["reference_misses"]), "drift": list(part["drift"])}
            return
        total = self.stats
        for name in ("seconds", "rows_in", "rows_valid", "rows_quarantined", "tombstones"):
            total[name] += part[name]
        for rule, count in part["rule_counts"].items():
            total["rule_counts"][rule] = total["rule_counts"].get(rule, 0) + count
        for ref, misses in part["reference_misses"].items():
            known = total["reference_misses"].get(ref)
            both = isinstance(known, int) and isinstance(misses, int)
            total["reference_misses"][ref] = known + misses if both else misses
        total["drift"].extend(d for d in part["drift"] if d not in total["drift"])

    @property
    def rows(self) -> int:
        return int(self.stats["rows_in"]) if self.stats else 0

    def summary(self) -> dict[str, Any] | None:
        """The run's statistics, with its failure rate and the contract's threshold."""
        if self.stats is None:
            return None
        stats = dict(self.stats)
        stats["seconds"] = round(stats["seconds"], 6)
        stats["failure_rate"] = stats["rows_quarantined"] / stats["rows_in"] if stats["rows_in"] else 0.0
        stats["threshold"] = self.contract.failure_threshold
        stats["status"] = "failed" if stats["failure_rate"] > self.contract.failure_threshold else "passed"
        return stats

    def failure(self) -> ValidationFailed | None:
        """The run's failure when its share of failing rows passes the threshold, else None."""
        from quality.runner import ValidationFailed, threshold_message

        stats = self.summary()
        if stats is None or stats["status"] != "failed":
            return None
        first = next((q for q in self.quarantine if q.num_rows), None)
        return ValidationFailed(threshold_message(self.contract, self.run_id, stats, first), stats=stats,
                                source=self.contract.agency)
