# The README's two commands: `make demo` (the main job) and `make test` (the whole suite).
# Both create .venv on first use. torch is installed first and pinned: an unpinned torch, also one
# pulled in by another package, would bring gigabytes of CUDA packages. For a CUDA build, pass e.g.
#   make demo TORCH_INDEX="--index-url <your PyTorch CUDA wheel index>"
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
TORCH_INDEX ?=
DEMO_DOCS ?= 5000
DEMO_DIR ?= demo-output
DEMO_PORT ?= 18000

BIN := $(VENV)/bin
DEMO_LM = --ppl-filter.model $(DEMO_DIR)/models/lm
DEMO_MT = --backtranslate.forward-model $(DEMO_DIR)/models/mt --backtranslate.backward-model $(DEMO_DIR)/models/mt
INSTALLED := $(VENV)/.installed

.PHONY: demo test test-gpu fuzz install clean-demo wheel system-packages bench

install: $(INSTALLED)

$(INSTALLED): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet $(TORCH_INDEX) "$(TORCH)"
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

demo: $(INSTALLED)
	rm -rf $(DEMO_DIR)
	$(BIN)/fullchain sample-corpus --output $(DEMO_DIR)/corpus/sample.jsonl.gz --docs $(DEMO_DOCS)
	$(BIN)/fullchain sample-models --output $(DEMO_DIR)/models
	$(BIN)/fullchain clean --config examples/demo.yaml --input $(DEMO_DIR)/corpus --output $(DEMO_DIR)/clean
	$(BIN)/fullchain dedup --config examples/demo.yaml --input $(DEMO_DIR)/clean --output $(DEMO_DIR)/dedup
	$(BIN)/fullchain ppl-filter --config examples/demo.yaml $(DEMO_LM) --input $(DEMO_DIR)/dedup --output $(DEMO_DIR)/ppl_filter
	$(BIN)/fullchain backtranslate --config examples/demo.yaml $(DEMO_MT) --input $(DEMO_DIR)/ppl_filter --output $(DEMO_DIR)/backtranslate
	$(BIN)/fullchain shard --config examples/demo.yaml --input $(DEMO_DIR)/backtranslate --output $(DEMO_DIR)/shards
	$(BIN)/fullchain prepare --config examples/demo.yaml $(DEMO_LM) $(DEMO_MT) --input $(DEMO_DIR)/corpus --output $(DEMO_DIR)/prepare
	$(BIN)/fullchain train --config examples/train-demo.yaml --nproc-per-node 2 --data.manifest $(DEMO_DIR)/shards --output $(DEMO_DIR)/train
	$(BIN)/fullchain export $(DEMO_DIR)/train/hf --output $(DEMO_DIR)/export --validation.manifest $(DEMO_DIR)/shards
	$(BIN)/fullchain publish $(DEMO_DIR)/export --repository $(DEMO_DIR)/triton --name demo
	$(BIN)/fullchain serve --repository $(DEMO_DIR)/triton --http-port $(DEMO_PORT) \
	    --grpc-port $$(($(DEMO_PORT) + 1)) --metrics-port $$(($(DEMO_PORT) + 2)) --log-file $(DEMO_DIR)/triton.log & pid=$$!; \
	  for i in $$(seq 120); do curl -sf localhost:$(DEMO_PORT)/v2/health/ready && break; sleep 1; done; \
	  $(BIN)/fullchain generate "The river that runs through" --url localhost:$(DEMO_PORT) --max-tokens 24; rc=$$?; \
	  kill -INT $$pid; wait $$pid; exit $$rc

# Debian packages the tests use beyond Python's: chromium renders the run report in a real
# browser (tests/report/test_browser.py). Installed when missing (CI runs as root; else sudo).
CHROMIUM := /usr/bin/chromium
system-packages:
	@test -x $(CHROMIUM) || { as_root=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  $$as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

test: $(INSTALLED) system-packages
	$(BIN)/python -m pytest -q -m "not gpu"

# Every side-by-side benchmark of bench/ (under 30 minutes on 2 cores at the default sizes), and
# docs/BENCHMARKS.md's generated section rewritten; bigger sizes through BENCH_ARGS, e.g.
#   make bench BENCH_ARGS="--docs 100000 --serving-duration-s 60"     (or --quick: a few minutes)
BENCH_ARGS ?=
bench: $(INSTALLED)
	$(BIN)/python bench/run_all.py $(BENCH_ARGS)

# The tests that need a CUDA machine (NCCL, bf16, onnxruntime-gpu's CUDA execution provider).
test-gpu: $(INSTALLED)
	$(BIN)/python -m pytest -q -m gpu

# The fuzzing and chaos tiers with their long budgets (make test runs the same tests with short ones).
fuzz: $(INSTALLED)
	HYPOTHESIS_PROFILE=fuzz FULLCHAIN_CHAOS_ROUNDS=10 $(BIN)/python -m pytest -q -m "fuzz or chaos"

wheel: $(INSTALLED)
	rm -rf build  # setuptools would pack a previous build's leftovers too
	$(BIN)/pip wheel --no-deps -w dist .

clean-demo:
	rm -rf $(DEMO_DIR)
