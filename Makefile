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

BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: demo test install clean-demo wheel

install: $(INSTALLED)

$(INSTALLED): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet $(TORCH_INDEX) "$(TORCH)"
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

demo: $(INSTALLED)
	rm -rf $(DEMO_DIR)
	$(BIN)/fullchain sample-corpus --output $(DEMO_DIR)/corpus/sample.jsonl.gz --docs $(DEMO_DOCS)
	$(BIN)/fullchain clean --input $(DEMO_DIR)/corpus --output $(DEMO_DIR)/clean
	$(BIN)/fullchain dedup --input $(DEMO_DIR)/clean --output $(DEMO_DIR)/dedup

test: $(INSTALLED)
	$(BIN)/python -m pytest -q

wheel: $(INSTALLED)
	$(BIN)/pip wheel --no-deps -w dist .

clean-demo:
	rm -rf $(DEMO_DIR)
