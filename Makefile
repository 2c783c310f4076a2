# sen12stac: two commands on a fresh clone -- `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
STAMP  := $(VENV)/.installed
TGVENV := $(VENV)/tools-torchgeo
TGSTAMP := $(TGVENV)/.installed
DEMO   ?= demo

.PHONY: demo test system venv venv-torchgeo bench examples clean browser browser-test-tools infra

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

# torchgeo's own environment for tests/test_torchgeo_env.py: torchgeo needs torchvision, and
# torchvision's PyPI wheels import only beside the torch of their own release, not beside dev's
# CPU torch pin; torch 2.14.1 + torchvision 0.29.1 are that pair (docs/torchgeo.md).
$(TGSTAMP): pyproject.toml
	@test -x $(TGVENV)/bin/python || $(PYTHON) -m venv $(TGVENV)
	$(TGVENV)/bin/pip install --quiet 'torch==2.14.1' 'torchvision==0.29.1' -e '.[torchgeo]' 'pytest>=8' 'pytest-timeout>=2.2' 'moto[server]==5.2.5'
	@touch $(TGSTAMP)

venv-torchgeo: $(TGSTAMP)

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

test: system $(STAMP) $(TGSTAMP) browser-test-tools
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
	$(PY) bench/bench_select.py
	$(PY) bench/bench_diff.py
	$(PY) bench/bench_v2.py

clean:
	rm -rf $(DEMO) .pytest_cache .hypothesis build *.egg-info
