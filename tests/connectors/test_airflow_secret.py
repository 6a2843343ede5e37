"""A secret named by Airflow connection id is looked up (Airflow imported) only when resolved."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.config import SecretRef
from connectors.secrets import resolve
from core.errors import ConfigError

pytestmark = pytest.mark.integration


def test_airflow_connection_secret(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    monkeypatch.setenv("AIRFLOW_CONN_LIENTHONG_TAX", '{"conn_type": "http", "login": "lienthong", '
                       '"password": "s3cr3t-from-airflow", "extra": {"api_key": "k3y"}}')
    assert resolve(SecretRef(airflow_conn="lienthong_tax"), "tax") == "s3cr3t-from-airflow"
    assert resolve(SecretRef(airflow_conn="lienthong_tax", conn_field="login"), "tax") == "lienthong"
    assert resolve(SecretRef(airflow_conn="lienthong_tax", conn_field="extra", extra_key="api_key"), "tax") == "k3y"
    with pytest.raises(ConfigError, match=r"^\[tax\] secret airflow_conn:nope.password: Airflow connection not found"):
        resolve(SecretRef(airflow_conn="nope"), "tax")
