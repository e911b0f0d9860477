# The two set-up commands: `make run` and `make test`. Both build the virtualenv
# on first use (and refresh it when pyproject.toml changes), so a fresh machine
# needs nothing installed by hand.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test schema clean system-deps

# System packages the tests need (a Redis server binary, Chromium). Each script
# is idempotent and quick when everything is already there.
system-deps:
	@for s in scripts/ensure-*.sh; do [ ! -e "$$s" ] || bash "$$s" || exit 1; done

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# SWITCHBOARD_HOST / SWITCHBOARD_PORT (and every SWITCHBOARD_* variable) in the
# environment override the demo config (default 127.0.0.1:8000).
run: $(STAMP)
	$(BIN)/switchboard serve --config server/demo.toml --data data/demo.sqlite3 --demo

# Types and lint first (a few seconds), then the suite.
test: $(STAMP) system-deps
	$(BIN)/mypy
	$(BIN)/ruff check
	$(BIN)/python -m pytest -q

# Benchmarks, never part of `make test`: `make bench SCENARIO=steady ARGS="--agents 1000 --rates 200"`.
.PHONY: bench
bench: $(STAMP) system-deps
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python -m bench $(or $(SCENARIO),compare) $(ARGS)

# A local Redis and N nodes on loopback ports (NODES=3); SHARDS=3 for a sharded
# Redis Cluster of that many primaries instead of one Redis: see scripts/cluster.sh.
.PHONY: cluster
cluster: $(STAMP) system-deps
	SHARDS=$(or $(SHARDS),0) bash scripts/cluster.sh $(or $(NODES),3)

schema: $(STAMP)
	$(BIN)/switchboard schema --out docs/schema.json

clean:
	rm -rf $(VENV) data .pytest_cache
