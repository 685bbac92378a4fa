# Two entry points: `make demo` (the main job on the embedded digits data) and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
# The HTML report's browser test runs Debian's Chromium (tests/test_report_browser.py), driven by Playwright.
CHROMIUM   ?= /usr/bin/chromium

.PHONY: demo test lint bench clean browser results

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# Keep a torch that is already importable; otherwise take the CPU build (plain `torch` pulls CUDA).
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/smoothcert demo

# Playwright from the `report` extra; never `playwright install` (it downloads a browser of its own).
# Ray from the `ray` extra: tests/test_ray_backend.py runs it for real on a local cluster.
$(TEST_STAMP): $(STAMP)
	$(PY) -m pip install -q -e ".[dev,report,ray]"
	touch $(TEST_STAMP)

# Debian's Chromium, installed only when missing (apt-get needs root, as on CI).
browser:
	@test -x $(CHROMIUM) || { echo "installing chromium (apt-get) for the browser test"; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; }

test: $(TEST_STAMP) browser
	SMOOTHCERT_CHROMIUM=$(CHROMIUM) $(PY) -m pytest

# Every table, number and figure docs/ quotes, regenerated from its runs and checked against them: hours on two
# cores, so run it in the background (nohup make results &); after any stop it continues where it was.
# JOBS=N runs N commands at once (independent seeds and models; for more cores or a GPU).
DATA_DIR ?= ../shared/data/mnist
JOBS ?= 1
results: $(STAMP)
	$(VENV)/bin/smoothcert results run --data-dir $(DATA_DIR) --jobs $(JOBS)
	$(VENV)/bin/smoothcert results docs
	$(VENV)/bin/smoothcert results check

lint: $(STAMP)
	$(VENV)/bin/ruff check .

bench: $(STAMP)
	$(PY) benchmarks/engine.py

clean:
	rm -rf $(VENV) runs build *.egg-info
