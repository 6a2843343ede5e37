"""A tiny in-memory simulator implementing agencies/base.py's protocols, for the SOAP front end alone.

Small, deterministic data with what matters to the wire: ties on updatedAt, tombstones (land), names that
need escaping, NFD text and Vietnamese letters.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from agencies.base import AgencyName, Credentials, FeedPosition, Record, RequestFault

KEY_FIELDS: Mapping[str, tuple[str, ...]] = {
    "parcels": ("communeCode", "mapSheet", "parcelNumber"),
    "land_certificates": ("certificateNo",),
    "enterprises": ("enterpriseCode",),
    "branches": ("branchCode",),
}
_NAMES = ("Nguyễn Văn An", "Trần Thị Bích", "Le Van Cuong", "Công ty TNHH A & B <Việt>", "Phạm  Thu Hà ")


def _stamp(i: int) -> str:
    # every third record shares its time with the previous one: ties at page boundaries
    moment = datetime(2019, 1, 1, tzinfo=UTC) + timedelta(hours=7 * (i - i % 3 // 2))
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def land_records(n: int) -> dict[str, list[Record]]:
    parcels = [
        {
            "communeCode": f"{26734 + i % 5:05d}", "mapSheet": 1 + i % 7, "parcelNumber": 100 + i,
            "provinceCode": "01", "districtCode": "" if i % 5 else "250", "address": f"Số {i} đường Láng",
            "areaM2": f"{50 + i * 1.25:.2f}", "landUseCode": ("ONT", "ODT", "LUC", "CLN")[i % 4],
            "holderType": "individual", "holderId": f"0010900{i:05d}", "holderName": _NAMES[i % len(_NAMES)],
            "updatedAt": _stamp(i), "deleted": i % 17 == 0,
        }
        for i in range(n)
    ]
    certificates = [
        {
            "certificateNo": f"CS {100000 + i}", "communeCode": "26734", "mapSheet": 1, "parcelNumber": 100 + i,
            "holderId": f"0010900{i:05d}", "holderName": _NAMES[i % len(_NAMES)],
            "issuedDate": "2020-05-06" if i % 4 else "06/05/2020", "updatedAt": _stamp(i), "deleted": False,
        }
        for i in range(n // 2)
    ]
    return {"parcels": parcels, "land_certificates": certificates}


def business_records(n: int) -> dict[str, list[Record]]:
    enterprises = [
        {
            "enterpriseCode": f"{100109106 + i * 7:010d}", "name": _NAMES[i % len(_NAMES)],
            "enterpriseType": ("TNHH1TV", "CP", "DNTN")[i % 3], "status": "active",
            "registeredDate": f"20{10 + i % 15}-0{1 + i % 9}-1{i % 10}", "charterCapitalVnd": 10**9 * (1 + i),
            "provinceCode": "01", "communeCode": "00004", "address": f"{i} Hàng Bài, Hà Nội",
            "legalRepName": "Nguyễn Văn An", "legalRepId": f"00108800{i:04d}", "updatedAt": _stamp(i),
        }
        for i in range(n)
    ]
    branches = [
        {
            "branchCode": f"{100109106 + i * 7:010d}-{1 + i % 3:03d}", "enterpriseCode": f"{100109106 + i * 7:010d}",
            "name": f"Chi nhánh {i}", "provinceCode": "01", "communeCode": "00004", "address": "Hà Nội",
            "status": "active", "updatedAt": _stamp(i),
        }
        for i in range(n // 2)
    ]
    return {"enterprises": enterprises, "branches": branches}


class FakeStore:
    def __init__(self, agency: AgencyName, data: Mapping[str, list[Record]]) -> None:
        self.agency = agency
        self.data = {
            name: sorted(rows, key=lambda r: (r["updatedAt"], self.key_of(name, r))) for name, rows in data.items()
        }

    def clock(self) -> datetime:
        return datetime(2026, 1, 1, tzinfo=UTC)

    def key_of(self, dataset: str, record: Record) -> str:
        return "/".join(str(record[f]) for f in KEY_FIELDS[dataset])

    def _live(self, dataset: str) -> list[Record]:
        return [r for r in self.data[dataset] if not r.get("deleted")]

    def changes(self, dataset: str, since: datetime, after: FeedPosition | None, limit: int) -> list[Record]:
        since_text = since.strftime("%Y-%m-%dT%H:%M:%SZ")
        rows = [r for r in self.data[dataset] if r["updatedAt"] >= since_text]
        if after is not None:
            rows = [r for r in rows if (r["updatedAt"], self.key_of(dataset, r)) > (after.updated_at, after.key)]
        return [dict(r) for r in rows[:limit]]

    def get(self, dataset: str, key: str) -> Record | None:
        return next((dict(r) for r in self._live(dataset) if self.key_of(dataset, r) == key), None)

    def keys(self, dataset: str, after: str | None, limit: int) -> list[str]:
        keys = sorted(self.key_of(dataset, r) for r in self._live(dataset))
        return [k for k in keys if after is None or k > after][:limit]

    def count(self, dataset: str, since: datetime | None = None) -> int:
        return len(self.data[dataset])


@dataclass
class FakeFaults:
    rates: Mapping[str, float] = field(default_factory=dict)
    slow_seconds: float = 0.2
    seed: int = 7
    value_faults: dict[str, object] = field(default_factory=dict)  # field -> value put on every record

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def request_fault(self) -> RequestFault | None:
        for name, rate in self.rates.items():
            if self._rng.random() < rate:
                return name  # type: ignore[return-value]
        return None

    def apply(self, dataset: str, records: Sequence[Record]) -> list[Record]:
        return [{**r, **self.value_faults} for r in records]


@dataclass
class FakeSimulator:
    agency: AgencyName
    store: FakeStore
    faults: FakeFaults = field(default_factory=FakeFaults)
    credentials: Credentials = field(default_factory=Credentials)


def land_simulator(n: int = 240) -> FakeSimulator:
    return FakeSimulator("land", FakeStore("land", land_records(n)))


def business_simulator(n: int = 150) -> FakeSimulator:
    return FakeSimulator("business", FakeStore("business", business_records(n)))
