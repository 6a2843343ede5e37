from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import ConfigError
from core.settings import load_settings, mask_url

pytestmark = pytest.mark.unit


def test_defaults_live_under_var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    s = load_settings({})
    assert s.database_url == f"sqlite:///{tmp_path / 'var' / 'lienthong.db'}"
    assert s.data_dir == tmp_path / "var" / "data"
    assert s.airflow_home == tmp_path / "var" / "airflow"
    assert s.agency_urls == {}


def test_environment_overrides_defaults() -> None:
    s = load_settings({
        "LIENTHONG_DATABASE_URL": "postgresql://u:pw@db:5432/lt",
        "LIENTHONG_DATA_DIR": "/srv/lt/data",
        "AIRFLOW_HOME": "/srv/airflow",
        "LIENTHONG_AGENCY_TAX_URL": "http://127.0.0.1:8004",
    })
    assert s.database_url == "postgresql://u:pw@db:5432/lt"
    assert s.database_url_masked == "postgresql://u:***@db:5432/lt"
    assert s.data_dir == Path("/srv/lt/data")
    assert s.agency_urls == {"tax": "http://127.0.0.1:8004"}


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("postgresql://user:p%40ss@host:5432/db", "postgresql://user:***@host:5432/db"),
        ("postgresql+psycopg://user:secret@host/db", "postgresql+psycopg://user:***@host/db"),
        ("postgresql://user@host/db", "postgresql://user@host/db"),
        ("sqlite:////tmp/x.db", "sqlite:////tmp/x.db"),
    ],
)
def test_mask_url(url: str, masked: str) -> None:
    assert mask_url(url) == masked


def test_bad_database_url_names_the_variable_and_hides_the_password() -> None:
    with pytest.raises(ConfigError) as err:
        load_settings({"LIENTHONG_DATABASE_URL": "mysql://root:hunter2@db/lt"})
    message = str(err.value)
    assert "LIENTHONG_DATABASE_URL" in message and "mysql" in message
    assert "hunter2" not in message


def test_bad_agency_url_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="LIENTHONG_AGENCY_LAND_URL"):
        load_settings({"LIENTHONG_AGENCY_LAND_URL": "ftp://x"})
