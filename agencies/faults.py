"""The faults switched on for one simulator (PROTOCOL.md, Faults), decided from its seed.

Request faults are drawn per request from one seeded RNG: a single uniform draw against the
cumulative rates, so each fault hits its own share of requests. Value faults are decided per record
from a hash of (seed, fault, dataset, key), so a record is corrupted the same way on every read and
the ground truth can name it.
"""

from __future__ import annotations

import hashlib
import random
import threading
from collections.abc import Mapping, Sequence
from typing import Literal, get_args

from agencies import ids
from agencies.base import Record, RequestFault
from agencies.datasets import DatasetSpec, spec

Protocol = Literal["soap", "rest"]
VALUE_FAULTS = ("invalid_values", "invalid_utf8", "drift_new_field", "drift_renamed_field", "drift_type_change")
REQUEST_FAULTS: tuple[str, ...] = get_args(RequestFault)
SOAP_ONLY = frozenset({"soap_fault", "xxe", "html_200", "not_xml", "wrong_element", "records_renamed",
                       "cp1258_body", "lying_encoding", "wrong_id"})
ALL_FAULTS = frozenset(REQUEST_FAULTS) | frozenset(VALUE_FAULTS)
_INVALID_UTF8 = b"\xff\xfe\xc3("  # not UTF-8 in any reading
_INVALID_KINDS = ("bad_check_digit", "negative_value", "unknown_commune", "missing_required", "odd_date")


def _unit(*parts: object) -> float:
    digest = hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def parse_fault(text: str) -> tuple[str, float]:
    """`NAME=RATE` (as given to --fault) to (name, rate), refusing unknown names and rates outside [0, 1]."""
    name, sep, rate_text = text.partition("=")
    name = name.strip()
    if not sep:
        raise ValueError(f"--fault {text!r}: expected NAME=RATE, e.g. http_500=0.05")
    if name not in ALL_FAULTS:
        raise ValueError(f"--fault {text!r}: unknown fault {name!r}; known: {', '.join(sorted(ALL_FAULTS))}")
    try:
        rate = float(rate_text)
    except ValueError:
        raise ValueError(f"--fault {text!r}: rate {rate_text!r} is not a number") from None
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"--fault {text!r}: rate must be within [0, 1]")
    return name, rate


class SeededFaults:
    """`agencies.base.Faults` for one simulator."""

    def __init__(self, seed: int, protocol: Protocol, rates: Mapping[str, float] | None = None,
                 slow_seconds: float = 5.0) -> None:
        self.seed = seed
        self.protocol = protocol
        self.slow_seconds = slow_seconds
        self._lock = threading.Lock()
        self._rng = random.Random(f"{seed}:request-faults")
        self.rates: Mapping[str, float] = {}
        self.set_rates(rates or {})

    def set_rates(self, rates: Mapping[str, float]) -> None:
        """Replace the configured rates (the admin endpoint's POST); restarts the request draw."""
        checked = {}
        for name, rate in rates.items():
            checked[parse_fault(f"{name}={rate}")[0]] = float(rate)
        requests = sum(r for n, r in checked.items() if n in REQUEST_FAULTS and self._applies(n))
        if requests > 1.0:
            raise ValueError(f"request fault rates add up to {requests:.3f} > 1")
        with self._lock:
            self.rates = checked
            self._rng = random.Random(f"{self.seed}:request-faults")

    def _applies(self, name: str) -> bool:
        return self.protocol == "soap" or name not in SOAP_ONLY

    @property
    def value_faults_on(self) -> bool:
        return any(self.rates.get(name, 0.0) > 0 for name in VALUE_FAULTS)

    def request_fault(self) -> RequestFault | None:
        with self._lock:
            u = self._rng.random()
        threshold = 0.0
        for name in REQUEST_FAULTS:
            rate = self.rates.get(name, 0.0)
            if rate <= 0 or not self._applies(name):
                continue
            threshold += rate
            if u < threshold:
                return name  # type: ignore[return-value]
        return None

    # --- value faults ---------------------------------------------------------------------------

    def corruptions(self, dataset: str, record: Record) -> list[str]:
        """How `record` is served corrupted, e.g. ["bad_check_digit:holderId"]; empty when clean."""
        return self._corrupt(dataset, dict(record))[1]

    def apply(self, dataset: str, records: Sequence[Record]) -> list[Record]:
        if not self.value_faults_on:
            return list(records)
        return [self._corrupt(dataset, dict(r))[0] for r in records]

    def _corrupt(self, dataset: str, record: Record) -> tuple[Record, list[str]]:
        ds = spec(dataset)
        if record.get(ds.tombstone_field) is True and len(record) <= 3:
            return record, []  # a key-only tombstone has nothing to corrupt
        key = ds.key_of(record)
        done: list[str] = []
        for name in VALUE_FAULTS:
            rate = self.rates.get(name, 0.0)
            if rate <= 0 or _unit(self.seed, name, dataset, key) >= rate:
                continue
            pick = _unit(self.seed, name, dataset, key, "how")
            what = getattr(self, "_" + name)(ds, record, pick)
            if what:
                done.append(what)
        return record, done

    def _invalid_values(self, ds: DatasetSpec, record: Record, pick: float) -> str | None:
        candidates = [k for k in _INVALID_KINDS if self._invalid_target(ds, k, record)]
        if not candidates:
            return None
        kind = candidates[int(pick * len(candidates))]
        field = self._invalid_target(ds, kind, record)
        assert field is not None
        value = record.get(field)
        if kind == "bad_check_digit":
            record[field] = ids.corrupt_check_digit(str(value))
        elif kind == "negative_value":
            record[field] = f"-{value}" if isinstance(value, str) else -abs(int(value or 0))
        elif kind == "unknown_commune":
            record[field] = "99999"
        elif kind == "missing_required":
            del record[field]
        else:  # odd_date: a format no agency documents
            text = str(value)
            record[field] = text.replace("-", ".").replace("/", ".") + " 00:00" if text else "N/A"
        return f"{kind}:{field}"

    @staticmethod
    def _invalid_target(ds: DatasetSpec, kind: str, record: Record) -> str | None:
        if kind == "bad_check_digit":
            field = ds.taxcode_field
            value = record.get(field) if field else None
            return field if isinstance(value, str) and len(value) >= 10 and value[:10].isdigit() \
                and (len(value) == 10 or value[10] == "-") else None
        if kind == "negative_value":
            return ds.amount_field
        if kind == "unknown_commune":
            return ds.commune_field
        if kind == "missing_required":
            return ds.name_field
        return ds.date_field

    @staticmethod
    def _drift_new_field(ds: DatasetSpec, record: Record, pick: float) -> str:
        record["ghi_chu"] = "trường mới"
        return "drift_new_field:ghi_chu"

    @staticmethod
    def _drift_renamed_field(ds: DatasetSpec, record: Record, pick: float) -> str | None:
        field = ds.name_field
        if field not in record:
            return None
        renamed = field + "_v2"
        record[renamed] = record.pop(field)
        return f"drift_renamed_field:{field}->{renamed}"

    @staticmethod
    def _drift_type_change(ds: DatasetSpec, record: Record, pick: float) -> str | None:
        field = ds.int_field
        if field is None or field not in record:
            return None
        record[field] = str(record[field])
        return f"drift_type_change:{field}"

    @staticmethod
    def _invalid_utf8(ds: DatasetSpec, record: Record, pick: float) -> str | None:
        value = record.get(ds.name_field)
        if not isinstance(value, str):
            return None
        record[ds.name_field] = value.encode("utf-8") + _INVALID_UTF8
        return f"invalid_utf8:{ds.name_field}"
