"""Loading a WSDL for zeep, hardened and offline-capable.

The WSDL is fetched by the source's own HTTP caller (retries, size bound), or read from a local file.
Imports of remote XSDs/WSDLs are rewritten to local files from the source's catalog, recursively, and
zeep is handed only local files: with `forbid_external` on it would refuse a remote import anyway,
so a WSDL that imports remote schemas loads offline or not at all.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

from lxml import etree

from connectors.config import SourceConfig
from core.errors import ConfigError

_REF_ATTRS = ("schemaLocation", "location")
_IMPORTS = ("import", "include", "redefine")  # wsdl:import, xsd:import/include/redefine


def _parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def zeep_settings() -> Any:
    """zeep settings with every XML hardening on."""
    from zeep import Settings

    return Settings(strict=True, forbid_dtd=True, forbid_entities=True, forbid_external=True,
                    xml_huge_tree=False)


class WsdlLocaliser:
    """Writes a WSDL and everything it imports into `workdir`, imports pointing at local copies."""

    def __init__(self, source: SourceConfig, workdir: Path, fetch: Callable[[str], bytes]) -> None:
        self.source, self.workdir, self.fetch = source, workdir, fetch
        self.catalog = source.soap.catalog if source.soap else {}
        self.offline = bool(source.soap and source.soap.offline)
        self._done: dict[str, Path] = {}

    def _read(self, location: str) -> bytes:
        if location in self.catalog:
            return self._local(self.catalog[location]).read_bytes()
        if urlsplit(location).scheme in ("http", "https"):
            if self.offline:
                raise ConfigError(f"{self.source.path.name}: soap.catalog has no entry for {location!r} "
                                  "and soap.offline is on", source=self.source.name)
            return self.fetch(location)
        return self._local(location.removeprefix("file://")).read_bytes()

    def _local(self, path: str) -> Path:
        p = Path(path)
        return p if p.is_absolute() else (self.source.path.parent / p)

    def localise(self, location: str) -> Path:
        if location in self._done:
            return self._done[location]
        data = self._read(location)
        if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
            raise ConfigError(f"WSDL/XSD {location!r} has a DTD or entities; refused", source=self.source.name)
        target = self.workdir / (hashlib.sha256(location.encode()).hexdigest()[:16] + ".xml")
        self._done[location] = target
        root = etree.fromstring(data, _parser())
        base = location if urlsplit(location).scheme else str(self._local(location).resolve())
        for element in root.iter():
            if not isinstance(element.tag, str) or etree.QName(element).localname not in _IMPORTS:
                continue
            for attr in _REF_ATTRS:
                ref = element.get(attr)
                if not ref:
                    continue
                absolute = ref if ref in self.catalog else urljoin(base if "://" in base else f"file://{base}", ref)
                absolute = absolute.removeprefix("file://") if absolute.startswith("file://") else absolute
                element.set(attr, str(self.localise(absolute)))
        target.write_bytes(etree.tostring(root, xml_declaration=True, encoding="utf-8"))
        return target


def wsdl_location(source: SourceConfig) -> str:
    assert source.soap is not None
    return source.soap.wsdl.replace("{endpoint}", source.endpoint)
