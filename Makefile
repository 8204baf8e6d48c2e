# claimwire: `make run` and `make test` do all set-up themselves on a fresh clone.
VENV   := .venv
PY     := $(VENV)/bin/python
UV     := $(VENV)/bin/uv
STAMP  := $(VENV)/.installed-stamp

.PHONY: install browser java run test ui eval clean-data

# The virtual environment is created when missing and synced to uv.lock when the lock changes.
# Bytecode is compiled at install: with PYTHONDONTWRITEBYTECODE set (as on our machines) every
# process would otherwise recompile what it imports (dagster, great-expectations: 10 s, not 5).
$(STAMP): pyproject.toml uv.lock Makefile
	@test -x $(PY) || python3 -m venv $(VENV)
	@test -x $(UV) || $(PY) -m pip install --quiet uv==0.13.8
	UV_PROJECT_ENVIRONMENT=$(VENV) $(UV) sync --locked --quiet --compile-bytecode --python $(PY)
	@touch $(STAMP)

install: $(STAMP)

## materialise the whole graph on raw/ into data/ and print a summary
run: install
	$(PY) -m pipelines.cli run

## run the test suite (installs Debian's chromium and a Java runtime when they are missing and we may)
test: install browser java
	$(PY) -m pytest

## Debian's chromium, for the browser test; Playwright drives it (it never downloads a browser)
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "chromium is missing: install Debian's chromium package (sudo apt-get install chromium) for the browser test"; \
	  fi; }

## a Java 17 runtime for Spark (CLAIMWIRE_ENGINE=spark and the Spark tests); Debian's package when missing
java:
	@command -v java >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless >/dev/null; \
	  else \
	    echo "java is missing: install a Java 17+ runtime (sudo apt-get install openjdk-17-jre-headless) for the Spark engine"; \
	  fi; }

## the Dagster UI on 127.0.0.1:3000, with the instance under data/dagster_home
ui: install
	DAGSTER_HOME=$$($(PY) -m pipelines.cli home) $(VENV)/bin/dagster dev -m pipelines.definitions -h 127.0.0.1 -p 3000

## remove the warehouse, the releases and the Dagster instance (the raw folder is untouched)
clean-data:
	rm -rf data

## score dedup and extraction against the labelled sets (tests/data) and print the tables
eval: install
	$(PY) -m pipelines.eval

## run one analyst query (sql/queries/<Q>.sql) on the release: make query Q=conflicts [RELEASE=path]
.PHONY: query
query: install
	$(PY) -m pipelines.query $(Q) $(if $(RELEASE),--release $(RELEASE))

## benchmark the whole job on generated corpora, with the peers: make bench ARGS="--articles 10000"
.PHONY: bench
bench: install
	$(PY) -m benchmarks.run $(ARGS)
