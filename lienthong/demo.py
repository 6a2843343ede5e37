"""`make demo`: the main job end to end on the embedded default (SQLite + Parquet under ./var).

It grows with the project; each step prints what it did.
"""

from __future__ import annotations

from rich.console import Console

from lienthong.doctor import run_checks
from lienthong.settings import get_settings

console = Console()


def main() -> int:
    settings = get_settings()
    console.rule("lienthong demo")
    console.print(f"database  {settings.database_url_masked}")
    console.print(f"data dir  {settings.data_dir}")
    console.print(f"airflow   {settings.airflow_home}")
    for check in run_checks(settings):
        mark = "[green]ok[/]" if check.ok else "[red]FAIL[/]"
        console.print(f"{mark} {check.name}: {check.detail}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
