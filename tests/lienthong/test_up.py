"""`make up`'s first hour: a first operator with a generated password, the exports a second shell needs."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from core.settings import load_settings
from lienthong.dev.up import FIRST_OPERATOR, SIM_PATHS, first_operator, second_shell
from sharing.ops.auth import OpsState

pytestmark = pytest.mark.unit


def test_first_operator_is_generated_once_and_logs_in(tmp_path: Path) -> None:
    operators, passwords = first_operator(tmp_path / "var")
    name, password = passwords.read_text(encoding="utf-8").strip().split(": ", 1)
    assert name == FIRST_OPERATOR and len(password) >= 16
    assert stat.S_IMODE(passwords.stat().st_mode) == 0o600
    assert password not in operators.read_text(encoding="utf-8")  # only its scrypt hash is there
    state = OpsState.from_environ({"LIENTHONG_OPS_OPERATORS": str(operators)})
    assert state.login(FIRST_OPERATOR, password) is not None and state.login(FIRST_OPERATOR, "x") is None

    assert first_operator(tmp_path / "var") == (operators, passwords)  # a restart keeps it
    assert passwords.read_text(encoding="utf-8").strip().endswith(password)
    passwords.write_text("garbage", encoding="utf-8")  # unusable: a new one, not a crash
    first_operator(tmp_path / "var")
    assert passwords.read_text(encoding="utf-8").startswith(f"{FIRST_OPERATOR}: ")


def test_second_shell_reaches_the_source_files_ports(tmp_path: Path) -> None:
    """The simulators' default ports are the source files' endpoints: a plain sync finds them."""
    import yaml

    settings = load_settings({"LIENTHONG_DATABASE_URL": f"sqlite:///{tmp_path}/lt.db"})
    endpoints = {a: f"http://127.0.0.1:{8801 + i}{p}" for i, (a, p) in enumerate(SIM_PATHS.items())}
    lines = second_shell(settings, endpoints)
    assert f"export LIENTHONG_DATABASE_URL=sqlite:///{tmp_path}/lt.db" in lines
    for agency, url in endpoints.items():
        assert f"export LIENTHONG_AGENCY_{agency.upper()}_URL={url}" in lines
        declared = yaml.safe_load(Path(f"connectors/sources/{agency}.yaml").read_text(encoding="utf-8"))
        assert declared["endpoint"] == url, agency
