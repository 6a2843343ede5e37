"""No configured secret ever reaches a log line or an error message, even when things go wrong."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from agencies.testing import running_simulator
from connectors import read
from core.errors import LienthongError
from tests.connectors.helpers import small_pages, source_at

pytestmark = pytest.mark.integration

SECRETS = {"LAND_SIM_PASSWORD": "land-Pa55-9f3c", "CONSTRUCTION_SIM_API_KEY": "cons-key-77ab",
           "TAX_SIM_CLIENT_SECRET": "tax-secret-42xz"}
WRONG = {"LAND_SIM_PASSWORD": "wrong-land-0x1", "CONSTRUCTION_SIM_API_KEY": "wrong-cons-0x2",
         "TAX_SIM_CLIENT_SECRET": "wrong-tax-0x3"}
FAULTS = {"http_500": 0.2, "truncated": 0.1, "malformed": 0.1, "rate_limit": 0.1}


def _run(agency: Any, stream: str, url: str, environ: dict[str, str] | None, errors: list[str]) -> None:
    source = small_pages(source_at(agency, url, attempts=4), stream, 50)
    try:
        for _ in read(source, stream, environ=environ):
            pass
    except LienthongError as exc:
        errors.append(str(exc))
        errors.append(repr(exc.evidence))


@pytest.mark.parametrize(("agency", "stream"), [("land", "parcels"), ("construction", "permits"),
                                                ("tax", "taxpayers")])
def test_no_secret_in_logs_or_errors(agency: Any, stream: str, monkeypatch: pytest.MonkeyPatch,
                                     caplog: pytest.LogCaptureFixture) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    caplog.set_level(logging.DEBUG)
    errors: list[str] = []
    with running_simulator(agency, records=400, seed=3, faults=FAULTS) as handle:
        _run(agency, stream, handle.base_url, None, errors)  # right secret, faults on
        _run(agency, stream, handle.base_url, WRONG, errors)  # wrong secret: refused
    assert any("refused" in e or "Fault" in e for e in errors), errors
    text = caplog.text + "\n".join(errors)
    assert "attempt" in caplog.text  # the faults did produce log lines to scan
    for value in [*SECRETS.values(), *WRONG.values()]:
        assert value not in text
