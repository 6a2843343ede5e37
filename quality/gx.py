"""Great Expectations, imported only when a validation runs (the import costs seconds).

One ephemeral context per process, with progress bars and usage statistics off.
"""

from __future__ import annotations

import logging
import os
import warnings
from functools import cache
from typing import Any


@cache
def gx_modules() -> tuple[Any, Any]:
    """(great_expectations, great_expectations.expectations), imported on first use."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")  # no usage statistics leave the machine
    # GX logs one INFO line per public function at import ("Skipping registering function ..."): 214
    # of a sync task's 229 log lines. Our lines are the ones an operator needs to read.
    logging.getLogger("great_expectations._docs_decorators").setLevel(logging.WARNING)
    with warnings.catch_warnings():
        # GX 1.x imports modules Python 3.11 deprecates (sre_constants); not ours to fix
        warnings.simplefilter("ignore", DeprecationWarning)
        import great_expectations as gx
        import great_expectations.expectations as gxe

    return gx, gxe


@cache
def _batch_definition() -> Any:
    gx, _ = gx_modules()
    from great_expectations.data_context.types.base import ProgressBarsConfig
    from great_expectations.execution_engine import pandas_execution_engine

    # GX fingerprints every frame under 1 GB by hashing all its values (over half the time of a
    # 1M-row validation); batches here are named by run id, so the fingerprint is never read.
    pandas_execution_engine.HASH_THRESHOLD = 0
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    asset = context.data_sources.add_pandas("lienthong").add_dataframe_asset("batch")
    return asset.add_batch_definition_whole_dataframe("whole")


def run_suite(frame: Any, suite: Any, result_format: str = "COMPLETE") -> Any:
    """Validate a pandas DataFrame with `suite`; the ExpectationSuiteValidationResult."""
    batch = _batch_definition().get_batch(batch_parameters={"dataframe": frame})
    return batch.validate(suite, result_format={"result_format": result_format})
