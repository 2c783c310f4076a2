# sen12stac: two commands on a fresh clone -- `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
STAMP  := $(VENV)/.installed
DEMO   ?= demo

.PHONY: demo test system venv bench examples clean browser browser-test-tools infra

# Debian packages the tests need, installed when missing (scripts/system-deps.sh lists them).
system:
	@bash scripts/system-deps.sh

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e '.[dev]'
	@# cffconvert 2.0.0 (CITATION.cff checks in the tests) pins jsonschema<4: its own environment
	@test -x $(VENV)/tools-cffconvert/bin/cffconvert || ($(PYTHON) -m venv $(VENV)/tools-cffconvert && $(VENV)/tools-cffconvert/bin/pip install --quiet 'cffconvert==2.0.0')
	@touch $(STAMP)

venv: $(STAMP)

# STAC Browser, built once into the user cache (npm; about 2 minutes the first time, then a no-op)
# so `sen12stac browse` works offline; the tests also need playwright-core.
browser:
	@bash scripts/build-stac-browser.sh
browser-test-tools:
	@bash scripts/build-stac-browser.sh --test-tools

# infra/bucket.yaml and the JSON beside it, rendered from sen12stac/infra/.
infra: $(STAMP)
	$(PY) scripts/make_infra.py

demo: system $(STAMP) browser
	$(VENV)/bin/sen12stac demo --out $(DEMO)
	$(VENV)/bin/sen12stac validate $(DEMO)/catalog.json

test: system $(STAMP) browser-test-tools
	$(PY) -m pytest -q

examples: $(STAMP)
	$(PY) scripts/make_examples.py

# Benchmarks are opt-in (minutes each); results land in bench/results/.
bench: $(STAMP)
	$(PY) bench/bench_build.py
	$(PY) bench/bench_catalog.py
	$(PY) bench/bench_publish.py
	$(PY) bench/bench_stream.py
	$(PY) bench/bench_opendata.py
	$(PY) bench/bench_api.py

clean:
	rm -rf $(DEMO) .pytest_cache .hypothesis build *.egg-info
