"""The rules tests/conftest.py sets for every test: markers required, no sockets to the outside."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import OutsideNetworkError

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]


def test_connecting_outside_loopback_fails() -> None:
    with socket.socket() as s, pytest.raises(OutsideNetworkError, match="only loopback"):
        s.connect(("203.0.113.7", 80))  # TEST-NET-3: never routed, never reached


def test_loopback_is_allowed() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        with socket.create_connection(listener.getsockname(), timeout=2) as client:
            accepted, _ = listener.accept()
            with accepted:
                assert client.getpeername() == listener.getsockname()
                client.sendall(b"ok")
                assert accepted.recv(2) == b"ok"


def test_an_unmarked_test_fails_collection(tmp_path: Path) -> None:
    (tmp_path / "test_unmarked.py").write_text("def test_nothing_marked():\n    assert 1 + 1 == 2\n")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-c", str(REPO / "pyproject.toml"), "--rootdir", str(tmp_path),
         "-p", "tests.conftest", str(tmp_path / "test_unmarked.py"), "-q"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode != 0
    assert "every test needs one of the markers" in proc.stdout + proc.stderr
    assert "test_nothing_marked" in proc.stdout + proc.stderr
