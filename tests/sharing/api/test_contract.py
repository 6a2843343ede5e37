"""The OpenAPI contract is true: schemathesis generates requests from the served document (valid and
invalid ones) and runs all its checks on each answer (status documented, body and headers as declared,
invalid input refused, valid input accepted, no server error, authentication not ignored)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.sharing.api.conftest import Served, key

pytestmark = pytest.mark.integration

EXAMPLES = 20  # per operation and mode: bounded, so the test costs well under a minute per backend
AUTH = {"X-API-Key": key("clear_all"), "X-Purpose": "inspection"}


def test_schemathesis_finds_nothing(api: httpx.Client, served: Served) -> None:
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from schemathesis.config._checks import NEGATIVE_DATA_REJECTION_EXPECTED_STATUSES, NegativeDataRejectionConfig

    schema = schemathesis.openapi.from_url(f"{api.base_url}/openapi.json")
    # A request made invalid by an over-long value may be refused for its length: 414 and 431 are refusals the
    # document declares, as good as a 400 or 422 for invalid input.
    schema.config.checks.negative_data_rejection = NegativeDataRejectionConfig(
        expected_statuses=[*NEGATIVE_DATA_REJECTION_EXPECTED_STATUSES, "414", "431"])
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) >= 9
    for op in operations:
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):

            @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                      suppress_health_check=list(HealthCheck))
            @given(case=op.as_strategy(generation_mode=mode))
            def check(case: Any) -> None:
                case.call_and_validate(headers=AUTH)

            try:
                check()
            except Exception as exc:  # collect every operation's failures, then report them together
                failures.append(f"{op.method.upper()} {op.path} ({mode.value}): {str(exc)[:1500]}")
    assert not failures, "\n\n".join(failures)
