# The README's two commands: `make demo` (the main job) and `make test` (the whole suite).
# Both create .venv on first use. torch is installed first and pinned: an unpinned torch, also one
# pulled in by another package, would bring gigabytes of CUDA packages. For a CUDA build, pass e.g.
#   make demo TORCH_INDEX="--index-url <your PyTorch CUDA wheel index>"
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
TORCH_INDEX ?=
DEMO_DIR ?= demo-output

BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
REAL_TEXT_DIR := $(VENV)/share/fullchain-real-text
REAL_TEXT := $(REAL_TEXT_DIR)/.unpacked

.PHONY: demo real-text test test-gpu fuzz install clean-demo wheel system-packages bench

install: $(INSTALLED)

$(INSTALLED): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet $(TORCH_INDEX) "$(TORCH)"
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

# The whole chain on real text (docs/RUN.md); rerunning resumes (`make clean-demo` starts over).
demo: $(INSTALLED) $(REAL_TEXT)
	$(BIN)/fullchain run examples/quickstart.yaml --output $(DEMO_DIR)

# The Chinese part of the real-text corpus: Debian's fortunes-zh, fetched with apt (a registry the
# install already uses; no root needed) and unpacked into the venv, where the corpus stage looks.
# Without apt the corpus is English only, and the run says so.
real-text: $(REAL_TEXT)

$(REAL_TEXT): $(INSTALLED)
	rm -rf $(REAL_TEXT_DIR) && mkdir -p $(REAL_TEXT_DIR)/debs
	(cd $(REAL_TEXT_DIR)/debs && apt-get download fortunes-zh 2>/dev/null && \
	  dpkg-deb -x fortunes-zh_*.deb ..) || echo "apt-get download fortunes-zh failed: the corpus will be English only"
	touch $@

# Debian packages the tests use beyond Python's: chromium renders the run report in a real
# browser (tests/report/test_browser.py); wordnet-base holds WordNet 3.0's database files, the
# English lexicon of the synonyms stage (tests/synonyms, docs/AUGMENT.md). Installed when missing
# (CI runs as root; else sudo).
CHROMIUM := /usr/bin/chromium
WORDNET := /usr/share/wordnet/data.noun
system-packages:
	@{ test -x $(CHROMIUM) && test -f $(WORDNET); } || { as_root=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  $$as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium wordnet-base; }

# Prometheus, for the test that evaluates the Grafana dashboard's and prometheus-adapter's queries
# against a real one scraping a real tritonserver (tests/deploy/prometheus.py): Debian's build,
# fetched with apt like fortunes-zh and unpacked into the venv (no root, no service started). The
# package lists are refreshed once if the first download fails (a fresh machine has none).
PROMETHEUS_DIR := $(VENV)/share/fullchain-prometheus
PROMETHEUS := $(PROMETHEUS_DIR)/usr/bin/prometheus
$(PROMETHEUS):
	rm -rf $(PROMETHEUS_DIR) && mkdir -p $(PROMETHEUS_DIR)/debs
	cd $(PROMETHEUS_DIR)/debs && { apt-get download prometheus || { as_root=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$as_root apt-get update -qq && apt-get download prometheus; }; } && dpkg-deb -x prometheus_*.deb ..
	rm -rf $(PROMETHEUS_DIR)/debs
	test -x $@

# One pytest worker per core (at most 4: the heaviest tests start 8 processes of their own), each
# taking whole files, so a module's shared server or chain run starts once. In one process the
# suite kept about one of two cores busy (34 CPU minutes in 36); in two it takes 7 minutes on an
# idle 2-core VM (2026-12-04).
test: $(INSTALLED) system-packages $(PROMETHEUS)
	$(BIN)/python -m pytest -q -m "not gpu" -n auto --maxprocesses=4 --dist loadfile

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
