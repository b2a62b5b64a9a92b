# adwatch: `make demo` runs the main job on the bundled demo board; `make test` runs the tests.
# Both create .venv and install what they need on a machine that has only Python >= 3.11.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
MODEL_NAME := job-risk-0.4.0
MODEL  := models/$(MODEL_NAME)/model.skops

.PHONY: install demo test model bench clean help

help:
	@echo "make demo   - crawl, score, store and show the queue on the bundled offline demo board"
	@echo "make test   - run the test suite"
	@echo "make model  - (re)train the shipped job-ad model from data/ (fixed seeds)"
	@echo "make bench  - run the benchmarks in bench/"

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "adwatch needs Python >= 3.11")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Everything the trained model depends on: its data, the code that reads and features it, and the
# indicator lexicons whose matched words the model skips (scoring.features.IndicatorMask).
MODEL_INPUTS := data/difraud-job-scams/job_scams_validation.jsonl data/emscad-fj-small/fj_small.csv \
	data/emscad-fj-small/fj_small_overlap_with_difraud.csv \
	$(wildcard config/indicators/*.en.yml) \
	$(addprefix scoring/,model.py features.py similarity.py datasets.py evaluate.py rules.py \
		indicators.py segments.py normalize.py langid.py)

$(MODEL): $(STAMP) $(MODEL_INPUTS)
	$(BIN)/adwatch train --out models --name $(MODEL_NAME) --cv-repeats 5 \
		--data data/difraud-job-scams/job_scams_validation.jsonl data/emscad-fj-small/fj_small.csv \
		--exclude data/emscad-fj-small/fj_small_overlap_with_difraud.csv

model: $(MODEL)

demo: $(STAMP) $(MODEL)
	$(BIN)/adwatch demo

test: $(STAMP) $(MODEL)
	$(BIN)/python -m pytest -q

bench: $(STAMP) $(MODEL)
	@for f in bench/*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info adwatch.db adwatch.db-* .pytest_cache
