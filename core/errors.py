"""One exception root, split by what the caller should do about it.

`Fatal`: stop, a person must act (bad configuration, authentication refused, a contract broken).
`Retriable`: try again later (a timeout, a 503, a 429).
A bad record is not an exception: validation returns it as a quarantine row, with its rule and value.
Each carries its evidence: which source, operation, page or record, and a redacted excerpt.
"""

from __future__ import annotations


class LienthongError(Exception):
    """Root of every error lienthong raises on purpose."""

    def __init__(self, message: str, *, source: str | None = None, **evidence: object) -> None:
        self.source = source
        self.evidence = evidence
        prefix = f"[{source}] " if source else ""
        super().__init__(prefix + message)


class Fatal(LienthongError):
    """A person must act before this can succeed."""


class Retriable(LienthongError):
    """Transient: the same call may succeed later."""


class ConfigError(Fatal):
    """A setting, source file or policy is wrong; the message names where."""


class SettingsError(ConfigError):
    """An environment variable is malformed; the message names it (never its password)."""
