"""Quality: Great Expectations suites written in Python, the validation runner, quarantine and replay.

Belongs here: a suite per dataset, the runner that finds every failing row (not GX's capped sample),
the quarantine table and its replay, validation statistics.

Does not belong here: contracts (`schemas`), publishing (`sharing`). Import great_expectations lazily:
it costs seconds, and this package is imported at DAG-parse and CLI start-up.
"""
