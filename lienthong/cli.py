"""The `lienthong` command line.

Subcommands live beside the code they drive and are imported only when called, so `lienthong --help`
stays fast (no Airflow, no Great Expectations at start-up).
"""

from __future__ import annotations

import importlib
import importlib.util

import click

# name -> "module:attribute" of a click command or group
_COMMANDS: dict[str, str] = {
    "doctor": "lienthong.doctor:doctor",
    "agencies": "agencies.cli:agencies",
    "extract": "connectors.cli:extract",
    "validate": "quality.cli:validate",
    "quarantine": "quality.cli:quarantine",
    "drift": "schemas.cli:drift",
    "sync": "sharing.cli:sync",
    "datasets": "sharing.cli:datasets",
    "serve": "sharing.api.cli:serve",
    "audit": "sharing.api.cli:audit",
}

_HELP = {
    "doctor": "Check the database, data dir, Airflow and agency endpoints.",
    "agencies": "Run and control the agency simulators.",
    "extract": "Pull one source into Parquet batches and a state file.",
    "validate": "Validate a file against a dataset's contract and suite.",
    "quarantine": "List, show and replay quarantined records.",
    "drift": "List and approve schema drift.",
    "sync": "Extract, validate and publish one source, without Airflow.",
    "datasets": "List published datasets and show versions.",
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

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Short help from the table, so listing commands imports none of them.
        rows = [(name, _HELP.get(name, "")) for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="lienthong")
def main() -> None:
    """lienthong: pull agency records on a schedule, check them, publish shared datasets."""


if __name__ == "__main__":
    main()
