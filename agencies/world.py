"""One seeded world of people, enterprises and parcels, from which every agency's records derive.

Each entity is a pure function of (seed, kind, index) with its own RNG, so the land simulator is built
without generating the others and still names real enterprises' tax codes, and permits sit on real
parcels. `--records N` sizes the world; each agency serves about N records (Sizes below).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from agencies import ids, names
from agencies.adminunits import DEFAULT_PROVINCE, Commune, OldCommune, Province, load_province

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)  # a fresh world's clock (PROTOCOL.md, Clock)
_HISTORY_START = datetime(2019, 1, 1, tzinfo=UTC)
HISTORY_END = datetime(2025, 12, 31, 23, 59, 59, tzinfo=UTC)
_HISTORY_SECONDS = int((HISTORY_END - _HISTORY_START).total_seconds())
ENTERPRISE_TYPES = ("TNHH1TV", "TNHH2TV", "CP", "DNTN", "HD")
_ENTERPRISE_TYPE_WEIGHTS = (30, 35, 20, 12, 3)
LAND_USE_CODES = ("ONT", "ODT", "LUC", "LUK", "CLN", "BHK", "RSX", "SKC", "TMD", "DGT", "NTS", "SKK")
ENTERPRISE_LAND_USE = ("SKC", "TMD", "SKK", "ODT", "DGT")
_BIRTH_PROVINCES = ("31", "30", "01", "34", "33", "22", "79", "36", "38", "40")
_UNKNOWN_BIRTH_PROVINCE = "96"


def iso(moment: datetime) -> str:
    """A UTC timestamp as on the wire: `2025-03-04T05:06:07Z`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Sizes:
    """How many of each entity a world of scale N has (initially; advances add more)."""

    parcels: int
    certificates: int
    enterprises: int
    branches: int
    persons: int
    tax_individuals: int
    notices: int
    permits: int

    @classmethod
    def of(cls, n: int) -> Sizes:
        if n < 10:
            raise ValueError(f"records={n}: a world needs at least 10 records")
        enterprises = max(1, n * 3 // 5)
        branches = max(1, n * 3 // 20)
        tax_individuals = max(1, n // 10)
        return cls(
            parcels=n - n // 4, certificates=n // 4,  # land: N
            enterprises=enterprises, branches=branches,  # business: 0.75 N
            persons=min(max(n // 2, 50), 1_000_000),
            tax_individuals=tax_individuals,
            notices=max(1, n - enterprises - branches - tax_individuals),  # tax: N
            permits=n,  # construction: N
        )


@dataclass(frozen=True, slots=True)
class Person:
    index: int
    citizen_id: str
    name: str
    male: bool
    birth_year: int


@dataclass(frozen=True, slots=True)
class Enterprise:
    index: int
    tax_code: str
    name: str
    enterprise_type: str
    status: str
    registered: datetime
    capital_vnd: int
    commune: Commune
    address: str
    legal_rep: int  # person index


@dataclass(frozen=True, slots=True)
class Parcel:
    index: int
    commune: Commune  # where it is under 2025 codes
    old_commune: OldCommune | None  # where it was before (None: the commune had no predecessor)
    map_sheet: int
    parcel_number: int
    area_m2: str
    land_use: str
    holder_type: str  # enterprise | individual
    holder_index: int
    house_number: int
    street: str


class World:
    """The shared entities of one seed and scale. Cheap to build: nothing is generated up front."""

    def __init__(self, seed: int, records: int, province: str = DEFAULT_PROVINCE) -> None:
        self.seed = seed
        self.records = records
        self.sizes = Sizes.of(records)
        self.province: Province = load_province(province)
        self._holders = _holder_count(self.sizes.enterprises)
        self.person = lru_cache(maxsize=4096)(self._person)
        self.enterprise = lru_cache(maxsize=4096)(self._enterprise)
        self.parcel = lru_cache(maxsize=4096)(self._parcel)

    def rng(self, kind: str, index: int, salt: str = "") -> random.Random:
        return random.Random(f"{self.seed}:{kind}:{index}:{salt}")

    def history_time(self, rng: random.Random) -> datetime:
        """An initial record's updated_at: spread over 2019-01-01 .. 2025-12-31."""
        return _HISTORY_START + timedelta(seconds=rng.randrange(_HISTORY_SECONDS))

    def _person(self, i: int) -> Person:
        rng = self.rng("person", i)
        male = rng.random() < 0.5
        year = rng.randint(1950, 2004)
        return Person(i, ids.citizen_id(i, rng.choice(_BIRTH_PROVINCES), male, year),
                      names.person_name(rng, male), male, year)

    def _enterprise(self, e: int) -> Enterprise:
        rng = self.rng("enterprise", e)
        kind = rng.choices(ENTERPRISE_TYPES, _ENTERPRISE_TYPE_WEIGHTS)[0]
        commune = rng.choice(self.province.communes)
        status = rng.choices(("active", "suspended", "dissolving", "dissolved", "bankrupt"), (85, 5, 4, 5, 1))[0]
        return Enterprise(
            index=e, tax_code=ids.tax_code(e), name=names.company_name(rng, kind), enterprise_type=kind,
            status=status,
            registered=datetime(2000, 1, 1, tzinfo=UTC) + timedelta(days=rng.randrange(9300)),
            capital_vnd=rng.choice((1, 2, 5, 10, 20, 50, 100, 500)) * 1_000_000_000 // rng.choice((1, 2, 4)),
            commune=commune, address=names.street_address(rng, commune.name, self.province.name),
            legal_rep=rng.randrange(self.sizes.persons),
        )

    def _parcel(self, p: int) -> Parcel:
        rng = self.rng("parcel", p)
        commune = rng.choice(self.province.communes)
        old = rng.choice(commune.sources) if commune.sources else None
        if p < self._holders:  # each parcel-holding enterprise holds at least this one
            holder_type, holder = "enterprise", _holder_enterprise(p)
        elif rng.random() < 0.3:
            holder_type, holder = "enterprise", _holder_enterprise(rng.randrange(self._holders))
        else:
            holder_type, holder = "individual", rng.randrange(self.sizes.persons)
        land_use = rng.choice(ENTERPRISE_LAND_USE if holder_type == "enterprise" else LAND_USE_CODES)
        area = rng.lognormvariate(5.3, 0.9)
        return Parcel(
            index=p, commune=commune, old_commune=old,
            # sheet and number are unique together across the province, whatever the commune
            map_sheet=p // 997 + 1, parcel_number=p % 997 + 1,
            area_m2=f"{area:.2f}".rstrip("0").rstrip("."), land_use=land_use,
            holder_type=holder_type, holder_index=holder, house_number=rng.randint(1, 399),
            street=rng.choice(names.STREETS),
        )

    def holder(self, parcel: Parcel) -> tuple[str, str, str]:
        """(holder type, id, name as registered) of a parcel's holder."""
        if parcel.holder_type == "enterprise":
            enterprise = self.enterprise(parcel.holder_index)
            return "enterprise", enterprise.tax_code, enterprise.name
        person = self.person(parcel.holder_index)
        return "individual", person.citizen_id, person.name

    def unknown_investor(self, j: int, rng: random.Random) -> tuple[str, str, str]:
        """An investor no agency knows (PROTOCOL.md, Links: ~5% of permits)."""
        if rng.random() < 0.5:
            return "enterprise", ids.tax_code(ids.UNKNOWN_BASE + j % 900_000), names.company_name(rng, "TNHH2TV")
        male = rng.random() < 0.5
        # born in a province no world person is born in, so the ID is nobody's
        cid = ids.citizen_id(j, _UNKNOWN_BIRTH_PROVINCE, male, rng.randint(1960, 2000))
        return "individual", cid, names.person_name(rng, male)


def _holder_count(enterprises: int) -> int:
    """About 60% of enterprises hold parcels: those with index % 5 < 3."""
    return (enterprises // 5) * 3 + min(enterprises % 5, 3)


def _holder_enterprise(k: int) -> int:
    return 5 * (k // 3) + k % 3
