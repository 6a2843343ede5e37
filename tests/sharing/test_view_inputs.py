"""The views' inputs are declared once (sharing.view_inputs): the views read them, the views DAG waits on them."""

from __future__ import annotations

import pytest

from core.schedule import SYNC_EVERY, SYNC_SCHEDULE
from sharing.ops.data import LATE_AFTER
from sharing.view_inputs import INPUTS, every_input
from sharing.views import VIEWS

pytestmark = pytest.mark.unit


def test_each_view_reads_what_is_declared() -> None:
    assert {v.spec.name: v.inputs for v in VIEWS} == INPUTS
    assert "payment_receipts" in every_input()  # the obligations views wait for the treasury's receipts
    assert len(every_input()) == len(set(every_input()))


def test_the_late_mark_follows_the_sync_schedule() -> None:
    assert (SYNC_SCHEDULE, SYNC_EVERY.total_seconds()) == ("@hourly", 3600)
    assert LATE_AFTER == 2 * SYNC_EVERY
