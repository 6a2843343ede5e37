"""lienthong: the data-sharing bus between a province's agency systems.

This package holds what every part shares: settings, errors, the CLI entry point.
The parts themselves are the top-level packages named in the design: `connectors`,
`schemas`, `quality`, `sharing`, `agencies`; `dags/` holds the Airflow DAG files.
"""

__version__ = "0.1.0"
