"""Every command answers --help, and --help imports nothing heavy."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from lienthong.cli import main

pytestmark = pytest.mark.unit


def _walk(group: click.Group, ctx: click.Context, prefix: list[str]) -> list[list[str]]:
    paths = []
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None, name
        paths.append([*prefix, name])
        if isinstance(command, click.Group):
            paths += _walk(command, click.Context(command, parent=ctx), [*prefix, name])
    return paths


def test_every_command_has_help() -> None:
    ctx = click.Context(main)
    commands = _walk(main, ctx, [])
    assert ["doctor"] in commands
    runner = CliRunner()
    for path in [[], *commands]:
        result = runner.invoke(main, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "Usage:" in result.output


def test_help_is_fast_and_light() -> None:
    code = (
        "import sys; from lienthong.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('airflow', 'great_expectations', 'pandas', 'zeep', 'sqlalchemy') if m in sys.modules]\n"
        "print('HEAVY=' + ','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip().splitlines()[-1] == "HEAVY=", out.stdout


LISTS = {("quarantine", "list"), ("drift", "list"), ("datasets", "list"), ("datasets", "versions"),
         ("holds", "list"), ("source", "list"), ("subscriptions", "list"), ("subscriptions", "dead"),
         ("audit", "tail")}


def test_every_list_has_json() -> None:
    """Every command that lists things (these, and any new `list`) takes --json."""
    ctx = click.Context(main)
    found = set()
    for path in _walk(main, ctx, []):
        command: click.Command | None = main
        for part in path:
            assert isinstance(command, click.Group)
            command = command.get_command(ctx, part)
        assert command is not None
        if tuple(path) in LISTS or path[-1] == "list":
            found.add(tuple(path))
            assert "--json" in {o for p in command.params for o in getattr(p, "opts", [])}, path
    assert found >= LISTS, LISTS - found


def test_lists_have_headers_when_piped_and_json_when_asked(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from core.settings import get_settings

    monkeypatch.setenv("LIENTHONG_DATABASE_URL", f"sqlite:///{tmp_path / 'l.db'}")
    get_settings.cache_clear()  # read again at the first command, with this database
    runner = CliRunner()
    listed = runner.invoke(main, ["source", "list"])
    header, *rows = listed.output.splitlines()
    assert listed.exit_code == 0 and header.split("\t")[:3] == ["stream", "protocol", "endpoint"], listed.output
    assert "business/enterprises" in {r.split("\t")[0] for r in rows}, listed.output
    as_json = json.loads(runner.invoke(main, ["source", "list", "--json"]).output)
    assert {"stream": "tax/taxpayers", "protocol": "rest"}.items() <= next(
        r for r in as_json if r["stream"] == "tax/taxpayers").items()
    assert json.loads(runner.invoke(main, ["audit", "tail", "--json"]).output) == []
    assert json.loads(runner.invoke(main, ["subscriptions", "dead", "--json"]).output) == []
    assert (tmp_path / "l.db").exists()
    get_settings.cache_clear()
