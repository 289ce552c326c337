# cutman: `make run` starts the local stack with the examples; `make test` runs every test.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 8080
STAMP  := $(VENV)/.installed

.PHONY: run test unit lint typecheck bench bench-quick deps venv clean crds func-context

run: $(STAMP) deps-run
	$(BIN)/cutman dev --port $(PORT) -f deploy/examples

test: $(STAMP) deps-test
	$(BIN)/pytest -q

unit: $(STAMP)
	$(BIN)/pytest -q tests/unit

# Figures, not pass/fail (issue 12's scenarios): a table, and bench/results.json.
# bench-quick runs each scenario shorter (under 3 minutes); PROFILE=dir adds py-spy profiles.
bench: $(STAMP) deps-bench
	$(BIN)/python -m bench.run $(if $(PROFILE),--profile $(PROFILE))

bench-quick: $(STAMP) deps-bench
	$(BIN)/python -m bench.run --quick $(if $(PROFILE),--profile $(PROFILE))

lint: $(STAMP)
	$(BIN)/ruff check shared functions tests bench

# deploy/knative/base/crds.yaml from the pydantic models (a unit test fails when they drift).
crds: $(STAMP)
	$(BIN)/python -m cutman.models.crd > deploy/knative/base/crds.yaml

typecheck: $(STAMP)
	@mkdir -p .typecheck && ln -sfn ../shared .typecheck/cutman
	MYPYPATH=.typecheck $(BIN)/mypy
	@for f in functions/*/; do (cd $$f && MYPYPATH=../../.typecheck ../../$(BIN)/mypy --config-file ../../pyproject.toml -p function) || exit 1; done

venv: $(STAMP)

# `func build` from a function folder: its build context is the folder, so the cutman
# wheel goes into functions/<name>/wheels (func.yaml points pip there).
func-context: $(STAMP)
	rm -rf build/func-wheel && $(BIN)/pip wheel -q --no-deps -w build/func-wheel .
	@for f in functions/*/; do rm -rf $$f/wheels && mkdir -p $$f/wheels && cp build/func-wheel/*.whl $$f/wheels/; done

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

# Debian packages the stack and the tests run for real: redis-server always, dash (cli
# steps run under /bin/dash explicitly), prometheus-alertmanager for the Alertmanager
# integration tests, prometheus for the agent's promql tool, bash for the hostile corpus,
# prometheus-pushgateway for the prometheus sink.
deps-run:
	@command -v redis-server >/dev/null || scripts/install-debs.sh redis-server
	@test -x /bin/dash || scripts/install-debs.sh dash

# wrk (Debian) is the benchmarks' load generator; py-spy (PyPI) their profiler.
deps-bench: deps-run
	@command -v wrk >/dev/null || scripts/install-debs.sh wrk
	@test -x $(BIN)/py-spy || $(BIN)/pip install -q -e '.[dev,bench]'

deps-test:
	@command -v redis-server >/dev/null && command -v prometheus-alertmanager >/dev/null \
	  && command -v prometheus >/dev/null && command -v prometheus-pushgateway >/dev/null \
	  || scripts/install-debs.sh redis-server prometheus-alertmanager prometheus prometheus-pushgateway
	@command -v kubectl >/dev/null || scripts/install-debs.sh kubernetes-client
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null \
	  || scripts/install-debs.sh chromium chromium-driver
	@test -x /bin/dash && command -v bash >/dev/null || scripts/install-debs.sh dash bash

clean:
	rm -rf $(VENV) .cutman .pytest_cache .mypy_cache .ruff_cache
