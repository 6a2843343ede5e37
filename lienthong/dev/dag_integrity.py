"""Checks that DAG files only declare (style.md, 1): run as `python -m lienthong.dev.dag_integrity DIR`.

For each `*.py` in DIR, in this fresh process, with Airflow already imported so its own cost is not
counted, it loads the file through Airflow's DagBag while guards are on, and reports:
- an import error, or an import slower than the limit (2 s);
- a network connection, a database query or connection, or a Variable/Connection read at parse time;
- a DAG without tags, owner or doc, or a task with fewer than 2 retries.
It writes a JSON report (to REPORT, or stdout) and exits 1 when any file has a problem.
The test suite runs it on `dags/`: `python -m lienthong.dev.dag_integrity DAGS_DIR [REPORT]`.
"""

from __future__ import annotations

import json
import socket
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

IMPORT_LIMIT_S = 2.0
MIN_RETRIES = 2


class ParseTimeIO(RuntimeError):
    """A DAG file did I/O while it was parsed."""


@contextmanager
def _guards(violations: list[str]) -> Iterator[None]:
    """Make every kind of parse-time I/O we forbid raise, and remember it even if the file catches it."""
    import sqlite3

    import sqlalchemy.event
    from sqlalchemy.engine import Engine

    def refuse(what: str) -> Callable[..., Any]:
        def _raise(*args: Any, **kwargs: Any) -> Any:
            violations.append(what)
            raise ParseTimeIO(f"{what} while the DAG file was parsed")

        return _raise

    def on_query(*args: Any, **kwargs: Any) -> None:
        refuse("database query")()

    patches: list[tuple[Any, str, Any]] = [
        (socket.socket, "connect", refuse("network connection")),
        (socket.socket, "connect_ex", refuse("network connection")),
        (socket, "create_connection", refuse("network connection")),
        (sqlite3, "connect", refuse("database connection (sqlite3)")),
        (sqlite3.dbapi2, "connect", refuse("database connection (sqlite3)")),
    ]
    try:
        import psycopg

        patches.append((psycopg, "connect", refuse("database connection (psycopg)")))
    except ImportError:
        pass
    for module_name, attr in (
        ("airflow.sdk", "Variable"),
        ("airflow.sdk", "Connection"),
        ("airflow.models.variable", "Variable"),
        ("airflow.models.connection", "Connection"),
    ):
        try:
            owner = getattr(__import__(module_name, fromlist=[attr]), attr)
        except (ImportError, AttributeError):
            continue
        for method in ("get", "get_variable_from_secrets", "get_connection_from_secrets"):
            if hasattr(owner, method):
                patches.append((owner, method, refuse(f"{attr}.{method}")))
    try:
        from airflow.sdk.bases.hook import BaseHook

        patches.append((BaseHook, "get_connection", refuse("BaseHook.get_connection")))
    except ImportError:
        pass

    saved = [(obj, name, obj.__dict__[name] if name in vars(obj) else getattr(obj, name)) for obj, name, _ in patches]
    for obj, name, replacement in patches:
        setattr(obj, name, replacement if not isinstance(obj, type) else staticmethod(replacement))
    sqlalchemy.event.listen(Engine, "before_cursor_execute", on_query)
    try:
        yield
    finally:
        sqlalchemy.event.remove(Engine, "before_cursor_execute", on_query)
        for obj, name, original in saved:
            setattr(obj, name, original)


def _dag_problems(dag: Any) -> list[str]:
    problems = []
    if not dag.tags:
        problems.append(f"DAG {dag.dag_id}: no tags")
    if not dag.owner or dag.owner == "airflow":
        problems.append(f"DAG {dag.dag_id}: no owner (set default_args['owner'])")
    if not (dag.doc_md or dag.description):
        problems.append(f"DAG {dag.dag_id}: no doc (doc_md or description)")
    for task in dag.tasks:
        if (task.retries or 0) < MIN_RETRIES:
            problems.append(
                f"DAG {dag.dag_id}: task {task.task_id} has retries={task.retries}, needs >= {MIN_RETRIES}"
            )
    return problems


def check_file(path: Path) -> dict[str, Any]:
    from airflow.dag_processing.dagbag import DagBag

    violations: list[str] = []
    started = time.perf_counter()
    with _guards(violations):
        # safe_mode off: every file here is checked, not only those that mention "airflow" and "dag".
        bag = DagBag(dag_folder=str(path), safe_mode=False)
    seconds = time.perf_counter() - started
    problems = [f"import error: {err.strip().splitlines()[-1]}" for err in bag.import_errors.values()]
    problems += [f"parse-time I/O: {v}" for v in dict.fromkeys(violations)]
    if seconds > IMPORT_LIMIT_S:
        problems.append(f"import took {seconds:.2f} s (limit {IMPORT_LIMIT_S} s)")
    for dag in bag.dags.values():
        problems += _dag_problems(dag)
    return {"file": str(path), "seconds": round(seconds, 3), "dags": sorted(bag.dags), "problems": problems}


def check_folder(folder: Path) -> list[dict[str, Any]]:
    # Import Airflow before timing any file, so its own cost is not a DAG file's.
    import airflow.dag_processing.dagbag
    import airflow.sdk  # noqa: F401

    return [check_file(path) for path in sorted(folder.glob("*.py")) if not path.name.startswith("_")]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) not in (1, 2):
        print("usage: python -m lienthong.dev.dag_integrity DAGS_DIR [REPORT]", file=sys.stderr)
        return 2
    report = check_folder(Path(args[0]))
    text = json.dumps(report, indent=2)
    if len(args) == 2:
        Path(args[1]).write_text(text, encoding="utf-8")
    else:
        print(text)
    return 1 if any(r["problems"] for r in report) else 0


if __name__ == "__main__":
    raise SystemExit(main())
