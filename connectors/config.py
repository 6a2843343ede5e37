"""Source files: one YAML file per agency system, declared as data and checked when loaded.

A source file names the endpoint, the protocol, auth (secrets by reference only), limits, retries and
one or more streams (one stream per dataset). The models are in `connectors.declarations`; `read_source`
turns a file into them without looking at the environment; any key that is unknown, missing or of the
wrong kind fails with its path, e.g. `sources/tax.yaml: streams.taxpayers.pagination.style: unknown value
'cursr'`. `resolve_endpoint` applies a deployment's endpoint (`LIENTHONG_AGENCY_<NAME>_URL`, or an
Airflow connection through `lienthong.airflow.hook`) when a run starts; `load_source` does both.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from connectors.declarations.auth import (
    ApiKeyAuth,
    Auth,
    AuthType,
    BasicAuth,
    BearerAuth,
    NoAuth,
    OAuth2Auth,
    SecretRef,
    TlsConfig,
    WsseUsernameAuth,
    XRoadAuth,
)
from connectors.declarations.pagination import (
    CursorPagination,
    LinkHeaderPagination,
    NoPagination,
    OffsetPagination,
    PagePagination,
    Pagination,
    PaginationStyle,
    TokenPagination,
)
from connectors.declarations.source import Limits, Protocol, RetryConfig, SoapConfig, SourceConfig
from connectors.declarations.stream import DeleteMode, Deletes, FieldType, Incremental, StreamConfig
from connectors.paths import SOURCES_DIR
from core.declarations import read_yaml, validate
from core.errors import ConfigError
from core.registry import registry_dirs

__all__ = [
    "SOURCES_DIR", "ApiKeyAuth", "Auth", "AuthType", "BasicAuth", "BearerAuth", "CursorPagination", "DeleteMode",
    "Deletes", "FieldType", "Incremental", "Limits", "LinkHeaderPagination", "NoAuth", "NoPagination",
    "OAuth2Auth", "OffsetPagination", "PagePagination", "Pagination", "PaginationStyle", "Protocol", "RetryConfig",
    "SecretRef", "SoapConfig", "SourceConfig", "StreamConfig", "TlsConfig", "TokenPagination", "WsseUsernameAuth",
    "XRoadAuth", "load_source", "parse_source", "read_source", "resolve_endpoint",
]


def parse_source(data: object, where: str, path: Path) -> SourceConfig:
    """Validate a source document (already parsed from YAML); `where` names it in errors."""
    source: SourceConfig = validate(SourceConfig, data, where, context={"path": path})
    return source


def source_dirs(environ: Mapping[str, str] | None = None) -> tuple[Path, ...]:
    """`connectors/sources`, then the `sources/` of each registry `LIENTHONG_REGISTRY` names."""
    return (SOURCES_DIR, *(d / "sources" for d in registry_dirs(environ)))


def source_files(environ: Mapping[str, str] | None = None) -> dict[str, Path]:
    """Every source file of every registry, by name; one name in two registries is an error."""
    found: dict[str, Path] = {}
    for directory in source_dirs(environ):
        for path in sorted(directory.glob("*.yaml")):
            if path.stem in found:
                raise ConfigError(f"source {path.stem!r} is declared twice: {found[path.stem]} and {path}")
            found[path.stem] = path
    return found


def source_path(path_or_name: str | Path) -> Path:
    """A source file's path: a path, or the name of one in a registry (`connectors/sources/` and those
    `LIENTHONG_REGISTRY` adds)."""
    path = Path(path_or_name)
    if not path.suffix and not path.exists():
        path = source_files().get(str(path_or_name), SOURCES_DIR / f"{path_or_name}.yaml")
    return path


def read_source(path_or_name: str | Path) -> SourceConfig:
    """Read and validate a source file as declared (the environment is not read)."""
    path = source_path(path_or_name)
    where = f"{path.parent.name}/{path.name}"
    if not path.exists():
        known = ", ".join(sorted(source_files()))
        raise ConfigError(f"{where}: no such source file (known sources: {known})")
    return parse_source(read_yaml(path, where), where, path.resolve())


def resolve_endpoint(source: SourceConfig, override: str | None) -> SourceConfig:
    """The source with a deployment's endpoint. A base URL (no path) keeps the file's service path:
    `http://h:p` + `/ws/land`."""
    if not override:
        return source
    service_path = urlsplit(source.endpoint).path
    endpoint = override.rstrip("/") + service_path if urlsplit(override).path in ("", "/") else override
    return dataclasses.replace(source, endpoint=endpoint.rstrip("/"))


def load_source(path_or_name: str | Path, environ: Mapping[str, str] | None = None) -> SourceConfig:
    """Read a source file and resolve its endpoint from settings (`LIENTHONG_AGENCY_<NAME>_URL` in
    `environ`, default the process environment): what a run does when it starts."""
    from core.settings import load_settings

    source = read_source(path_or_name)
    return resolve_endpoint(source, load_settings(environ).agency_urls.get(source.name))
