"""A snapshot write that fails (no space left, a read-only directory) fails the run before the database
commits, says what failed, leaves no temporary directory, and the next run is exact.

The data dir is a small tmpfs this test mounts itself (it needs root; skipped otherwise).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from agencies.testing import running_simulator
from pipeline.sync import StreamSummary, sync_source
from sharing import snapshots
from sharing.publish import read_state
from tests.pipeline.test_sync import published_keys, truth_keys

pytestmark = pytest.mark.integration


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "data"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], capture_output=True,
                          check=False)
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _remount(mount: Path, mode: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{mode}", str(mount)], check=True)


def _fill(mount: Path) -> Path:
    """Leave the file system all but full."""
    filler = mount / "filler"
    with filler.open("wb", buffering=0) as out:
        try:
            while True:
                out.write(b"\0" * 4096)
        except OSError:
            pass
    return filler


@pytest.mark.parametrize("db", ["sqlite", "postgresql"])
@pytest.mark.parametrize("fault", ["no_space", "read_only"])
def test_a_failed_snapshot_write_publishes_nothing_and_the_next_run_is_exact(
        fault: str, db: str, small_disk: Path, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    url = str(request.getfixturevalue("sqlite_url" if db == "sqlite" else "empty_pg"))
    with running_simulator("construction", records=600, seed=11, tmp_dir=tmp_path / "sim") as sim:
        env = {"LIENTHONG_AGENCY_CONSTRUCTION_URL": sim.url}

        def sync() -> StreamSummary:
            (summary,) = sync_source("construction", url=url, data_dir=small_disk, environ=env, streams=["permits"])
            return summary

        assert sync().error is None
        before, state = published_keys(url, "permits", ("permit_no",)), read_state(url, "construction", "permits")
        sim.sim.store.advance(300)
        filler = _fill(small_disk) if fault == "no_space" else None
        if fault == "read_only":
            _remount(small_disk, "ro")
        failed = sync()
        says = "No space left on device" if fault == "no_space" else "Read-only file system"
        assert failed.error is not None and failed.published is None, failed.line()
        assert "dataset permits version 2: writing the Parquet snapshot" in failed.error, failed.error
        assert says in failed.error and "nothing was published" in failed.error, failed.error
        # The database did not commit: rows, cursor and catalog as they were; no temporary directory.
        assert published_keys(url, "permits", ("permit_no",)) == before
        assert read_state(url, "construction", "permits") == state
        assert snapshots.current_version(small_disk, "permits") == 1
        assert sorted(p.name for p in (small_disk / "datasets" / "permits").iterdir()) == ["CURRENT", "v000001"]

        if filler is not None:
            filler.unlink()
        else:
            _remount(small_disk, "rw")
        again = sync()
        assert again.error is None and again.published is not None and again.published.version == 2, again.line()
        assert published_keys(url, "permits", ("permit_no",)) == truth_keys(sim.sim, "permits")
        assert snapshots.read_version(small_disk, "permits").num_rows == len(truth_keys(sim.sim, "permits"))
