"""XML catalogs: where the remote schemas a WSDL imports live on this machine.

As in OASIS XML Catalogs 1.1: exact entries (`uri`, `system`) and prefix rewrites (`rewriteURI`,
`rewriteSystem`: one line maps `https://agency.example/xsd/` to a local folder), the longest matching
prefix winning; `nextCatalog` chains another file. http and https locations are treated alike (agencies
publish the same schema under both). A source file's `soap.catalog` mapping uses the same rules: a key
ending in "/" is a prefix, a value is a file or folder relative to the source file, or a key `catalog`
names an OASIS catalog file (or a folder holding `catalog.xml`).

Built in, before any catalog: the SOAP 1.1 encoding schema and the W3C xml.xsd, which zeep imports by
itself for rpc/encoded WSDLs and the xml: namespace (plain zeep downloads them; we never do).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from lxml import etree

from core.errors import ConfigError

CATALOG_NS = "urn:oasis:names:tc:entity:xmlns:xml:catalog"
CATALOGS_DIR = Path(__file__).parent / "catalogs"
XROAD_CATALOG = CATALOGS_DIR / "xroad" / "catalog.xml"
_BUILTIN_DIR = CATALOGS_DIR / "builtin"
_BUILTINS = {
    "//schemas.xmlsoap.org/soap/encoding/": "soap-encoding.xsd",
    "//schemas.xmlsoap.org/soap/encoding": "soap-encoding.xsd",
    "//www.w3.org/2001/xml.xsd": "xml.xsd",
}


def is_remote(location: str) -> bool:
    return urlsplit(location).scheme in ("http", "https")


def normalise(uri: str) -> str:
    """http and https alike: the scheme is dropped, the host lower-cased."""
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https"):
        return uri
    rest = uri.split(":", 1)[1]
    return "//" + parts.netloc.lower() + rest[2 + len(parts.netloc):]


def builtin(uri: str) -> Path | None:
    name = _BUILTINS.get(normalise(uri))
    return _BUILTIN_DIR / name if name else None


@dataclass(slots=True)
class Catalog:
    exact: dict[str, Path] = field(default_factory=dict)
    prefixes: list[tuple[str, Path]] = field(default_factory=list)  # longest first
    by_name: dict[str, list[Path]] = field(default_factory=dict)  # a plain folder: files by name

    def resolve(self, uri: str) -> Path | None:
        """The local file for `uri`, or None when the catalog does not know it."""
        key = normalise(uri)
        if key in self.exact:
            return self.exact[key]
        for prefix, target in self.prefixes:
            if key.startswith(prefix):
                return target / key[len(prefix):].split("?", 1)[0].split("#", 1)[0]
        found = builtin(uri)
        if found is not None:
            return found
        if is_remote(uri):
            name = urlsplit(uri).path.rsplit("/", 1)[-1]
            candidates = self.by_name.get(name, [])
            if len(candidates) == 1:
                return candidates[0]
        return None

    def add(self, other: Catalog) -> None:
        self.exact.update(other.exact)
        self.prefixes = sorted([*self.prefixes, *other.prefixes], key=lambda p: -len(p[0]))
        for name, paths in other.by_name.items():
            self.by_name.setdefault(name, []).extend(paths)

    def add_entry(self, uri: str, target: Path) -> None:
        if uri.endswith("/"):
            self.prefixes = sorted([*self.prefixes, (normalise(uri), target)], key=lambda p: -len(p[0]))
        else:
            self.exact[normalise(uri)] = target

    @classmethod
    def from_mapping(cls, entries: Mapping[str, str], base: Path) -> Catalog:
        catalog = cls()
        for uri, value in entries.items():
            target = Path(value) if Path(value).is_absolute() else base / value
            if uri == "catalog":
                catalog.add(cls.load(target))
            else:
                catalog.add_entry(uri, target)
        return catalog

    @classmethod
    def load(cls, path: Path, _seen: frozenset[Path] = frozenset()) -> Catalog:
        """An OASIS catalog file, or a folder: its `catalog.xml`, else every file in it by name."""
        if path.is_dir():
            if (path / "catalog.xml").is_file():
                return cls.load(path / "catalog.xml", _seen)
            catalog = cls()
            for file in sorted(path.rglob("*")):
                if file.is_file() and file.suffix.lower() in (".xsd", ".wsdl", ".xml"):
                    catalog.by_name.setdefault(file.name, []).append(file)
            return catalog
        if not path.is_file():
            raise ConfigError(f"XML catalog {path}: no such file or folder")
        parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
        try:
            root = etree.parse(str(path), parser).getroot()
        except etree.XMLSyntaxError as exc:
            raise ConfigError(f"XML catalog {path}: not well-formed XML: {exc}") from None
        if root.tag != f"{{{CATALOG_NS}}}catalog":
            raise ConfigError(f"XML catalog {path}: the root is {root.tag!r}, not an OASIS <catalog>")
        catalog, here = cls(), path.parent
        for el in root.iter(f"{{{CATALOG_NS}}}*"):
            tag = etree.QName(el).localname
            if tag in ("uri", "system"):
                name = el.get("name") or el.get("systemId")
                if name and el.get("uri"):
                    catalog.exact[normalise(name)] = here / str(el.get("uri"))
            elif tag in ("rewriteURI", "rewriteSystem"):
                start = el.get("uriStartString") or el.get("systemIdStartString")
                if start and el.get("rewritePrefix") is not None:
                    catalog.prefixes.append((normalise(start), here / str(el.get("rewritePrefix"))))
            elif tag == "nextCatalog" and el.get("catalog"):
                nxt = (here / str(el.get("catalog"))).resolve()
                if nxt not in _seen:
                    catalog.add(cls.load(nxt, _seen | {path.resolve()}))
        catalog.prefixes.sort(key=lambda p: -len(p[0]))
        return catalog
