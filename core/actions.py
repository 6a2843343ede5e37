"""What a person does at the console that changes data (drift approved, records replayed, holds released),
recorded in the audit log under their OS user.

The audit log lives downstream (`sharing.api.audit`); the packages upstream of it record through this
hook, which the `lienthong` CLI connects to the audit chain when it starts. Nothing is recorded where no
recorder is connected (a library call from Python), so each CLI command stays the one place that audits.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Callable, Mapping
from typing import Any

Recorder = Callable[[str, str, str, str, Mapping[str, Any]], None]  # (url, user, action, detail, params)
_recorders: list[Recorder] = []


def connect(recorder: Recorder) -> None:
    if recorder not in _recorders:
        _recorders.append(recorder)


def os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (a container's arbitrary uid)
        return f"uid:{os.getuid()}"


def record(database_url: str, action: str, detail: str, params: Mapping[str, Any] | None = None) -> None:
    """Record `action` (e.g. `drift.approve`) by the OS user in the audit log of `database_url`."""
    for recorder in _recorders:
        recorder(database_url, os_user(), action, detail, dict(params or {}))
