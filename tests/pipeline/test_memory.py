"""Arrow's pool and glibc's threshold as a sync process gets them (pipeline/memory.py), in fresh interpreters:
the choice is made once, at import, so only a new process shows it."""

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.unit

_PROBE = (
    "import json, pipeline, pyarrow as pa\n"
    "from pipeline.memory import return_freed_memory\n"
    "return_freed_memory()\n"
    "print(json.dumps({'pool': pa.default_memory_pool().backend_name}))\n"
)


def _pool(**env: str) -> str:
    environ = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"} | env
    out = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True, env=environ)
    pool: str = json.loads(out.stdout.strip().splitlines()[-1])["pool"]
    return pool


def test_a_sync_process_takes_jemalloc_for_arrow() -> None:
    assert _pool() == "jemalloc"


def test_the_operators_choice_of_pool_wins() -> None:
    assert _pool(ARROW_DEFAULT_MEMORY_POOL="system") == "system"


def test_the_cli_package_chooses_before_pyarrow_is_imported() -> None:
    probe = "import lienthong, pyarrow as pa; print(pa.default_memory_pool().backend_name)"
    environ = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, env=environ)
    assert out.stdout.strip() == "jemalloc"
