"""`lienthong holds`: the runs held for a person (pipeline/holds.py), and the decision on each."""

from __future__ import annotations

import json

import click

from core.settings import get_settings


@click.group()
def holds() -> None:
    """List held runs, show one, release (publish) or discard it."""


@holds.command("list")
@click.option("--all", "show_all", is_flag=True, help="Also the holds already released or discarded.")
@click.option("--dataset", default=None, help="Only this dataset's holds.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of lines.")
def list_command(show_all: bool, dataset: str | None, as_json: bool) -> None:
    """Held runs waiting for a decision (with --all, every hold)."""
    from sharing import holds as store

    found = store.list_holds(get_settings().database_url, None if show_all else "held", dataset)
    if as_json:
        click.echo(json.dumps([store.as_json(h) for h in found], indent=2, ensure_ascii=False))
        return
    for hold in found:
        click.echo(hold.line())
    if not found:
        click.echo("no held run is waiting" if not show_all else "no run was ever held")


@holds.command("show")
@click.argument("hold_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def show_command(hold_id: str, as_json: bool) -> None:
    """One hold: why it was held, what it would change, the cursors, the decision."""
    from sharing import holds as store

    hold = store.get_hold(get_settings().database_url, hold_id)
    data = store.as_json(hold)
    if as_json:
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    c = hold.counts
    click.echo(f"hold {hold.id}: {hold.status}  {hold.source}/{hold.stream} -> {hold.dataset}  run {hold.run_id}")
    click.echo(f"held at {hold.held_at:%Y-%m-%d %H:%M:%S}{'  (full refresh)' if hold.full_refresh else ''}")
    for reason in hold.reasons:
        click.echo(f"  - {reason}")
    click.echo(f"would publish: +{c.get('inserted', 0):,} ~{c.get('updated', 0):,} -{c.get('deleted', 0):,} "
               f"(unchanged {c.get('unchanged', 0):,}) over {c.get('published', 0):,} published rows; "
               f"fetched {c.get('fetched', 0):,}")
    click.echo(f"cursor {data['cursor_from']!r} -> {data['cursor_to']!r}")
    if hold.decided_at:
        click.echo(f"{hold.status} by {hold.decided_by} at {hold.decided_at:%Y-%m-%d %H:%M:%S}"
                   + (f" as v{hold.published_version}" if hold.published_version else "")
                   + (f": {hold.decision_note}" if hold.decision_note else ""))


@holds.command("release")
@click.argument("hold_id")
@click.option("--note", default=None, help="Why (kept with the decision and in the audit log).")
def release_command(hold_id: str, note: str | None) -> None:
    """Publish the held run as it stands (its data and cursor), once; audited under your OS user."""
    from pipeline.holds import release

    settings = get_settings()
    result = release(settings.database_url, settings.data_dir, hold_id, note=note)
    click.echo(f"released hold {hold_id}: {result.dataset} v{result.version} "
               f"+{result.inserted} ~{result.updated} -{result.deleted}")


@holds.command("discard")
@click.argument("hold_id")
@click.option("--note", default=None, help="Why (kept with the decision and in the audit log).")
def discard_command(hold_id: str, note: str | None) -> None:
    """Drop the held run; the next sync reads again from the last committed state. Audited."""
    from pipeline.holds import discard

    settings = get_settings()
    discard(settings.database_url, settings.data_dir, hold_id, note=note)
    click.echo(f"discarded hold {hold_id}; the next sync starts again from the last published state")
