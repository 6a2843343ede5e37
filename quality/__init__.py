"""Quality: Great Expectations suites written in Python, the validation runner, quarantine and replay.

Belongs here: a suite per dataset, the runner that finds every failing row (not GX's capped sample),
the quarantine table and its replay, validation statistics.

Does not belong here: contracts (`schemas`), publishing (`sharing`). Import great_expectations lazily:
it costs seconds, and this package is imported at DAG-parse and CLI start-up.

Entry points:
- `quality.runner.validate_batch(batch, dataset, *, run_id=None, engine=None, references=None)` ->
  `Validation(valid, quarantine, stats)`: a connector batch in, the canonical rows that passed, one
  quarantine row per failing record (source, dataset, run_id, page, key, raw, rule, column, value,
  reason, failures as JSON), the statistics (a frozen `ValidationStats`, a row of `validation_runs`), and
  `quarantined_keys` (the canonical keys of the failing records that have one: a full refresh keeps their
  published rows); raises `ValidationFailed` over the dataset's threshold.
  With `engine`, drift is logged and quarantine rows and statistics are written in one transaction.
- Replay of quarantined records is a pipeline action: `pipeline.replay.replay(engine, dataset=None, ids=None)`.
- `quality.suites.build_suite(dataset)`: the GX suite; `quality.checks.failing_rows`: its predicates in Arrow.
- Tables (`quality.store`): `quarantine`, `validation_runs`. CLI: `quality.cli` (validate, quarantine).
"""
