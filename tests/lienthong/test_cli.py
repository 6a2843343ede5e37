"""Every command answers --help, and --help imports nothing heavy."""

from __future__ import annotations

import subprocess
import sys

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
