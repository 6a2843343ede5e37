"""The dashboard's Airflow plugin registers once, with the repository on PYTHONPATH as Airflow's processes have it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lienthong.airflow.setup import REPO

pytestmark = pytest.mark.integration

CODE = """
import json
from airflow import plugins_manager
plugins, errors = plugins_manager._get_plugins()
print(json.dumps({"names": [p.name for p in plugins], "errors": errors}))
"""


def test_the_plugin_registers_once(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO), "AIRFLOW_HOME": str(tmp_path),
           "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    out = subprocess.run([sys.executable, "-c", CODE], cwd=REPO, env=env, capture_output=True, text=True,
                         timeout=180, check=True)
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["names"].count("lienthong_ops") == 1
    # the cause seen: setuptools' lienthong.egg-info in the tree, a second distribution (`make install` removes it)
    assert not any("already registered" in message for message in report["errors"].values()), report["errors"]
