"""Source files: one YAML file per agency system, declared as data and checked when loaded.

A source file names the endpoint, the protocol, auth (secrets by reference only), limits, retries and
one or more streams (one stream per dataset). `load_source` turns it into frozen dataclasses; any key
that is unknown, missing or of the wrong kind fails with its path, e.g.
`sources/tax.yaml: streams.taxpayers.pagination.style: unknown value 'cursr'`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast, get_args
from urllib.parse import urlsplit

import yaml

from core.errors import ConfigError
from core.settings import load_settings

SOURCES_DIR = Path(__file__).parent / "sources"

Protocol = Literal["rest", "soap"]
PaginationStyle = Literal["offset", "cursor", "link_header", "token", "none"]
AuthType = Literal["none", "api_key", "bearer", "basic", "oauth2_client_credentials", "wsse_username", "xroad"]
DeleteMode = Literal["none", "tombstone", "reconcile"]
FieldType = str  # "string", "int64", "float64", "bool", "timestamp", "decimal128(P,S)"

_DECIMAL = re.compile(r"^decimal128\((\d+),\s*(\d+)\)$")
_SIMPLE_TYPES = ("string", "int64", "float64", "bool", "timestamp")


@dataclass(frozen=True, slots=True)
class SecretRef:
    """Where a secret lives: an environment variable or an Airflow connection field, never the value."""

    env: str | None = None
    airflow_conn: str | None = None
    conn_field: Literal["password", "login", "extra"] = "password"
    extra_key: str | None = None  # with conn_field "extra": the key in the connection's extra JSON
    default: str | None = None  # a dev default, only for simulators' documented dev credentials

    def describe(self) -> str:
        return f"env:{self.env}" if self.env else f"airflow_conn:{self.airflow_conn}.{self.conn_field}"


@dataclass(frozen=True, slots=True)
class AuthConfig:
    type: AuthType = "none"
    header: str = "X-API-Key"  # api_key
    username: str | SecretRef | None = None  # basic, wsse_username
    secret: SecretRef | None = None  # api key, bearer token, basic/wsse password, oauth2 client secret
    client_id: str | SecretRef | None = None  # oauth2
    token_url: str | None = None  # oauth2; relative to the endpoint when it starts with "/"
    client_auth: Literal["basic", "form"] = "basic"  # oauth2: how the client id/secret go to the token URL
    scope: str | None = None
    # X-Road headers (business registration)
    xroad_client: str | None = None
    xroad_service_prefix: str | None = None  # the operation name is appended: PREFIX/Operation
    xroad_user_id: str | None = None
    xroad_protocol_version: str = "4.0"


@dataclass(frozen=True, slots=True)
class TlsConfig:
    verify: bool | str = True  # False, True, or a CA bundle path
    client_cert: str | None = None  # mutual TLS: the client certificate file (PEM)
    client_key: SecretRef | str | None = None  # its key file path (or a secret holding the path)


@dataclass(frozen=True, slots=True)
class Limits:
    timeout_seconds: float = 30.0
    connect_timeout_seconds: float = 10.0
    max_response_bytes: int = 64 * 1024 * 1024
    concurrency: int = 2
    rate_per_second: float = 0.0  # 0: unlimited


@dataclass(frozen=True, slots=True)
class RetryConfig:
    attempts: int = 6
    backoff_seconds: float = 0.5
    max_backoff_seconds: float = 30.0
    max_retry_after_seconds: float = 120.0


@dataclass(frozen=True, slots=True)
class Pagination:
    style: PaginationStyle = "none"
    # offset
    offset_param: str = "offset"
    total_field: str | None = "total"
    # cursor / token: the body field with the next cursor and the request parameter that carries it
    cursor_field: str | None = None
    cursor_param: str | None = None
    next_link_field: str | None = None  # cursor: a body field holding the next URL (preferred when set)
    # page size
    limit_param: str | None = None
    page_size: int = 1000


@dataclass(frozen=True, slots=True)
class Incremental:
    cursor_field: str
    param: str  # the request parameter (REST) or operation argument (SOAP) carrying `since`
    initial_value: str = "1970-01-01T00:00:00Z"
    lookback_minutes: float = 0.0
    on_cursor_value_missing: Literal["raise", "include"] = "raise"


@dataclass(frozen=True, slots=True)
class Deletes:
    mode: DeleteMode = "none"
    field: str | None = None  # tombstone: the boolean field that marks one
    # reconcile: where the live keys are listed
    path: str | None = None  # REST
    operation: str | None = None  # SOAP
    records: str | None = None
    pagination: Pagination = dataclasses.field(default_factory=Pagination)
    every_minutes: float = 0.0  # 0: every sync


@dataclass(frozen=True, slots=True)
class StreamConfig:
    name: str
    records: str  # REST: the body field holding the list; SOAP: the response element's repeated child
    fields: Mapping[str, FieldType]
    primary_key: tuple[str, ...]
    path: str | None = None  # REST
    operation: str | None = None  # SOAP
    params: Mapping[str, str] = dataclasses.field(default_factory=dict)
    pagination: Pagination = dataclasses.field(default_factory=Pagination)
    incremental: Incremental | None = None
    deletes: Deletes = dataclasses.field(default_factory=Deletes)
    bulk: bool = False  # SOAP: parse with the lxml bulk path instead of zeep objects


@dataclass(frozen=True, slots=True)
class SoapConfig:
    wsdl: str  # a URL, or a path relative to the source file; "{endpoint}" is replaced
    service: str | None = None
    port: str | None = None
    version: Literal["1.1", "1.2"] = "1.1"
    # remote URL -> local file, so a WSDL importing remote XSDs loads offline
    catalog: Mapping[str, str] = dataclasses.field(default_factory=dict)
    offline: bool = False  # refuse to fetch any WSDL/XSD not in the catalog


@dataclass(frozen=True, slots=True)
class SourceConfig:
    name: str
    protocol: Protocol
    endpoint: str
    streams: Mapping[str, StreamConfig]
    path: Path
    auth: AuthConfig = dataclasses.field(default_factory=AuthConfig)
    tls: TlsConfig = dataclasses.field(default_factory=TlsConfig)
    limits: Limits = dataclasses.field(default_factory=Limits)
    retry: RetryConfig = dataclasses.field(default_factory=RetryConfig)
    soap: SoapConfig | None = None
    description: str = ""

    def stream(self, name: str) -> StreamConfig:
        try:
            return self.streams[name]
        except KeyError:
            raise ConfigError(
                f"{self.path.name}: no stream {name!r}; streams: {', '.join(self.streams)}", source=self.name
            ) from None

    def secrets(self) -> list[SecretRef]:
        """Every secret reference this source names (for redaction and checks)."""
        candidates = [self.auth.username, self.auth.secret, self.auth.client_id, self.tls.client_key]
        return [c for c in candidates if isinstance(c, SecretRef)]


# --- validation ---------------------------------------------------------------------------------

class _Reader:
    """Reads one mapping of the YAML document, naming the path of any bad key."""

    def __init__(self, where: str, path: str, data: object) -> None:
        self.where, self.path = where, path
        if not isinstance(data, Mapping):
            self.fail(f"expected a mapping, got {type(data).__name__}")
        self.data: Mapping[str, Any] = cast(Mapping[str, Any], data)
        self.used: set[str] = set()

    def fail(self, message: str, key: str | None = None) -> ConfigError:
        at = ".".join(p for p in (self.path, key) if p)
        raise ConfigError(f"{self.where}: {at or '(top)'}: {message}")

    def sub(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = None, required: bool = False) -> Any:
        self.used.add(key)
        if key not in self.data or self.data[key] is None:
            if required:
                self.fail("required", key)
            return default
        value = self.data[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if not isinstance(value, kind) or (isinstance(value, bool) and kind in (int, float)):
            names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            self.fail(f"expected {names}, got {type(value).__name__} {value!r}", key)
        return value

    def choice(self, key: str, allowed: tuple[str, ...], default: str | None = None) -> Any:
        value = self.get(key, str, default, required=default is None)
        if value not in allowed:
            self.fail(f"unknown value {value!r}; expected one of {', '.join(allowed)}", key)
        return value

    def secret_or_str(self, key: str) -> str | SecretRef | None:
        self.used.add(key)
        value = self.data.get(key)
        if value is None or isinstance(value, str):
            return value
        return _secret(self.where, self.sub(key), value)

    def secret(self, key: str) -> SecretRef | None:
        self.used.add(key)
        value = self.data.get(key)
        if value is None:
            return None
        if isinstance(value, str):
            self.fail("a secret must be a reference ({env: VAR} or {airflow_conn: ID}), never the value", key)
        return _secret(self.where, self.sub(key), value)

    def done(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            self.fail(f"unknown key{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}")


def _secret(where: str, path: str, data: object) -> SecretRef:
    r = _Reader(where, path, data)
    ref = SecretRef(
        env=r.get("env", str),
        airflow_conn=r.get("airflow_conn", str),
        conn_field=r.choice("field", ("password", "login", "extra"), "password"),
        extra_key=r.get("extra_key", str),
        default=r.get("default", str),
    )
    r.done()
    if (ref.env is None) == (ref.airflow_conn is None):
        r.fail("name exactly one of env, airflow_conn")
    return ref


def _field_type(r: _Reader, name: str, value: object) -> str:
    if not isinstance(value, str) or not (value in _SIMPLE_TYPES or _DECIMAL.match(value)):
        r.fail(f"unknown type {value!r}; expected one of {', '.join(_SIMPLE_TYPES)}, decimal128(P,S)", name)
    return cast(str, value)


def _pagination(where: str, path: str, data: object) -> Pagination:
    r = _Reader(where, path, data if data is not None else {})
    p = Pagination(
        style=r.choice("style", get_args(PaginationStyle), "none"),
        offset_param=r.get("offset_param", str, "offset"),
        total_field=r.get("total_field", str, "total"),
        cursor_field=r.get("cursor_field", str),
        cursor_param=r.get("cursor_param", str),
        next_link_field=r.get("next_link_field", str),
        limit_param=r.get("limit_param", str),
        page_size=r.get("page_size", int, 1000),
    )
    r.done()
    if p.page_size <= 0:
        r.fail("must be positive", "page_size")
    if p.style == "token" and not (p.cursor_field and p.cursor_param):
        r.fail("style token needs cursor_field and cursor_param")
    if p.style == "cursor" and not (p.next_link_field or (p.cursor_field and p.cursor_param)):
        r.fail("style cursor needs next_link_field, or cursor_field and cursor_param")
    return p


def _stream(where: str, name: str, data: object, protocol: Protocol) -> StreamConfig:
    path = f"streams.{name}"
    r = _Reader(where, path, data)
    fields_r = _Reader(where, r.sub("fields"), r.get("fields", Mapping, required=True))
    fields = {k: _field_type(fields_r, k, v) for k, v in fields_r.data.items()}
    fields_r.used.update(fields)
    if not fields:
        r.fail("declare at least one field", "fields")
    key = r.get("primary_key", (list, str), required=True)
    primary_key = (key,) if isinstance(key, str) else tuple(key)
    for k in primary_key:
        if k not in fields:
            r.fail(f"{k!r} is not a declared field", "primary_key")
    incremental = None
    if "incremental" in r.data:
        ir = _Reader(where, r.sub("incremental"), r.get("incremental", Mapping))
        incremental = Incremental(
            cursor_field=ir.get("cursor_field", str, required=True),
            param=ir.get("param", str, required=True),
            initial_value=ir.get("initial_value", str, "1970-01-01T00:00:00Z"),
            lookback_minutes=ir.get("lookback_minutes", float, 0.0),
            on_cursor_value_missing=ir.choice("on_cursor_value_missing", ("raise", "include"), "raise"),
        )
        ir.done()
        if incremental.cursor_field not in fields:
            ir.fail(f"{incremental.cursor_field!r} is not a declared field", "cursor_field")
    deletes = Deletes()
    if "deletes" in r.data:
        dr = _Reader(where, r.sub("deletes"), r.get("deletes", Mapping))
        deletes = Deletes(
            mode=dr.choice("mode", get_args(DeleteMode)),
            field=dr.get("field", str),
            path=dr.get("path", str),
            operation=dr.get("operation", str),
            records=dr.get("records", str),
            pagination=_pagination(where, dr.sub("pagination"), dr.get("pagination", Mapping)),
            every_minutes=dr.get("every_minutes", float, 0.0),
        )
        dr.done()
        if deletes.mode == "tombstone" and deletes.field not in fields:
            dr.fail("mode tombstone needs field, a declared boolean field", "field")
        where_listed = deletes.path if protocol == "rest" else deletes.operation
        if deletes.mode == "reconcile" and not (deletes.records and where_listed):
            dr.fail(f"mode reconcile needs records and {'path' if protocol == 'rest' else 'operation'}")
    stream = StreamConfig(
        name=name,
        records=r.get("records", str, required=True),
        fields=fields,
        primary_key=primary_key,
        path=r.get("path", str, required=protocol == "rest"),
        operation=r.get("operation", str, required=protocol == "soap"),
        params={str(k): str(v) for k, v in r.get("params", Mapping, {}).items()},
        pagination=_pagination(where, r.sub("pagination"), r.get("pagination", Mapping)),
        incremental=incremental,
        deletes=deletes,
        bulk=r.get("bulk", bool, False),
    )
    r.done()
    return stream


def parse_source(data: object, where: str, path: Path, environ: Mapping[str, str] | None = None) -> SourceConfig:
    """Validate a source document (already parsed from YAML); `where` names it in errors."""
    r = _Reader(where, "", data)
    name = r.get("source", str, required=True)
    protocol = r.choice("protocol", get_args(Protocol))
    endpoint = r.get("endpoint", str, required=True)
    override = load_settings(environ).agency_urls.get(name)
    if override:
        # A base URL (no path) keeps the service path of the source file: `http://h:p` + `/ws/land`.
        service_path = urlsplit(endpoint).path
        endpoint = override.rstrip("/") + service_path if urlsplit(override).path in ("", "/") else override
    endpoint = endpoint.rstrip("/")

    ar = _Reader(where, "auth", r.get("auth", Mapping, {}))
    auth = AuthConfig(
        type=ar.choice("type", get_args(AuthType), "none"),
        header=ar.get("header", str, "X-API-Key"),
        username=ar.secret_or_str("username"),
        secret=ar.secret("secret"),
        client_id=ar.secret_or_str("client_id"),
        token_url=ar.get("token_url", str),
        client_auth=ar.choice("client_auth", ("basic", "form"), "basic"),
        scope=ar.get("scope", str),
        xroad_client=ar.get("xroad_client", str),
        xroad_service_prefix=ar.get("xroad_service_prefix", str),
        xroad_user_id=ar.get("xroad_user_id", str),
        xroad_protocol_version=ar.get("xroad_protocol_version", str, "4.0"),
    )
    ar.done()
    needs_secret = ("api_key", "bearer", "basic", "oauth2_client_credentials", "wsse_username")
    if auth.type in needs_secret and auth.secret is None:
        ar.fail(f"auth type {auth.type} needs secret", "secret")
    if auth.type == "oauth2_client_credentials" and not (auth.token_url and auth.client_id):
        ar.fail("oauth2_client_credentials needs token_url and client_id")
    if auth.type == "xroad" and not (auth.xroad_client and auth.xroad_service_prefix):
        ar.fail("xroad needs xroad_client and xroad_service_prefix")

    tr = _Reader(where, "tls", r.get("tls", Mapping, {}))
    tls = TlsConfig(
        verify=tr.get("verify", (bool, str), True),
        client_cert=tr.get("client_cert", str),
        client_key=tr.secret_or_str("client_key"),
    )
    tr.done()
    lr = _Reader(where, "limits", r.get("limits", Mapping, {}))
    limits = Limits(
        timeout_seconds=lr.get("timeout_seconds", float, 30.0),
        connect_timeout_seconds=lr.get("connect_timeout_seconds", float, 10.0),
        max_response_bytes=lr.get("max_response_bytes", int, 64 * 1024 * 1024),
        concurrency=lr.get("concurrency", int, 2),
        rate_per_second=lr.get("rate_per_second", float, 0.0),
    )
    lr.done()
    rr = _Reader(where, "retry", r.get("retry", Mapping, {}))
    retry = RetryConfig(
        attempts=rr.get("attempts", int, 6),
        backoff_seconds=rr.get("backoff_seconds", float, 0.5),
        max_backoff_seconds=rr.get("max_backoff_seconds", float, 30.0),
        max_retry_after_seconds=rr.get("max_retry_after_seconds", float, 120.0),
    )
    rr.done()
    if retry.attempts < 1:
        rr.fail("must be at least 1", "attempts")
    soap = None
    if protocol == "soap":
        sr = _Reader(where, "soap", r.get("soap", Mapping, required=True))
        soap = SoapConfig(
            wsdl=sr.get("wsdl", str, required=True),
            service=sr.get("service", str),
            port=sr.get("port", str),
            version=sr.choice("version", ("1.1", "1.2"), "1.1"),
            catalog={str(k): str(v) for k, v in sr.get("catalog", Mapping, {}).items()},
            offline=sr.get("offline", bool, False),
        )
        sr.done()
    streams_data = r.get("streams", Mapping, required=True)
    streams = {str(n): _stream(where, str(n), d, protocol) for n, d in streams_data.items()}
    if not streams:
        r.fail("declare at least one stream", "streams")
    description = r.get("description", str, "")
    r.done()
    return SourceConfig(
        name=name, protocol=protocol, endpoint=endpoint, streams=streams, path=path, auth=auth, tls=tls,
        limits=limits, retry=retry, soap=soap, description=description,
    )


def load_source(path_or_name: str | Path, environ: Mapping[str, str] | None = None) -> SourceConfig:
    """Load and validate a source file: a path, or the name of one in `connectors/sources/`.

    The endpoint is overridden by `LIENTHONG_AGENCY_<NAME>_URL` when that is set.
    """
    path = Path(path_or_name)
    if not path.suffix and not path.exists():
        path = SOURCES_DIR / f"{path_or_name}.yaml"
    where = f"{path.parent.name}/{path.name}"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        known = ", ".join(sorted(p.stem for p in SOURCES_DIR.glob("*.yaml")))
        raise ConfigError(f"{where}: no such source file (known sources: {known})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where}: not valid YAML: {exc}") from None
    return parse_source(data, where, path.resolve(), environ)
