"""The access policy: which agencies are clients, with which key, and what each may read and why.

A YAML file (see `policy.example.yaml`) declares each client: its API key as a SHA-256 hex digest (the key
itself is never stored), its rate limit, whether it is an auditor, and its grants. A grant names one
dataset, the columns it may read (`"*"` for all), the PII classes it sees in clear (`clear: [personal]`;
anything personal or sensitive not listed is masked) and the purposes it may state. The file is checked
when loaded: a wrong key fails with the file and the path of the bad entry.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal, cast, get_args

import yaml

from core.errors import ConfigError

PiiClass = Literal["public", "personal", "sensitive"]
PII_CLASSES: tuple[PiiClass, ...] = get_args(PiiClass)

PURPOSE_PATTERN = re.compile(r"^[a-z][a-z0-9_]{1,49}$")
CLIENT_PATTERN = re.compile(r"^[a-z][a-z0-9_]{1,49}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")

# Views take the PII class of a column from the dataset it is copied from; view-only columns are public.
_VIEW_SOURCES: dict[str, tuple[str, ...]] = {
    "enterprise_profile": ("enterprises",),
    "parcel_profile": ("parcels",),
}
_VIEW_CLASSES: dict[str, dict[str, PiiClass]] = {
    # a reference that found no target can be a holder's or investor's ID
    "view_unmatched": {"reference": "sensitive"},
}


@cache
def column_classes(dataset: str) -> dict[str, PiiClass]:
    """PII class of each known column of `dataset` (columns not listed are public)."""
    from schemas.contract import contracts

    known = contracts()
    if dataset in known:
        return {c.name: c.pii for c in known[dataset].columns}
    classes: dict[str, PiiClass] = {}
    for source in _VIEW_SOURCES.get(dataset, ()):
        classes.update({c.name: c.pii for c in known[source].columns if c.pii != "public"})
    classes.update(_VIEW_CLASSES.get(dataset, {}))
    return classes


def source_of(dataset: str, column: str) -> str | None:
    """The dataset a view's column is copied from (None for a dataset's own or a view-only column)."""
    from schemas.contract import contracts

    for source in _VIEW_SOURCES.get(dataset, ()):
        if column in {c.name for c in contracts()[source].columns}:
            return source
    return None


def pii_class(dataset: str, column: str) -> PiiClass:
    return column_classes(dataset).get(column, "public")


@dataclass(frozen=True, slots=True)
class Grant:
    dataset: str
    columns: frozenset[str] | None  # None: every column
    clear: frozenset[PiiClass]  # classes shown unmasked; public always is
    purposes: frozenset[str]

    def readable(self, column: str) -> bool:
        return self.columns is None or column in self.columns


@dataclass(frozen=True, slots=True)
class RateLimit:
    per_second: float
    burst: int


@dataclass(frozen=True, slots=True)
class Client:
    name: str
    agency: str
    key_sha256: str = field(repr=False)
    rate: RateLimit
    auditor: bool
    grants: Mapping[str, Grant]  # by dataset
    # Where its subscriptions may be delivered: URL prefixes an operator declared. None declared: no
    # subscriptions, or any client could make our deliverer POST into the province's internal network.
    callbacks: tuple[str, ...] = ()

    def grant(self, dataset: str) -> Grant | None:
        return self.grants.get(dataset)

    @property
    def purposes(self) -> list[str]:
        """Every purpose any of its grants allows, sorted."""
        return sorted({p for g in self.grants.values() for p in g.purposes})


@dataclass(frozen=True, slots=True)
class XRoadTrust:
    """A security server in front: requests from its addresses (or bearing its TLS client certificate) are
    identified by X-Road-Client, mapped to a client of the policy by member/subsystem id."""

    addresses: frozenset[str]
    certificates: frozenset[str]  # SHA-256 fingerprints (hex) of the security server's client certificate
    members: Mapping[str, str]  # "INSTANCE/CLASS/MEMBER/SUBSYSTEM" -> client name


# Requests without a known key share one bucket per address: generous, it is there to slow key guessing.
ANONYMOUS_RATE = RateLimit(100.0, 1000)


@dataclass(frozen=True, slots=True)
class Policy:
    clients: Mapping[str, Client]
    by_key_hash: Mapping[str, Client]
    anonymous_rate: RateLimit = ANONYMOUS_RATE
    xroad: XRoadTrust | None = None
    purposes: Mapping[str, Basis] = field(default_factory=dict)  # purpose -> the law that allows it
    refusal_basis: Basis | None = None  # what a refusal rests on, when the purpose names nothing better

    @classmethod
    def of(cls, clients: list[Client], anonymous_rate: RateLimit = ANONYMOUS_RATE,
           xroad: XRoadTrust | None = None, purposes: Mapping[str, Basis] | None = None,
           refusal_basis: Basis | None = None) -> Policy:
        return cls({c.name: c for c in clients}, {c.key_sha256: c for c in clients}, anonymous_rate, xroad,
                   dict(purposes or {}), refusal_basis)

    def refusal(self, asked: str, purpose: str | None, why_vi: str, why_en: str) -> dict[str, Any]:
        """A refusal in writing (Decree 194/2025): what was asked, why it is refused and on what basis."""
        basis = self.refusal_basis
        return {"refusal": {
            "asked": asked, "purpose": purpose, "reason": {"vi": why_vi, "en": why_en},
            "legal_basis": basis.json() if basis else None,
            "purpose_basis": self.purposes[purpose].json() if purpose is not None and purpose in self.purposes
            else None,
        }}


@dataclass(frozen=True, slots=True)
class Basis:
    """A legal instrument and its article, as a refusal or a purpose cites it."""

    document: str  # e.g. "Nghị định 13/2023/NĐ-CP"
    article: str  # e.g. "Điều 11"
    title_vi: str = ""
    title_en: str = ""

    def json(self) -> dict[str, str]:
        return {"document": self.document, "article": self.article, "title_vi": self.title_vi,
                "title_en": self.title_en}


def _basis(node: Any, origin: str, path: str) -> Basis:
    if not isinstance(node, Mapping) or not isinstance(node.get("document"), str) or not isinstance(
            node.get("article"), str):
        raise _fail(origin, path, "expected {document: ..., article: ..., title_vi: ..., title_en: ...}")
    unknown = set(node) - {"document", "article", "title_vi", "title_en"}
    if unknown:
        raise _fail(origin, f"{path}.{sorted(unknown)[0]}", "unknown key")
    return Basis(node["document"], node["article"], str(node.get("title_vi", "")), str(node.get("title_en", "")))


def _fail(origin: str, path: str, message: str) -> ConfigError:
    return ConfigError(f"{origin}: {path}: {message}", source="policy")


def _grant(node: Any, origin: str, path: str) -> Grant:
    if not isinstance(node, Mapping):
        raise _fail(origin, path, "a grant is a mapping with dataset, columns, clear, purposes")
    unknown = set(node) - {"dataset", "columns", "clear", "purposes"}
    if unknown:
        raise _fail(origin, f"{path}.{sorted(unknown)[0]}", "unknown key")
    dataset = node.get("dataset")
    if not isinstance(dataset, str) or not dataset:
        raise _fail(origin, f"{path}.dataset", "a dataset name is required")
    columns = node.get("columns", "*")
    if columns != "*" and not (isinstance(columns, list) and all(isinstance(c, str) for c in columns)):
        raise _fail(origin, f"{path}.columns", 'expected "*" or a list of column names')
    clear = node.get("clear", [])
    if not isinstance(clear, list) or any(c not in PII_CLASSES for c in clear):
        raise _fail(origin, f"{path}.clear", f"expected a list of {', '.join(PII_CLASSES)}")
    purposes = node.get("purposes")
    if not isinstance(purposes, list) or not purposes or not all(
        isinstance(p, str) and PURPOSE_PATTERN.match(p) for p in purposes
    ):
        raise _fail(origin, f"{path}.purposes", "expected a non-empty list of purposes like tax_assessment")
    return Grant(
        dataset=dataset,
        columns=None if columns == "*" else frozenset(columns),
        clear=frozenset(cast(list[PiiClass], clear)) | {"public"},
        purposes=frozenset(purposes),
    )


def _rate(node: Any, origin: str, path: str, default: RateLimit) -> RateLimit:
    if not isinstance(node, Mapping):
        raise _fail(origin, path, "expected {per_second: N, burst: N}")
    per_second, burst = node.get("per_second", default.per_second), node.get("burst", default.burst)
    if not isinstance(per_second, (int, float)) or per_second <= 0 or not isinstance(burst, int) or burst < 1:
        raise _fail(origin, path, "per_second must be > 0 and burst an integer >= 1")
    return RateLimit(float(per_second), burst)


def _client(name: Any, node: Any, origin: str) -> Client:
    path = f"clients.{name}"
    if not isinstance(name, str) or not CLIENT_PATTERN.match(name):
        raise _fail(origin, path, "client names are lower-case words like tax_office")
    if not isinstance(node, Mapping):
        raise _fail(origin, path, "expected a mapping")
    unknown = set(node) - {"agency", "key_sha256", "rate", "auditor", "grants", "callbacks"}
    if unknown:
        raise _fail(origin, f"{path}.{sorted(unknown)[0]}", "unknown key")
    key_hash = node.get("key_sha256")
    if not isinstance(key_hash, str) or not _SHA256.match(key_hash):
        raise _fail(origin, f"{path}.key_sha256",
                    "expected the SHA-256 hex digest of the key (lienthong serve --new-key prints one)")
    rate = _rate(node.get("rate", {}), origin, f"{path}.rate", RateLimit(50, 100))
    grants_node = node.get("grants", [])
    if not isinstance(grants_node, list):
        raise _fail(origin, f"{path}.grants", "expected a list")
    grants: dict[str, Grant] = {}
    for i, g in enumerate(grants_node):
        grant = _grant(g, origin, f"{path}.grants[{i}]")
        if grant.dataset in grants:
            raise _fail(origin, f"{path}.grants[{i}].dataset", f"{grant.dataset} is granted twice")
        grants[grant.dataset] = grant
    return Client(
        name=name, agency=str(node.get("agency", name)), key_sha256=key_hash,
        rate=rate, auditor=bool(node.get("auditor", False)), grants=grants,
        callbacks=_callbacks(node.get("callbacks", []), origin, f"{path}.callbacks"),
    )


def _callbacks(node: Any, origin: str, path: str) -> tuple[str, ...]:
    from urllib.parse import urlsplit

    if not isinstance(node, list) or not all(isinstance(u, str) for u in node):
        raise _fail(origin, path, "expected a list of URL prefixes like https://dossier.example.gov.vn/hooks/")
    for i, url in enumerate(node):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password \
                or parts.query or parts.fragment:
            raise _fail(origin, f"{path}[{i}]", "expected an http(s) URL prefix with a host, no credentials, "
                                                "query or fragment")
    return tuple(node)


def policy_from_dict(document: Any, origin: str = "<policy>") -> Policy:
    if not isinstance(document, Mapping) or not isinstance(document.get("clients"), Mapping):
        raise _fail(origin, "clients", "a policy is a mapping with a `clients` mapping")
    unknown = set(document) - {"clients", "anonymous_rate", "xroad", "purposes", "refusal_basis"}
    if unknown:
        raise _fail(origin, sorted(unknown)[0], "unknown key")
    anonymous = _rate(document.get("anonymous_rate", {}), origin, "anonymous_rate", ANONYMOUS_RATE)
    clients = [_client(name, node, origin) for name, node in document["clients"].items()]
    seen: dict[str, str] = {}
    for c in clients:
        if c.key_sha256 in seen:
            raise _fail(origin, f"clients.{c.name}.key_sha256", f"same key as {seen[c.key_sha256]}")
        seen[c.key_sha256] = c.name
    names = {c.name for c in clients}
    xroad = _xroad(document["xroad"], origin, names) if "xroad" in document else None
    purposes_node = document.get("purposes", {})
    if not isinstance(purposes_node, Mapping):
        raise _fail(origin, "purposes", "expected {purpose: {document: ..., article: ...}}")
    purposes = {}
    for name, node in purposes_node.items():
        if not isinstance(name, str) or not PURPOSE_PATTERN.match(name):
            raise _fail(origin, f"purposes.{name}", "purposes are lower-case words like tax_assessment")
        purposes[name] = _basis(node, origin, f"purposes.{name}")
    refusal = _basis(document["refusal_basis"], origin, "refusal_basis") if "refusal_basis" in document else None
    return Policy.of(clients, anonymous, xroad, purposes, refusal)


_XROAD_ID = re.compile(r"^[^/\s]+/[^/\s]+/[^/\s]+(/[^/\s]+)?$")


def _xroad(node: Any, origin: str, names: set[str]) -> XRoadTrust:
    if not isinstance(node, Mapping):
        raise _fail(origin, "xroad", "expected {trusted_addresses: [...], trusted_certificates: [...], members: {...}}")
    unknown = set(node) - {"trusted_addresses", "trusted_certificates", "members"}
    if unknown:
        raise _fail(origin, f"xroad.{sorted(unknown)[0]}", "unknown key")
    addresses, certs = node.get("trusted_addresses", []), node.get("trusted_certificates", [])
    if not isinstance(addresses, list) or not all(isinstance(a, str) for a in addresses):
        raise _fail(origin, "xroad.trusted_addresses", "expected a list of IP addresses")
    if not isinstance(certs, list) or not all(isinstance(c, str) and _SHA256.match(c.lower().replace(":", ""))
                                              for c in certs):
        raise _fail(origin, "xroad.trusted_certificates", "expected SHA-256 fingerprints of client certificates")
    if not addresses and not certs:
        raise _fail(origin, "xroad", "trust needs trusted_addresses or trusted_certificates")
    members = node.get("members", {})
    if not isinstance(members, Mapping):
        raise _fail(origin, "xroad.members", "expected a mapping of X-Road client ids to client names")
    for member, client in members.items():
        if not isinstance(member, str) or not _XROAD_ID.match(member):
            raise _fail(origin, f"xroad.members.{member}", "expected INSTANCE/CLASS/MEMBER[/SUBSYSTEM]")
        if client not in names:
            raise _fail(origin, f"xroad.members.{member}", f"{client!r} is not a client of this policy")
    return XRoadTrust(frozenset(addresses), frozenset(c.lower().replace(":", "") for c in certs), dict(members))


def load_policy(path: Path) -> Policy:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read the policy: {exc}", source="policy") from exc
    return policy_from_dict(document, str(path))
