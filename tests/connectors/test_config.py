"""Source files: the four agencies load; a bad key fails with the file and the key's path."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from connectors.config import SOURCES_DIR, load_source
from core.errors import ConfigError

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("name", ["land", "business", "construction", "tax"])
def test_the_four_agencies_are_pure_declarations(name: str) -> None:
    source = load_source(name, environ={})
    assert source.name == name and source.streams
    for stream in source.streams.values():
        assert stream.incremental is not None and stream.primary_key


def _write(tmp_path: Path, mutate: object) -> Path:
    data = yaml.safe_load((SOURCES_DIR / "tax.yaml").read_text())
    assert callable(mutate)
    mutate(data)
    path = tmp_path / "sources" / "tax.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return path


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda d: d["streams"]["taxpayers"]["pagination"].update(style="cursr"),
     "sources/tax.yaml: streams.taxpayers.pagination.style: unknown value 'cursr'"),
    (lambda d: d["streams"]["taxpayers"].update(pagefoo=1),
     "sources/tax.yaml: streams.taxpayers.pagefoo: unknown key"),
    (lambda d: d["auth"].update(secret="tax-dev-secret"),
     "sources/tax.yaml: auth.secret: a secret must be a reference"),
    (lambda d: d["streams"]["taxpayers"]["fields"].update(tax_code="varchar"),
     "sources/tax.yaml: streams.taxpayers.fields.tax_code: unknown type 'varchar'"),
    (lambda d: d["streams"]["taxpayers"].pop("primary_key"),
     "sources/tax.yaml: streams.taxpayers.primary_key: required"),
    (lambda d: d["limits"].update(timeout_seconds="soon"),
     "sources/tax.yaml: limits.timeout_seconds: expected float"),
    (lambda d: d["streams"]["taxpayers"]["incremental"].update(cursor_field="nope"),
     "sources/tax.yaml: streams.taxpayers.incremental.cursor_field: 'nope' is not a declared field"),
    (lambda d: d["auth"]["secret"].update(airflow_conn="tax"),
     "sources/tax.yaml: auth.secret: name exactly one of env, airflow_conn"),
])
def test_a_bad_key_fails_with_its_path(tmp_path: Path, mutate: object, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_source(_write(tmp_path, mutate), environ={})
    assert message in str(info.value)


def test_endpoint_override_from_settings_keeps_the_service_path() -> None:
    land = load_source("land", environ={"LIENTHONG_AGENCY_LAND_URL": "http://127.0.0.1:9999"})
    assert land.endpoint == "http://127.0.0.1:9999/ws/land"
    tax = load_source("tax", environ={"LIENTHONG_AGENCY_TAX_URL": "http://10.0.0.1:8080/"})
    assert tax.endpoint == "http://10.0.0.1:8080"


def test_airflow_connection_is_not_touched_at_load(tmp_path: Path) -> None:
    def to_airflow(d: dict) -> None:  # type: ignore[type-arg]
        d["auth"]["secret"] = {"airflow_conn": "lienthong_tax"}

    source = load_source(_write(tmp_path, to_airflow), environ={})
    secret = getattr(source.auth, "secret", None)
    assert secret is not None and secret.airflow_conn == "lienthong_tax"
