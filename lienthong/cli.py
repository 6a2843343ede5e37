"""The `lienthong` command line.

Subcommands live beside the code they drive and are imported only when called, so `lienthong --help`
stays fast (no Airflow, no Great Expectations at start-up).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any, NoReturn

import click

from core.errors import LienthongError, SettingsError

DEBUG_ENV = "LIENTHONG_DEBUG"  # set to 1 to see the traceback behind a message

# name -> "module:attribute" of a click command or group
_COMMANDS: dict[str, str] = {
    "doctor": "lienthong.doctor:doctor",
    "agencies": "agencies.cli:agencies",
    "extract": "connectors.cli:extract",
    "wsdl": "connectors.wsdlcheck:wsdl",
    "validate": "quality.cli:validate",
    "quarantine": "pipeline.cli:quarantine",
    "drift": "schemas.cli:drift",
    "sync": "pipeline.cli:sync",
    "source": "connectors.onboard:source",
    "datasets": "sharing.cli:datasets",
    "holds": "pipeline.cli:holds",
    "subscriptions": "sharing.cli:subscriptions",
    "serve": "lienthong.serve:serve",
    "audit": "sharing.api.cli:audit",
}

_HELP = {
    "doctor": "Check the database, data dir, Airflow and agency endpoints.",
    "agencies": "Run and control the agency simulators.",
    "extract": "Pull one source into Parquet batches and a state file.",
    "wsdl": "Check a WSDL offline: missing imports, binding, operations, record paths.",
    "validate": "Validate a file against a dataset's contract and suite.",
    "quarantine": "List, show and replay quarantined records.",
    "drift": "List and approve schema drift.",
    "sync": "Extract, validate and publish one source, without Airflow.",
    "source": "Draft a new system's declaration files (init) and check them against it (check).",
    "datasets": "List published datasets and show versions.",
    "holds": "Runs held for a person (mass deletes, volume drops): list, show, release, discard.",
    "subscriptions": "Agencies' subscriptions: list, deliver notifications, dead letters and replay.",
    "serve": "Run the lookup API.",
    "audit": "Verify the audit log.",
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(name for name in _COMMANDS if self._resolve(name) is not None)

    @staticmethod
    def _resolve(name: str) -> click.Command | None:
        """The command, or None while the module that will hold it is not written yet."""
        target = _COMMANDS.get(name)
        if target is None:
            return None
        module_name, attr = target.split(":", 1)
        try:
            if importlib.util.find_spec(module_name) is None:
                return None
        except ModuleNotFoundError:  # the parent package is not there either
            return None
        command = getattr(importlib.import_module(module_name), attr, None)
        if command is not None and not isinstance(command, click.Command):
            raise TypeError(f"{target} is not a click command")
        return command

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        return self._resolve(name)

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True, **extra: Any) -> Any:
        """Click's main, with every error turned into one line on stderr (see `error_message`)."""
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.exceptions.Exit as exc:
            _exit(exc.exit_code, standalone_mode)
        except click.exceptions.Abort:
            click.echo("aborted", err=True)
            _exit(1, standalone_mode)
        except click.ClickException as exc:
            message = exc.format_message()
            if isinstance(exc, click.UsageError) and exc.ctx is not None:
                message += f" (see `{exc.ctx.command_path} --help`)"
            click.echo(f"Error: {_one_line(message)}", err=True)
            _exit(exc.exit_code, standalone_mode)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            if isinstance(exc.code, str):
                click.echo(f"Error: {_one_line(exc.code)}", err=True)
            _exit(code, standalone_mode)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            _exit(130, standalone_mode)
        except Exception as exc:
            if os.environ.get(DEBUG_ENV):
                raise
            code, message = error_message(exc)
            click.echo(f"Error: {message}", err=True)
            _exit(code, standalone_mode)
        # Not standalone, click returns ctx.exit()'s status (--help: 0) or the command's value (None).
        if standalone_mode:
            _exit(rv if isinstance(rv, int) else 0, standalone_mode)
        return rv

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Short help from the table, so listing commands imports none of them.
        rows = [(name, _HELP.get(name, "")) for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def _exit(code: int, standalone: bool) -> NoReturn:
    if standalone:
        sys.exit(code)
    raise SystemExit(code)


def _one_line(text: str) -> str:
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())


def _masked(text: str) -> str:
    """Passwords of the configured database URL never reach the terminal."""
    from urllib.parse import urlsplit

    url = os.environ.get("LIENTHONG_DATABASE_URL") or ""
    try:
        password = urlsplit(url).password
    except ValueError:
        password = None
    return text.replace(password, "***") if password else text


def _database() -> str:
    try:
        from core.settings import get_settings

        return get_settings().database_url_masked
    except LienthongError:
        return "(LIENTHONG_DATABASE_URL is invalid)"


def error_message(exc: BaseException) -> tuple[int, str]:
    """(exit status, one line) for an error a command did not handle itself.

    2: the settings are wrong (nothing was tried); 1: the work failed. The line names what was wrong:
    the variable, the file, the database, the source. A programming error still gets one line, with the
    way to see its traceback.
    """
    module = type(exc).__module__
    if isinstance(exc, SettingsError):
        return 2, _one_line(str(exc))
    if isinstance(exc, LienthongError):
        return 1, _masked(_one_line(str(exc)))
    if module.startswith("sqlalchemy"):
        from sqlalchemy import exc as sa_exc

        if isinstance(exc, sa_exc.ArgumentError | sa_exc.NoSuchModuleError):
            return 2, _masked(f"database URL {_database()}: {_one_line(str(exc))}")
        orig = getattr(exc, "orig", None)
        reason = _one_line(str(orig if orig is not None else exc)).split(" (Background on this error")[0]
        kind = "unreachable" if isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError) else "failed"
        return 1, _masked(f"database {_database()} {kind}: {reason}")
    if isinstance(exc, OSError):
        where = " -> ".join(str(f) for f in (exc.filename, exc.filename2) if f)
        reason = exc.strerror or _one_line(str(exc)) or type(exc).__name__
        return 1, f"{where}: {reason}" if where else reason
    if module.startswith("pyarrow"):
        return 1, f"cannot read the data: {_one_line(str(exc))}"
    if module.startswith(("httpx", "httpcore")):
        return 1, f"network: {_one_line(str(exc)) or type(exc).__name__}"
    return 1, (f"internal error {type(exc).__name__}: {_masked(_one_line(str(exc)))[:300]} "
               f"(set {DEBUG_ENV}=1 for the traceback)")


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="lienthong")
def main() -> None:
    """lienthong: pull agency records on a schedule, check them, publish shared datasets."""
    from core import actions

    actions.connect(_audit_action)  # a command that changes data is recorded in the audit chain


def _audit_action(url: str, user: str, action: str, detail: str, params: Mapping[str, Any]) -> None:
    from sharing.api.audit import record_action  # imported only when a command changed something

    record_action(url, user, action, detail, params)


if __name__ == "__main__":
    main()
