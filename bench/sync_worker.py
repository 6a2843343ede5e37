"""One contender of `bench.sync`, in its own process so its peak RSS and start-up are its own.

    python -m bench.sync_worker CONTENDER AGENCY SIM_URL DB_URL OUT_DIR [SOURCE_FILE]

Prints one JSON line: {"records", "seconds", "startup_seconds", "peak_rss_mb", ...}. `startup_seconds`
is the fixed cost paid before the first record (imports, Great Expectations' context, dlt's source and
pipeline set-up), timed apart from the run. Contenders:
- ours: `lienthong sync AGENCY` (sync_source, every stream of the source): extract, normalise, validate
  with quarantine, merge into PostgreSQL with history, Parquet snapshot, cursor committed with the data.
- dlt, dlt_tuned: dlt's rest_api source on the same simulator to Parquet files (extract and write only),
  as shipped and tuned as its performance guide says.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

STARTED = time.perf_counter()
EPOCH = "1970-01-01T00:00:00Z"
PAGE = 1000
# dlt's documented knobs (docs "Optimizing dlt"): bigger item buffers and files, parallel normalise and
# load; Airflow's secrets provider off (dlt reads an Airflow Variable when both are installed).
DLT_TUNED = {
    "DATA_WRITER__BUFFER_MAX_ITEMS": "50000", "DATA_WRITER__FILE_MAX_ITEMS": "500000",
    "NORMALIZE__WORKERS": "2", "LOAD__WORKERS": "4", "EXTRACT__WORKERS": "2",
    "NORMALIZE__DATA_WRITER__BUFFER_MAX_ITEMS": "50000", "EXTRACT__DATA_WRITER__BUFFER_MAX_ITEMS": "50000",
}


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def ours(agency: str, sim_url: str, db_url: str, out: Path, source: str | None) -> dict[str, Any]:
    import pipeline.sync
    from quality.gx import _batch_definition
    from schemas.normalize.admin_units import _lookup

    _batch_definition()  # GX's import and context: once per process, not per record
    _lookup()  # the 2025 administrative units reference, read once per process
    startup = time.perf_counter() - STARTED
    env = {f"LIENTHONG_AGENCY_{agency.upper()}_URL": sim_url}
    start = time.perf_counter()
    # every stream of the source, as `lienthong sync AGENCY` does (land: parcels and certificates)
    summaries = pipeline.sync.sync_source(source or agency, url=db_url, data_dir=out / "data", environ=env)
    seconds = time.perf_counter() - start
    failed = [s for s in summaries if s.error]
    if failed:
        raise SystemExit(f"our sync failed: {failed[0].error}")
    timings: dict[str, float] = {}
    for summary in summaries:
        for k, v in summary.extra.get("timings", {}).items():
            timings[k] = max(timings.get(k, 0.0), v) if k.startswith("peak") else timings.get(k, 0.0) + v
    return {"records": sum(s.fetched for s in summaries), "seconds": seconds, "startup_seconds": startup,
            "reconciled": any(s.extra.get("reconciled") for s in summaries),
            "line": " | ".join(s.line() for s in summaries),
            "new_version": any(s.published and s.published.new_version for s in summaries),
            "timings": {k: round(v, 2) for k, v in timings.items()}}


def dlt_rest(agency: str, sim_url: str, db_url: str, out: Path, source: str | None, tuned: bool
             ) -> dict[str, Any]:
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    if tuned:
        os.environ.update(DLT_TUNED, PROVIDERS__ENABLE_AIRFLOW_SECRETS="false")
    import dlt
    from dlt.sources.rest_api import rest_api_source

    assert agency == "construction", "dlt's rest_api baseline reads the REST simulator"
    client: dict[str, Any] = {"base_url": sim_url, "auth": {
        "type": "api_key", "name": "X-API-Key", "api_key": "construction-dev-key", "location": "header"}}
    endpoint: dict[str, Any] = {"path": "api/v1/permits", "params": {"updated_since": EPOCH},
                                "data_selector": "items", "paginator": {
                                    "type": "offset", "limit": PAGE, "offset_param": "offset",
                                    "limit_param": "limit", "total_path": "total"}}
    config: Any = {"client": client, "resources": [{"name": "permits", "endpoint": endpoint,
                                                    "primary_key": "permit_no"}]}
    rest = rest_api_source(config)
    pipeline = dlt.pipeline(pipeline_name=f"bench_sync_{'tuned' if tuned else 'shipped'}",
                            pipelines_dir=str(out / "dlt"),
                            destination=dlt.destinations.filesystem(bucket_url=(out / "dlt_out").as_uri()),
                            dataset_name="bench")
    startup = time.perf_counter() - STARTED
    start = time.perf_counter()
    info = pipeline.run(rest, loader_file_format="parquet")
    info.raise_on_failed_jobs()
    seconds = time.perf_counter() - start
    trace: Any = pipeline.last_trace
    return {"records": int(trace.last_normalize_info.row_counts.get("permits", 0)), "seconds": seconds,
            "startup_seconds": startup, "reconciled": False}


def main() -> None:
    contender, agency, sim_url, db_url, out = sys.argv[1:6]
    source = sys.argv[6] if len(sys.argv) > 6 else None
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    if contender == "ours":
        figures = ours(agency, sim_url, db_url, out_dir, source)
    else:
        figures = dlt_rest(agency, sim_url, db_url, out_dir, source, tuned=contender == "dlt_tuned")
    figures["peak_rss_mb"] = _peak_mb()
    import pyarrow as pa

    figures["arrow_peak_mb"] = round(pa.default_memory_pool().max_memory() / 2**20)  # of the RSS, Arrow's own
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
