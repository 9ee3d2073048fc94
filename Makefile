# Two entry points for a fresh clone: `make repro` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install repro exp-show test clean-venv apt-lists

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall only when the pins change.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# The default corpus is fetched with `apt-get download` (pinned, sha256-checked .deb files),
# which needs apt's package lists: a fresh machine gets them once (as root).
apt-lists:
	@ls /var/lib/apt/lists/*_Packages >/dev/null 2>&1 || apt-get update -q || \
		echo "make: apt-get update failed: run it as root, or set data.source: synthetic" >&2

# Every stage the report reads (the default pipeline). The per-seed training has committed
# outputs, so a fresh clone whose features reproduce byte for byte skips it; the long studies
# run on request (`dvc repro label_efficiency`, `dvc repro ablate`, `dvc repro scale`).
repro: install apt-lists
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc repro report

# Compare experiments (`dvc exp run`): the eval EER and the other headline figures always, then
# only the params and results that differ between the rows (code and data hashes left out).
# A bare `dvc exp show` opens with the eval EER too: dvc.yaml lists metrics/eval.json first,
# and timing files (metrics/energy/, metrics/profile.json) are not metrics.
EXP_KEEP ?= ^(eer|eer_ci_low|eer_ci_high|eer_seed_mean|min_dcf|cllr|roc_auc|metrics/eval.json:dev_eer)$$
exp-show: install
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc exp show --no-pager --md --only-changed \
		--keep '$(EXP_KEEP)' --drop '^(src|stages|data|models|scores)/'

# The browser tests also need onnxruntime-web (npm ci) and Debian's chromium (.ci/run installs it).
test: install web/node_modules/.package-lock.json
	$(BIN)/ruff check src stages tests web
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest -q

clean-venv:
	rm -rf $(VENV)

# The detector in the browser (web/, extension/). Both need models/detector.onnx and the
# detector.json the export stage writes beside it, and node: npm ci installs the pinned
# onnxruntime-web. `make web` serves the page on loopback; `make extension` writes a zip to
# unpack and load at chrome://extensions (Developer mode, "Load unpacked").
WEB_MODEL ?= models/detector.onnx
WEB_PORT ?= 8000

.PHONY: web web-build extension

web/node_modules/.package-lock.json: web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund

# A fresh clone has no model yet: the pipeline up to the export stage makes it.
models/detector.onnx: | install
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc repro export

web-build: install web/node_modules/.package-lock.json $(WEB_MODEL)
	$(BIN)/python -m web.build app --model $(WEB_MODEL) --out web/build/app

web: web-build
	$(BIN)/python -m web.serve web/build/app --port $(WEB_PORT)

extension: install web/node_modules/.package-lock.json $(WEB_MODEL)
	$(BIN)/python -m web.build extension --model $(WEB_MODEL) --out web/build/extension \
		--zip web/build/spectcontra-extension.zip

# Where a fine-tuning step's time goes (torch threads x memory allocator, and one epoch on the
# real features): metrics/train_step.json, a timing file. Uncontended, after the pipeline ran.
.PHONY: time-train-step
time-train-step: install
	$(BIN)/python -m spectcontra.profiling.train_step --params params.yaml --features data/features \
		--out metrics/train_step.json

# Time a fresh clone's `make repro` (uncontended: run nothing else meanwhile) and write
# metrics/pipeline.json with per-stage seconds and the forced full run's.
.PHONY: time-repro
time-repro: install
	$(BIN)/python -m spectcontra.profiling.pipeline_time --repo . --out metrics/pipeline.json
