# The two commands a newcomer needs: `make demo` and `make test`. Everything else is here for them.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
UV := $(shell command -v uv 2>/dev/null)

.PHONY: install lock demo test lint typecheck pytest test-containers bench up clean json-schemas

# Bytecode is compiled at install: the environment sets PYTHONDONTWRITEBYTECODE=1, so without it every
# start (CLI, DAG parse) compiles Airflow and the rest again (`lienthong --help` 0.5 s instead of 0.1 s).
$(PY): requirements.lock setup.cfg pyproject.toml Makefile
	@if [ -z "$(UV)" ]; then python3 -m pip install -q uv || python3 -m pip install -q --break-system-packages uv; fi
	uv venv -q --allow-existing -p 3.11 $(VENV)
	uv pip sync -q --compile-bytecode --python $(PY) requirements.lock
	uv pip install -q --compile-bytecode --python $(PY) --no-deps -e .
	@# setuptools leaves lienthong.egg-info in the tree: with the repo on PYTHONPATH (Airflow's processes) it is
	@# a second `lienthong` distribution, and Airflow reports "Plugin 'lienthong_ops' already registered"
	rm -rf lienthong.egg-info
	$(PY) -m compileall -q -j 0 core pipeline lienthong connectors schemas quality sharing agencies dags >/dev/null
	@touch $(PY)

install: $(PY)  ## create .venv from the lock file

lock:  ## re-resolve requirements.lock from setup.cfg (after changing a dependency)
	uv pip compile -q setup.cfg --extra dev --extra bench --python-version 3.11 --generate-hashes -o requirements.lock

demo: install  ## the main job end to end on the embedded default (SQLite + Parquet under ./var)
	$(PY) -m lienthong.dev.demo

up: install  ## airflow standalone, the four simulators and the lookup API; prints URLs and the admin password's file
	$(PY) -m lienthong.dev.up

json-schemas: install  ## rewrite schemas/json/*.schema.json from the declaration models (a unit test checks them)
	$(PY) -m lienthong.dev.json_schemas

lint: install
	$(VENV)/bin/ruff check .

typecheck: install
	$(VENV)/bin/mypy core pipeline lienthong connectors schemas quality sharing agencies bench tests $(wildcard dags/*.py)

# Two workers (pytest-xdist): the e2e tests run one after another on one of them (tests/conftest.py groups
# them), the rest share both: 7 min instead of 18 on this 2-core machine.
PYTEST_WORKERS ?= 2
pytest: install
	$(VENV)/bin/pytest -m "unit or integration or e2e" --durations=25 -n $(PYTEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

test: lint typecheck pytest  ## ruff, mypy, then pytest with every marker

test-containers: install  ## the images built and docker/compose.yaml up on a real engine (root; tests/docker/test_containers.py)
	LIENTHONG_CONTAINER_TEST=1 $(VENV)/bin/pytest -m e2e -s tests/docker/test_containers.py $(PYTEST_ARGS)

bench: install  ## every benchmark, each beside its baseline
	@for b in $(filter-out bench/%_worker.py,$(wildcard bench/[a-z]*.py)); do \
		m=$$(basename $$b .py); echo "== bench.$$m"; $(PY) -m bench.$$m || exit 1; done

clean:
	rm -rf var build *.egg-info .mypy_cache .ruff_cache
