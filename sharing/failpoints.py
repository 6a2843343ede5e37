"""Crash points for the crash-safety tests: the process dies where LIENTHONG_FAILPOINT says."""

from __future__ import annotations

import os
import signal


def failpoint(name: str) -> None:
    """Die here, as a crash would, when LIENTHONG_FAILPOINT names this point (crash-safety tests)."""
    if os.environ.get("LIENTHONG_FAILPOINT") == name:
        os.kill(os.getpid(), signal.SIGKILL)
