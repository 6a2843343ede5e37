"""Importing Great Expectations adds nothing to a task's log at INFO (it used to add ~200 lines)."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.unit

CODE = """
import logging, sys
logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(name)s %(message)s")
from quality.gx import gx_modules, run_suite
gx, gxe = gx_modules()
import pandas as pd
suite = gx.ExpectationSuite(name="s", expectations=[gxe.ExpectColumnValuesToNotBeNull(column="a")])
run_suite(pd.DataFrame({"a": [1, None]}), suite)
logging.getLogger("lienthong.airflow").info("our line")
"""


def test_great_expectations_import_and_a_validation_stay_quiet() -> None:
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=120, check=True)
    lines = [line for line in out.stdout.splitlines() if line.strip()]
    assert not [line for line in lines if "Skipping registering function" in line]
    assert "lienthong.airflow our line" in lines
    assert len(lines) <= 10, lines  # a handful at most besides ours
