# `make demo` and `make test` create .venv if absent, install what they need, and run.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.kzoo-installed
BACKENDS ?= torch tensorflow jax
# Extra pip options for torch, e.g. TORCH_INDEX="--index-url https://download.pytorch.org/whl/cpu"
# for the CPU build (on Linux, PyPI's torch==2.13.0 is the CUDA build, several GB).
TORCH_INDEX ?=

.PHONY: test demo lint docs presets fashion-presets bench data release

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# torch first (TORCH_INDEX picks its build), so the `torch` extra is already satisfied.
	$(BIN)/pip install -q torch==2.13.0 $(TORCH_INDEX)
	$(BIN)/pip install -q -e ".[tensorflow,torch,jax,data,test]"
	touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check kzoo tests benchmarks packaging

# The docs site, strictly (a broken link, anchor or docstring reference fails), into a
# throw-away folder; `$(BIN)/mkdocs serve` shows it.
docs: $(STAMP)
	@site=$$(mktemp -d); NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet \
		--site-dir $$site; status=$$?; rm -rf $$site; exit $$status

# ruff, then pytest once per backend; the tests one pass covers (conftest's `once` says
# which) run in the first pass only, and the paper-scale recipes' smoke tests are shared out
# over the torch and TensorFlow passes in turn
# (KZOO_TEST_BACKENDS; JAX's eager steps took 230 s for all of them). Two pytest workers,
# one thread each: two workers of two threads on two cores made torch ops up to 9x slower;
# tests steal each other's queued tests (their durations range from 0.01 s to a minute).
# XLA's expensive LLVM passes off: the tests' nets are tiny and compiled once (JAX, two
# workers: tests/test_gan.py and test_robgan.py 155 s with them, 109 s without; one preset's
# `kzoo eval` 20 s and 22 s). --xla_backend_optimization_level=0 took the first to 92 s but
# the second to 60 s. No stray word in XLA_FLAGS: XLA ignores the flags after one.
# JAX keeps what it compiles in a folder of this run, so that the test workers and the
# processes the tests start compile each program once (JAX pass: 14:21 -> 12:00).
ONE_THREAD := OMP_NUM_THREADS=1 TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1 \
	XLA_FLAGS="--xla_cpu_multi_thread_eigen=false --xla_llvm_disable_expensive_passes=true"
JAX_CACHE := JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=0 JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES=0
test: lint docs
	@cache=$$(mktemp -d); first=1; for b in $(BACKENDS); do \
		echo "== pytest, KERAS_BACKEND=$$b =="; \
		$(ONE_THREAD) $(JAX_CACHE) JAX_COMPILATION_CACHE_DIR=$$cache \
			KZOO_TEST_ONCE=$$first KZOO_TEST_BACKENDS="$(BACKENDS)" KERAS_BACKEND=$$b \
			$(BIN)/python -m pytest -q \
			-n 2 --dist worksteal -p no:cacheprovider --durations=15 \
			|| { rm -rf $$cache; exit 1; }; \
		first=0; \
	done; rm -rf $$cache

# Fashion-MNIST's published files (kzoo.data.idx), from Debian's package where apt-get works;
# without them the real-data tests skip, saying why.
FASHION_MNIST := /usr/share/datasets/fashion-mnist
data:
	@if [ -f $(FASHION_MNIST)/t10k-labels-idx1-ubyte.gz ]; then \
		echo "Fashion-MNIST is in $(FASHION_MNIST)/"; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist; \
	else \
		echo "make data: run 'sudo apt-get install dataset-fashion-mnist' (Debian, Ubuntu), or put" \
			"the four files of https://github.com/zalandoresearch/fashion-mnist in" \
			"\$$KZOO_DATA/fashion_mnist/"; \
	fi

demo: $(STAMP)
	$(BIN)/kzoo demo

# Retrain the presets in saved_models/ from their recipes, each on the backend its card
# names, in an order where a preset comes after those it starts from (`kzoo list --recipes`).
presets: $(STAMP)
	$(BIN)/kzoo list --recipes > .presets-plan && while read -r recipe backend name; do \
		$(BIN)/kzoo train $$recipe --backend $$backend --quiet --out saved_models/$$name \
			--overwrite || exit 1; \
	done < .presets-plan; status=$$?; rm -f .presets-plan; exit $$status

# Presets of every Fashion-MNIST recipe (`make data` first), on tensorflow (the fastest backend
# for most of them here: benchmarks/results/paper_scale.md) but Madry's on torch, where
# AutoAttack's engines run (its card holds AutoAttack's accuracy), in the order they start
# from each other (`kzoo recipe --order`). A preset with a card is kept; an interrupted one
# resumes.
fashion-presets: $(STAMP) data
	order=$$($(BIN)/kzoo recipe --order $(wildcard recipes/*/fashion_mnist*.toml)) || exit 1; \
	for r in $$order; do \
		name=$$(grep -m1 '^name = ' $$r | cut -d'"' -f2); \
		backend=tensorflow; case $$r in */madry/*) backend=torch;; esac; \
		test -f saved_models/$$name/card.json || \
			$(BIN)/kzoo train $$r --backend $$backend --quiet --out saved_models/$$name || exit 1; \
	done

bench: $(STAMP)
	$(BIN)/python benchmarks/step_time.py

# What is uploaded, into dist/, offline: kzoo's sdist and its wheel (built from that sdist),
# and the wheel of its presets (packaging/presets/; its build folder first removed, where a
# deleted preset would linger); then twine checks their metadata and check_wheels.py their
# contents and sizes (kzoo's wheel under 1 MB, with no preset). CONTRIBUTING.md, "Releasing".
release: $(STAMP)
	rm -rf dist packaging/presets/build
	$(BIN)/python -m build --no-isolation --outdir dist .
	$(BIN)/python -m build --no-isolation --wheel --outdir dist packaging/presets
	$(BIN)/twine check --strict dist/*
	$(BIN)/python packaging/check_wheels.py dist/*.whl
