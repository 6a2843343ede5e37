"""How a source authenticates (`auth:` in a source file), one model per `type`, and its TLS options.

Secrets are named by reference (`SecretRef`), never written in the file; a connector resolves them
when it opens (`connectors.secrets`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BeforeValidator, Discriminator, Field, Tag
from pydantic.dataclasses import dataclass

from core.declarations import FORBID, Bool, Invalid, Str


@dataclass(frozen=True, slots=True, kw_only=True, config=FORBID)
class SecretRef:
    """Where a secret lives: an environment variable or an Airflow connection field, never the value."""

    env: Str | None = None
    airflow_conn: Str | None = None
    # `field:` in the file
    conn_field: Literal["password", "login", "extra"] = Field(
        default="password", validation_alias=AliasChoices("field", "conn_field"))
    extra_key: Str | None = None  # with field "extra": the key in the connection's extra JSON
    default: Str | None = None  # a dev default, only for simulators' documented dev credentials

    def __post_init__(self) -> None:
        if (self.env is None) == (self.airflow_conn is None):
            raise Invalid((), "name exactly one of env, airflow_conn")

    def describe(self) -> str:
        return f"env:{self.env}" if self.env else f"airflow_conn:{self.airflow_conn}.{self.conn_field}"


def _reference_only(value: Any) -> Any:
    if isinstance(value, str):
        raise ValueError("a secret must be a reference ({env: VAR} or {airflow_conn: ID}), never the value")
    return value


Secret = Annotated[SecretRef, BeforeValidator(_reference_only)]
# a user name or client id: written in the file, or a secret reference
NameOrSecret = Annotated[
    Annotated[Str, Tag("text")] | Annotated[SecretRef, Tag("reference")],
    Discriminator(lambda v: "text" if isinstance(v, str) else "reference"),
]


@dataclass(frozen=True, slots=True, kw_only=True, config=FORBID)
class NoAuth:
    type: Literal["none"] = "none"


@dataclass(frozen=True, slots=True, kw_only=True, config=FORBID)
class ApiKeyAuth:
    type: Literal["api_key"]
    secret: Secret
    header: Str = "X-API-Key"


@dataclass(frozen=True, slots=True, kw_only=True, config=FORBID)
class BearerAuth:
    type: Literal["bearer"]
    secret: Secret


@dataclass(frozen=True, slots=True, kw_only=True, config=FORBID)
class BasicAuth:
    type: Literal["basic"]
    username: NameOrSecret | None = None
    secret: Secret


@dataclass(frozen=True, slots=True, kw_only=True, config=FORBID)
class OAuth2Auth:
    type: Literal["oauth2_client_credentials"]
    token_url: Str  # relative to the endpoint when it starts with "/"
    client_id: NameOrSecret
    secret: Secret  # the client secret
    client_auth: Literal["basic", "form"] = "basic"  # how the client id/secret go to the token URL
    scope: Str | None = None


@dataclass(frozen=True, slots=True, kw_only=True, config=FORBID)
class WsseUsernameAuth:
    """WS-Security UsernameToken (SOAP)."""

    type: Literal["wsse_username"]
    username: NameOrSecret | None = None
    secret: Secret


@dataclass(frozen=True, slots=True, kw_only=True, config=FORBID)
class XRoadAuth:
    """X-Road message headers (SOAP): who calls (client) and which service; the operation is appended."""

    type: Literal["xroad"]
    xroad_client: Str  # INSTANCE/CLASS/MEMBER[/SUBSYSTEM], sent as a structured identifier
    xroad_service_prefix: Str  # INSTANCE/CLASS/MEMBER/SUBSYSTEM of the provider; serviceCode = the operation
    xroad_service_version: Str | None = None  # serviceVersion, e.g. v1
    xroad_service_code: Str | None = None  # REST: the service code of the /r1/... paths (SOAP: the operation)
    xroad_user_id: Str | None = None
    xroad_issue: Str | None = None  # the `issue` header (a case or decision number), when the provider asks
    xroad_protocol_version: Str = "4.0"
    # "4": message protocol 4.x headers; "5": the older X-Road 5 set (asutus, andmekogu, isikukood, nimi, id, toimik)
    xroad_headers: Literal["4", "5"] = "4"


def type_(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("type", "none"))
    return str(getattr(value, "type", "none"))


Auth = Annotated[
    Annotated[NoAuth, Tag("none")] | Annotated[ApiKeyAuth, Tag("api_key")] | Annotated[BearerAuth, Tag("bearer")]
    | Annotated[BasicAuth, Tag("basic")] | Annotated[OAuth2Auth, Tag("oauth2_client_credentials")]
    | Annotated[WsseUsernameAuth, Tag("wsse_username")] | Annotated[XRoadAuth, Tag("xroad")],
    Discriminator(type_),
]
AuthType = Literal["none", "api_key", "bearer", "basic", "oauth2_client_credentials", "wsse_username", "xroad"]


def secrets_of(auth: object) -> list[SecretRef]:
    """Every secret reference an auth model names (for redaction and checks)."""
    names = ("username", "secret", "client_id")
    return [ref for ref in (getattr(auth, n, None) for n in names) if isinstance(ref, SecretRef)]


@dataclass(frozen=True, slots=True, kw_only=True, config=FORBID)
class TlsConfig:
    verify: Bool | Str = True  # False, True, or a CA bundle path
    client_cert: Str | None = None  # mutual TLS: the client certificate file (PEM)
    client_key: NameOrSecret | None = None  # its key file path (or a secret holding the path)
