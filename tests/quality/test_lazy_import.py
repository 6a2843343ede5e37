import subprocess
import sys

import pytest

pytestmark = pytest.mark.unit


def test_cli_modules_do_not_import_great_expectations():
    code = ("import sys, quality, quality.cli, schemas.cli, lienthong.cli; "
            "heavy = [m for m in ('great_expectations', 'pandas') if m in sys.modules]; "
            "assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
