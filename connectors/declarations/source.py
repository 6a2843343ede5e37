"""A source file: one agency system's endpoint, protocol, auth, limits, retries and streams."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AliasChoices, Field, ValidationInfo, model_validator
from pydantic.dataclasses import dataclass
from pydantic.json_schema import SkipJsonSchema

from connectors.declarations.auth import Auth, NoAuth, SecretRef, TlsConfig, secrets_of
from connectors.declarations.stream import StreamConfig
from core.declarations import FORBID, Bool, Float, Int, Invalid, Str
from core.errors import ConfigError

Protocol = Literal["rest", "soap"]


@dataclass(frozen=True, slots=True, kw_only=True, config=FORBID)
class Limits:
    timeout_seconds: Float = 30.0
    connect_timeout_seconds: Float = 10.0
    max_response_bytes: Int = 64 * 1024 * 1024
    concurrency: Int = 2
    rate_per_second: Float = 0.0  # 0: unlimited


@dataclass(frozen=True, slots=True, kw_only=True, config=FORBID)
class RetryConfig:
    attempts: Int = 6
    backoff_seconds: Float = 0.5
    max_backoff_seconds: Float = 30.0
    max_retry_after_seconds: Float = 120.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise Invalid("attempts", "must be at least 1")


@dataclass(frozen=True, slots=True, kw_only=True, config=FORBID)
class SoapConfig:
    wsdl: Str  # a URL, or a path relative to the source file; "{endpoint}" is replaced
    service: Str | None = None
    port: Str | None = None
    version: Literal["1.1", "1.2"] = "1.1"
    # remote URL -> local file, so a WSDL importing remote XSDs loads offline
    catalog: Mapping[str, str] = Field(default_factory=dict)
    offline: Bool = False  # refuse to fetch any WSDL/XSD not in the catalog


@dataclass(frozen=True, slots=True, kw_only=True, config=FORBID)
class SourceConfig:
    name: Str = Field(validation_alias=AliasChoices("source", "name"))  # `source:` in the file
    protocol: Protocol
    endpoint: Str  # as declared; `connectors.config.resolve_endpoint` applies a deployment's override
    streams: Mapping[str, StreamConfig]
    description: Str = ""
    auth: Auth = Field(default_factory=NoAuth)
    tls: TlsConfig = Field(default_factory=TlsConfig)
    limits: Limits = Field(default_factory=Limits)
    retry: RetryConfig = Field(default_factory=RetryConfig)
    soap: SoapConfig | None = None
    timezone: Str = "Asia/Ho_Chi_Minh"  # the IANA zone of timestamps the source writes without one
    path: SkipJsonSchema[Path] = Path()  # the file it was read from (not a key of the file)

    @model_validator(mode="before")
    @classmethod
    def _from_file(cls, data: Any, info: ValidationInfo) -> Any:
        """A document read from a file: each stream is named by its key, the file's path comes from the reader."""
        if not isinstance(data, Mapping):
            return data
        if "path" in data:
            raise Invalid("path", "unknown key")
        data = dict(data)
        if info.context and "path" in info.context:
            data["path"] = info.context["path"]
        streams = data.get("streams")
        if isinstance(streams, Mapping):
            for name, stream in streams.items():
                if isinstance(stream, Mapping) and "name" in stream:
                    raise Invalid(("streams", name, "name"), "unknown key")
            data["streams"] = {str(n): {**s, "name": str(n)} if isinstance(s, Mapping) else s
                               for n, s in streams.items()}
        return data

    def __post_init__(self) -> None:
        if not self.streams:
            raise Invalid("streams", "declare at least one stream")
        if self.protocol == "soap" and self.soap is None:
            raise Invalid("soap", "required key is missing")
        for stream in self.streams.values():
            stream.check_protocol(self.protocol)
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise Invalid("timezone", f"unknown time zone {self.timezone!r} (an IANA name such as "
                                      "Asia/Ho_Chi_Minh)") from None
        object.__setattr__(self, "endpoint", self.endpoint.rstrip("/"))

    def stream(self, name: str) -> StreamConfig:
        try:
            return self.streams[name]
        except KeyError:
            raise ConfigError(
                f"{self.path.name}: no stream {name!r}; streams: {', '.join(self.streams)}", source=self.name
            ) from None

    def secrets(self) -> list[SecretRef]:
        """Every secret reference this source names (for redaction and checks)."""
        key = self.tls.client_key
        return secrets_of(self.auth) + ([key] if isinstance(key, SecretRef) else [])
