"""Start a simulator on a free loopback port for a test, and stop it after.

    with running_simulator("tax", records=2000, seed=7, faults={"http_503": 0.1}) as sim:
        httpx.get(sim.base_url + "/openapi.json")

Each simulator gets its own copy of a generated file (generated once per process per agency, seed
and size), so a test may advance or corrupt it freely and starting one costs milliseconds.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from agencies.admin import build_app
from agencies.base import AgencyName
from agencies.runner import BackgroundServer, serve_in_background
from agencies.simulator import AgencySimulator, database_path, open_simulator
from agencies.store import SqliteStore
from agencies.world import World

_templates: dict[tuple[str, int, int], Path] = {}
_templates_lock = threading.Lock()
_template_dir: tempfile.TemporaryDirectory[str] | None = None


@dataclass
class SimulatorHandle:
    sim: AgencySimulator
    server: BackgroundServer

    @property
    def base_url(self) -> str:
        return self.server.url

    @property
    def url(self) -> str:
        """Where a client points: the SOAP endpoint (`/ws/land`) or the REST base URL."""
        if self.sim.protocol == "soap":
            return f"{self.server.url}/ws/{self.sim.agency}"
        return self.server.url

    @property
    def agency(self) -> AgencyName:
        return self.sim.agency

    def stop(self, wait: bool = True) -> None:
        self.server.stop(wait=wait)
        self.sim.store.close()


def _template(agency: AgencyName, records: int, seed: int) -> Path:
    global _template_dir
    with _templates_lock:
        key = (agency, seed, records)
        if key not in _templates:
            if _template_dir is None:
                _template_dir = tempfile.TemporaryDirectory(prefix="lienthong-sim-")
            path = database_path(Path(_template_dir.name), agency, seed, records)
            SqliteStore.create(path, agency, World(seed, records)).close()
            _templates[key] = path
        return _templates[key]


@contextmanager
def running_simulator(
    agency: AgencyName,
    records: int = 1000,
    seed: int = 1,
    faults: Mapping[str, float] | None = None,
    tmp_dir: Path | None = None,
    slow_seconds: float = 5.0,
    token_ttl: float | None = None,
) -> Iterator[SimulatorHandle]:
    """A running simulator on 127.0.0.1 with a fresh copy of its data; stopped on exit."""
    own_dir = tempfile.TemporaryDirectory(prefix=f"lienthong-{agency}-") if tmp_dir is None else None
    data_dir = Path(own_dir.name) if own_dir is not None else Path(tmp_dir)  # type: ignore[arg-type]
    data_dir.mkdir(parents=True, exist_ok=True)
    target = database_path(data_dir, agency, seed, records)
    shutil.copyfile(_template(agency, records, seed), target)
    sim = open_simulator(agency, records=records, seed=seed, data_dir=data_dir, faults=faults,
                         slow_seconds=slow_seconds, token_ttl=token_ttl)
    handle = SimulatorHandle(sim, serve_in_background(build_app(sim)))
    try:
        yield handle
    finally:
        # the server thread winds down on its own; its port and files are nobody else's
        handle.stop(wait=False)
        if own_dir is not None:
            own_dir.cleanup()


# --- pytest fixtures: `from agencies.testing import simulators` in a conftest.py makes them available ---

try:
    import pytest
except ImportError:  # pragma: no cover - pytest is a dev dependency
    pytest = None  # type: ignore[assignment]

if pytest is not None:
    from collections.abc import Callable
    from contextlib import ExitStack

    @pytest.fixture
    def simulators(tmp_path: Path) -> Iterator[Callable[..., SimulatorHandle]]:
        """A factory: `simulators("tax", records=2000, faults={...})` starts one, stopped after the test."""
        with ExitStack() as stack:
            started = [0]

            def start(agency: AgencyName, **kwargs: object) -> SimulatorHandle:
                started[0] += 1
                kwargs.setdefault("tmp_dir", tmp_path / f"{agency}-{started[0]}")
                return stack.enter_context(running_simulator(agency, **kwargs))  # type: ignore[arg-type]

            yield start
