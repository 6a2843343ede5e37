"""lienthong: the top of the house: the `lienthong` CLI, `doctor`, the Airflow glue, developer tools.

Nothing imports this package except its own entry points (the console script, `dags/`, the Airflow
plugin). Settings, errors and the engine factory are the base layer, `core`; the flow itself is
`connectors` -> `schemas` -> `quality` -> `sharing`, run for one stream by `pipeline`.
"""

__version__ = "0.1.0"

from pipeline.memory import prefer_jemalloc

prefer_jemalloc()  # the CLI's and the Airflow tasks' processes (pipeline/memory.py)
