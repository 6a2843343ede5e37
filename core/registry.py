"""Where the declarations live: the built-in registry, and the ones an operator adds.

A registry is a directory holding `sources/*.yaml` (source files) and `contracts/*.yaml` (dataset
contracts). The built-in one is `connectors/sources` + `schemas/contracts`; `LIENTHONG_REGISTRY` names
more (separated by `os.pathsep`), so a new agency system is brought in by files alone, outside the
package: settings, contracts, drift, the DAG generator, doctor and the CLI all read the same set.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

REGISTRY_VAR = "LIENTHONG_REGISTRY"


def registry_dirs(environ: Mapping[str, str] | None = None) -> tuple[Path, ...]:
    """The added registries, in order: from `environ` when it names the variable, else the process's."""
    env = environ if environ is not None and REGISTRY_VAR in environ else os.environ
    return tuple(Path(p).resolve() for p in env.get(REGISTRY_VAR, "").split(os.pathsep) if p.strip())
