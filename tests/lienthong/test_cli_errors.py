"""Every CLI error is one line naming what was wrong, exit 2 (usage) or 1 (failure), never a traceback.

Each command and subcommand is run with bad inputs: unknown names, bad numbers, bad URLs, missing files,
a file of the wrong kind, an unreachable database, malformed settings, all from a fresh clone's empty
working directory (no var/). `test_every_command_has_a_bad_input_case` fails when a command is added
without a case here.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from core.settings import get_settings
from lienthong.cli import main

pytestmark = pytest.mark.unit


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


PORT = _closed_port()
UNREACHABLE_DB = f"postgresql://lienthong:s3cret-pw@127.0.0.1:{PORT}/nowhere"
MALFORMED_DB = "postgresql://lienthong:s3cret-pw@[::1/x"


@dataclass(frozen=True)
class Case:
    args: list[str]
    code: int
    says: str  # a fragment the one-line message must hold (what was wrong)
    env: dict[str, str] = field(default_factory=dict)


CASES: list[Case] = [
    # doctor reports a table (its own format); a malformed setting is still one line, exit 2
    Case(["doctor"], 2, "LIENTHONG_DATABASE_URL", {"LIENTHONG_DATABASE_URL": MALFORMED_DB}),
    Case(["doctor", "--jsn"], 2, "--jsn"),
    Case(["agencies", "serve", "nope"], 2, "'nope' is not one of"),
    Case(["agencies", "serve", "land", "--port", "abc"], 2, "--port"),
    Case(["agencies", "serve", "land", "--port", "70000"], 2, "--port"),
    Case(["agencies", "advance", "land", "--minutes", "0"], 2, "--minutes"),
    Case(["agencies", "advance", "land", "-m", "5", "--data-dir", "empty"], 1, "no land data"),
    Case(["agencies", "advance", "land", "-m", "5", "--url", f"http://127.0.0.1:{PORT}"], 1, "network"),
    Case(["agencies", "truth", "nope", "--out", "x.parquet"], 2, "'nope' is not one of"),
    Case(["agencies", "truth", "land"], 2, "--out"),
    Case(["agencies", "info", "nope"], 2, "'nope' is not one of"),
    Case(["agencies", "info", "tax", "--records", "abc"], 2, "--records"),
    Case(["extract", "nope", "--out", "out"], 1, "known sources: business, construction, land, tax"),
    Case(["extract", "tax", "--stream", "nope", "--out", "out"], 2, "its streams: taxpayers"),
    Case(["extract", "tax", "--out", "out", "--state", "garbage.json"], 1, "garbage.json: not a state file"),
    Case(["extract", "tax", "--out", "a-file.txt"], 2, "a-file.txt"),
    Case(["extract", "tax"], 2, "--out"),
    Case(["wsdl", "check", "nope.wsdl"], 1, "nope.wsdl: no such file"),
    Case(["wsdl", "check", "a-file.txt"], 1, "not well-formed XML"),
    Case(["wsdl", "check", "a-file.txt", "--catalog", "nowhere"], 2, "nowhere"),
    Case(["extract", "tax", "--out", "out"], 1, "LIENTHONG_AGENCY_TAX_URL", {"LIENTHONG_AGENCY_TAX_URL": "ftp:/x"}),
    Case(["validate", "nope", "--input", "a-file.txt"], 2, "'nope' is not one of"),
    Case(["validate", "parcels", "--input", "missing.parquet"], 2, "missing.parquet"),
    Case(["validate", "parcels", "--input", "a-file.txt"], 1, "a-file.txt: not a Parquet file"),
    Case(["validate", "parcels", "--input", "bad.jsonl"], 1, "bad.jsonl:2: not a JSON record"),
    Case(["validate", "parcels", "--input", "a-dir"], 2, "a-dir"),
    Case(["quarantine", "list", "--dataset", "nope"], 2, "known: branches, enterprises"),
    Case(["quarantine", "list", "--limit", "abc"], 2, "--limit"),
    Case(["quarantine", "list", "--status", "gone"], 2, "--status"),
    Case(["quarantine", "list"], 1, f"127.0.0.1:{PORT}/nowhere unreachable",
         {"LIENTHONG_DATABASE_URL": UNREACHABLE_DB}),
    Case(["quarantine", "list", "--database-url", "mysql://x/y"], 2, "unsupported database 'mysql'"),
    Case(["quarantine", "show", "99999"], 1, "no quarantined record 99999"),
    Case(["quarantine", "show", "abc"], 2, "QUARANTINE_ID"),
    Case(["quarantine", "replay", "--id", "99999"], 1, "no quarantined record 99999"),
    Case(["quarantine", "replay", "--dataset", "nope"], 2, "known: branches, enterprises"),
    Case(["quarantine", "replay", "--id", "x"], 2, "--id"),
    Case(["drift", "list"], 2, "LIENTHONG_DATABASE_URL", {"LIENTHONG_DATABASE_URL": MALFORMED_DB}),
    Case(["drift", "list", "--status", "closed"], 2, "--status"),
    Case(["drift", "approve", "99999"], 1, "no open drift with id 99999"),
    Case(["drift", "approve", "abc"], 2, "DRIFT_ID"),
    Case(["sync", "nope"], 1, "known sources: business, construction, land, tax"),
    Case(["source", "init", "Bad-Name", "--from-openapi", "x.json"], 2, "NAME"),
    Case(["source", "init", "x", "--from-openapi", "missing.json"], 1, "cannot read the service description"),
    Case(["source", "init", "x"], 2, "give one of --from-openapi, --from-wsdl"),
    Case(["source", "init", "x", "--from-wsdl", "missing.wsdl"], 1, "cannot read the WSDL"),
    Case(["source", "check", "missing.yaml"], 2, "does not exist"),
    Case(["source", "list"], 1, "sources/bad.yaml: protocol: required key is missing",
         {"LIENTHONG_REGISTRY": "bad-registry"}),
    Case(["source", "list", "--jsn"], 2, "--jsn"),
    Case(["sync", "tax", "--stream", "nope"], 2, "its streams: taxpayers"),
    Case(["sync", "tax"], 2, "LIENTHONG_COPY_CHUNK_ROWS='abc'", {"LIENTHONG_COPY_CHUNK_ROWS": "abc"}),
    Case(["sync", "tax"], 1, "unreachable", {"LIENTHONG_DATABASE_URL": UNREACHABLE_DB}),
    Case(["datasets", "list"], 1, "unreachable", {"LIENTHONG_DATABASE_URL": UNREACHABLE_DB}),
    Case(["datasets", "list"], 2, "LIENTHONG_DATABASE_URL", {"LIENTHONG_DATABASE_URL": "postgresql://h:port/x"}),
    Case(["datasets", "show", "nope"], 2, "unknown dataset 'nope'"),
    Case(["datasets", "show", "parcels"], 1, "no published version"),
    Case(["datasets", "show", "parcels", "--version", "abc"], 2, "--version"),
    Case(["datasets", "versions", "nope"], 2, "unknown dataset 'nope'"),
    Case(["datasets", "export", "nope", "--out", "x.parquet"], 2, "unknown dataset 'nope'"),
    Case(["datasets", "export", "parcels", "--out", "x.parquet"], 1, "no published version"),
    Case(["datasets", "export", "parcels", "--out", "a-file.txt"], 1, "exists; export never replaces a file"),
    Case(["datasets", "export", "parcels", "--version", "0", "--out", "x.csv"], 2, "--version"),
    Case(["datasets", "versions", "parcels"], 1, "no published version"),
    Case(["datasets", "prune", "nope"], 2, "unknown dataset 'nope'"),
    Case(["holds", "list", "--jsn"], 2, "--jsn"),
    Case(["holds", "show", "nope"], 1, "no hold 'nope'"),
    Case(["holds", "release", "nope"], 1, "no hold 'nope'"),
    Case(["holds", "discard", "nope", "--note"], 2, "--note"),
    Case(["serve", "--policy", "missing.yaml"], 2, "missing.yaml"),
    Case(["serve", "--policy", "a-file.txt"], 1, "a-file.txt"),
    Case(["serve", "--port", "abc"], 2, "--port"),
    Case(["audit", "verify", "--database-url", "nope"], 2, "database URL"),
    Case(["audit", "verify"], 1, "unreachable", {"LIENTHONG_DATABASE_URL": UNREACHABLE_DB}),
    Case(["audit", "tail", "-n", "abc"], 2, "--limit"),
    Case(["audit", "tail"], 1, "unreachable", {"LIENTHONG_DATABASE_URL": UNREACHABLE_DB}),
    Case(["audit", "checkpoint"], 1, "unreachable", {"LIENTHONG_DATABASE_URL": UNREACHABLE_DB}),
    Case(["audit", "rotate-key"], 1, "LIENTHONG_AUDIT_KEYS", {"LIENTHONG_AUDIT_KEYS": "k1=" + "ab" * 32}),
    Case(["subscriptions", "list"], 1, "unreachable", {"LIENTHONG_DATABASE_URL": UNREACHABLE_DB}),
    Case(["subscriptions", "list", "--database-url", "mysql://x/y"], 2, "unsupported database 'mysql'"),
    Case(["subscriptions", "deliver", "--interval", "0"], 2, "--interval"),
    Case(["subscriptions", "dead"], 1, "unreachable", {"LIENTHONG_DATABASE_URL": UNREACHABLE_DB}),
    Case(["subscriptions", "replay", "nope"], 1, "no dead notification 'nope'"),
    Case(["nope"], 2, "No such command 'nope'"),
]


@pytest.fixture
def fresh_clone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty working directory with a few bad files, and no lienthong variables set."""
    for name in list(os.environ):
        if name.startswith("LIENTHONG_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a-file.txt").write_text("not parquet, not yaml: [", encoding="utf-8")
    (tmp_path / "garbage.json").write_text("{not json", encoding="utf-8")
    (tmp_path / "bad.jsonl").write_text('{"a": 1}\n{oops\n', encoding="utf-8")
    (tmp_path / "a-dir").mkdir()
    (tmp_path / "empty").mkdir()
    (tmp_path / "bad-registry" / "sources").mkdir(parents=True)
    (tmp_path / "bad-registry" / "sources" / "bad.yaml").write_text("source: bad\n", encoding="utf-8")
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def _walk(group: click.Group, ctx: click.Context, prefix: tuple[str, ...]) -> list[tuple[str, ...]]:
    paths = []
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None
        if isinstance(command, click.Group):
            paths += _walk(command, click.Context(command, parent=ctx), (*prefix, name))
        else:
            paths.append((*prefix, name))
    return paths


def _command_of(args: list[str]) -> tuple[str, ...]:
    ctx = click.Context(main)
    path: list[str] = []
    command: click.Command = main
    for arg in args:
        if not isinstance(command, click.Group):
            break
        sub = command.get_command(ctx, arg)
        if sub is None:
            break
        path.append(arg)
        command = sub
    return tuple(path)


def test_every_command_has_a_bad_input_case() -> None:
    covered = {_command_of(case.args) for case in CASES}
    missing = [" ".join(p) for p in _walk(main, click.Context(main), ()) if p not in covered]
    assert not missing, f"add a bad-input case to tests/lienthong/test_cli_errors.py for: {missing}"


def _case_id(case: Case) -> str:
    """The same on every pytest-xdist worker: a test's id may not carry the free port it was given."""
    return re.sub(r":\d+", ":PORT", " ".join(case.args)) + (" +env" if case.env else "")


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_bad_input_is_one_line(case: Case, fresh_clone: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in case.env.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(main, case.args, catch_exceptions=False)
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output
    assert result.exit_code == case.code, output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert case.says in lines[0], lines[0]
    assert "s3cret-pw" not in output  # the password of a bad database URL is never printed


def test_fresh_clone_lists_are_empty_not_errors(fresh_clone: Path) -> None:
    runner = CliRunner()
    for args, says in ((["datasets", "list"], "nothing published yet"), (["drift", "list"], "no drift"),
                       (["quarantine", "list"], "no quarantined record")):
        result = runner.invoke(main, args, catch_exceptions=False)
        assert result.exit_code == 0 and says in result.output, (args, result.output)


def test_a_programming_error_is_one_line_too(fresh_clone: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sharing.catalog

    def broken(url: str) -> list[object]:
        raise KeyError("oops")

    monkeypatch.setattr(sharing.catalog, "list_datasets", broken)
    result = CliRunner().invoke(main, ["datasets", "list"], catch_exceptions=False)
    assert result.exit_code == 1
    assert result.stderr.strip() == "Error: internal error KeyError: 'oops' (set LIENTHONG_DEBUG=1 for the traceback)"


@pytest.mark.parametrize("argv", [
    [sys.executable, "-m", "lienthong.cli", "datasets", "list"],
    [str(Path(sys.executable).parent / "lienthong"), "datasets", "versions", "parcels"],
])
def test_the_installed_command_too(argv: list[str], tmp_path: Path) -> None:
    """Through a real process: the entry point, a malformed URL, exit 2, one line on stderr."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIENTHONG_")}
    env["LIENTHONG_DATABASE_URL"] = MALFORMED_DB
    out = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2, out.stderr
    assert out.stderr.count("\n") == 1 and "LIENTHONG_DATABASE_URL is not a valid URL" in out.stderr
    assert "s3cret-pw" not in out.stderr + out.stdout


def test_ops_auth_has_help() -> None:
    out = subprocess.run([sys.executable, "-m", "sharing.ops.auth", "--help"], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0 and "usage: python -m sharing.ops.auth" in out.stdout
