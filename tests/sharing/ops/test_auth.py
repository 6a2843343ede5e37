"""Operator passwords, signed sessions and the operators file."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from core.errors import ConfigError
from sharing.ops.auth import OpsState, check_password, hash_password, load_operators

pytestmark = pytest.mark.unit


def test_a_password_checks_against_its_hash_only() -> None:
    stored = hash_password("s3cret")
    assert stored.startswith("scrypt$") and "s3cret" not in stored
    assert check_password("s3cret", stored)
    assert not check_password("s3cret ", stored)
    assert not check_password("s3cret", "scrypt$garbage")
    assert hash_password("s3cret") != stored  # salted


def test_a_session_is_refused_when_tampered_expired_or_signed_elsewhere() -> None:
    ops = OpsState(operators={"an": hash_password("pw")})
    assert ops.login("an", "wrong") is None and ops.login("nobody", "pw") is None
    token = ops.login("an", "pw")
    assert token is not None
    payload = ops.unsign(token)
    assert payload is not None and payload["op"] == "an" and len(payload["csrf"]) == 32
    body, mac = token.rsplit(".", 1)
    assert ops.unsign(f"{body}x.{mac}") is None
    assert ops.unsign(f"{body}.{'0' * len(mac)}") is None
    assert OpsState(operators=ops.operators).unsign(token) is None  # another secret
    assert ops.unsign(ops.sign({"op": "an", "csrf": "x", "exp": time.time() - 1})) is None


def test_operators_file(tmp_path: Path) -> None:
    path = tmp_path / "operators.yaml"
    path.write_text(f"operators:\n  an: {{password_hash: '{hash_password('pw')}'}}\n", encoding="utf-8")
    assert check_password("pw", load_operators(path)["an"])
    state = OpsState.from_environ({"LIENTHONG_OPS_OPERATORS": str(path), "LIENTHONG_OPS_SECRET": "k",
                                   "LIENTHONG_AIRFLOW_URL": "http://af:8080/"})
    assert set(state.operators) == {"an"} and state.secret == b"k" and state.airflow_url == "http://af:8080"
    path.write_text("operators:\n  an: {password_hash: plain}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"operators\.an\.password_hash"):
        load_operators(path)
