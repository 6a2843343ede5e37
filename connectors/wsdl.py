"""Loading a WSDL for zeep, hardened and offline-capable, through an XML catalog.

The WSDL is fetched by the source's own HTTP caller (retries, size bound), or read from a local file.
Every import of a WSDL or XSD is resolved through the catalog (connectors/catalog.py: exact entries,
OASIS `rewriteURI`/`rewriteSystem` prefixes, http and https alike, the SOAP encoding schema built in),
relative imports against the importing document's own location, recursively; zeep is handed only the
local copies. With `forbid_external` on, zeep would refuse a remote import anyway, so a WSDL that imports
remote schemas loads offline or not at all.

`WsdlLocaliser(..., collect_missing=True)` does not stop at the first location it cannot resolve: it
walks the whole import graph and lists every missing one (`lienthong wsdl check`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

from lxml import etree

from connectors.catalog import Catalog, is_remote
from connectors.config import SourceConfig
from core.errors import ConfigError

_REF_ATTRS = ("schemaLocation", "location")
SOAP_ENC = "http://schemas.xmlsoap.org/soap/encoding/"
XSD = "http://www.w3.org/2001/XMLSchema"
_IMPORTS = ("import", "include", "redefine")  # wsdl:import, xsd:import/include/redefine


def _parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def zeep_settings() -> Any:
    """zeep settings with every XML hardening on."""
    from zeep import Settings

    return Settings(strict=True, forbid_dtd=True, forbid_entities=True, forbid_external=True,
                    xml_huge_tree=False)


@dataclass(frozen=True, slots=True)
class Missing:
    location: str
    imported_by: str


@dataclass(slots=True)
class _Graph:
    done: dict[str, Path] = field(default_factory=dict)
    missing: list[Missing] = field(default_factory=list)


class WsdlLocaliser:
    """Writes a WSDL and everything it imports into `workdir`, imports pointing at local copies."""

    def __init__(self, where: str, catalog: Catalog, workdir: Path, fetch: Callable[[str], bytes] | None,
                 *, base_dir: Path, source: str | None = None, collect_missing: bool = False) -> None:
        self.where, self.catalog, self.workdir, self.fetch = where, catalog, workdir, fetch
        self.base_dir, self.source, self.collect_missing = base_dir, source, collect_missing
        self._graph = _Graph()

    @property
    def missing(self) -> list[Missing]:
        return list(self._graph.missing)

    def _fail(self, message: str) -> ConfigError:
        return ConfigError(f"{self.where}: {message}", source=self.source)

    def _read(self, location: str, imported_by: str) -> bytes | None:
        local = self.catalog.resolve(location)
        if local is not None:
            if not local.is_file():
                self._missing(location, imported_by, f"the catalog maps it to {local}, which does not exist")
                return None
            return local.read_bytes()
        if is_remote(location):
            if self.fetch is None:
                self._missing(location, imported_by, "no catalog entry for it and soap.offline is on")
                return None
            return self.fetch(location)
        path = Path(location.removeprefix("file://"))
        path = path if path.is_absolute() else self.base_dir / path
        if not path.is_file():
            self._missing(location, imported_by, "no such file")
            return None
        return path.read_bytes()

    def _missing(self, location: str, imported_by: str, why: str) -> None:  # raises unless collecting
        if not self.collect_missing:
            raise self._fail(f"cannot load {location!r} (imported by {imported_by}): {why}; "
                             "map it in soap.catalog (a URL or a prefix ending in '/')")
        self._graph.missing.append(Missing(location, imported_by))

    def localise(self, location: str, imported_by: str = "the source file") -> Path | None:
        """The local copy of `location` (None only when collecting missing locations)."""
        graph = self._graph
        if location in graph.done:
            return graph.done[location]
        target = self.workdir / (hashlib.sha256(location.encode()).hexdigest()[:16] + ".xml")
        graph.done[location] = target  # before recursing: import cycles end here
        data = self._read(location, imported_by)
        if data is None:
            return None
        if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
            raise self._fail(f"WSDL/XSD {location!r} has a DTD or entities; refused")
        try:
            root = etree.fromstring(data, _parser())
        except etree.XMLSyntaxError as exc:
            raise self._fail(f"WSDL/XSD {location!r} is not well-formed XML: {exc}") from None
        # Relative references resolve against the document's own location (its URL when it came
        # from the catalog), so a catalog folder keeps the remote layout's relative imports.
        base = location if "://" in location else "file://" + str(
            (Path(location) if Path(location).is_absolute() else self.base_dir / location).resolve())
        for element in root.iter():
            if not isinstance(element.tag, str) or etree.QName(element).localname not in _IMPORTS:
                continue
            for attr in _REF_ATTRS:
                ref = element.get(attr)
                if not ref:
                    continue
                absolute = urljoin(base, ref) if not is_remote(ref) else ref
                absolute = absolute.removeprefix("file://")
                local = self.localise(absolute, imported_by=_short(location))
                if local is not None:
                    element.set(attr, str(local))
        if SOAP_ENC.encode() in data:
            self._import_soap_encoding(root)
        target.write_bytes(etree.tostring(root, xml_declaration=True, encoding="utf-8"))
        return target

    def _import_soap_encoding(self, root: etree._Element) -> None:
        """An explicit import of the built-in SOAP encoding schema in every schema that lacks one.

        zeep imports that namespace by itself when a type refers to it (rpc/encoded arrays), by its
        remote URL, which `forbid_external` refuses; an explicit local import comes first."""
        local = self.localise(SOAP_ENC, imported_by="zeep's automatic import")
        # The encoding schema itself too: zeep does not count a schema's own namespace as imported.
        for schema in root.iter(f"{{{XSD}}}schema"):
            if any(i.get("namespace") == SOAP_ENC for i in schema.iterchildren(f"{{{XSD}}}import")):
                continue
            element = etree.Element(f"{{{XSD}}}import", namespace=SOAP_ENC, schemaLocation=str(local))
            schema.insert(0, element)


def _short(location: str) -> str:
    return location if is_remote(location) else Path(location).name


def source_catalog(source: SourceConfig) -> Catalog:
    """The source's `soap.catalog` entries (relative paths from the source file's folder)."""
    entries = source.soap.catalog if source.soap else {}
    return Catalog.from_mapping(entries, source.path.parent)


def localiser_for(source: SourceConfig, workdir: Path, fetch: Callable[[str], bytes]) -> WsdlLocaliser:
    offline = bool(source.soap and source.soap.offline)
    return WsdlLocaliser(f"{source.path.name}", source_catalog(source), workdir, None if offline else fetch,
                         base_dir=source.path.parent, source=source.name)


def wsdl_location(source: SourceConfig) -> str:
    assert source.soap is not None
    location = source.soap.wsdl.replace("{endpoint}", source.endpoint)
    return location if "://" in location or Path(location).is_absolute() else str(source.path.parent / location)


def serve_builtin(url: str) -> bytes | None:
    """A built-in schema for a location zeep loads by itself (the SOAP encoding, xml.xsd)."""
    from connectors.catalog import builtin

    path = builtin(url)
    return path.read_bytes() if path is not None else None


def remote(location: str) -> bool:
    return urlsplit(location).scheme in ("http", "https")
