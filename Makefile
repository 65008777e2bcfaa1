# Two commands a newcomer needs: `make book` and `make test`. Each checks the system packages
# first (stopping at once with the command to run), then bootstraps .venv.
# `make help` lists every target: its text is the `## ` comment on the target's line.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
BIN    := $(VENV)/bin
# Third-party JavaScript the site serves itself, so that it works with no network: html-manager
# renders the saved widget state, MathJax the formulas. Fetched with npm pack, never committed.
WIDGET_JS_VERSION := 1.0.15
MATHJAX_VERSION := 3.2.2
VENDOR := _vendor/embed.js _vendor/mathjax/tex-chtml.js
# The kernel that executes chapters and the tests' child processes find the venv's tools
# (jupyter, alembic, mpiexec) without an activated environment.
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: help system venv book serve release test test-fast lint validate clean publish publish-tree configure

help: ## list the targets
	@awk -F':.*## ' '/^[a-z][a-z-]*:.*## / {printf "make %-13s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# Debian packages: .venv needs python3-venv, the book also npm (the vendored JavaScript), the
# tests also Debian's chromium (browser tests), bubblewrap (the grader's sandbox) and openssl
# (the certificates of the TLS cluster test). A target-specific value reaches the
# prerequisites, so each target checks only what it needs.
SYSTEM_PACKAGES = python3-venv npm chromium bubblewrap openssl
book: SYSTEM_PACKAGES = python3-venv npm
venv release validate lint test-fast configure: SYSTEM_PACKAGES = python3-venv

system: ## check the Debian packages (chromium, bubblewrap, npm, ...); as root, apt-get installs them
	@PYTHON=$(PYTHON) .ci/system-packages $(SYSTEM_PACKAGES)

$(VENV)/.installed: requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -e .
	touch $@

venv: system $(VENV)/.installed ## create .venv from the pinned requirements.txt

# Only embed.js and its woff2 fonts (2 MB); the other font formats are not needed.
_vendor/embed.js:
	rm -rf $@.tmp && mkdir -p $@.tmp _vendor
	cd $@.tmp && npm pack --silent @jupyter-widgets/html-manager@$(WIDGET_JS_VERSION) >/dev/null \
	  && tar xzf jupyter-widgets-html-manager-$(WIDGET_JS_VERSION).tgz
	cp $@.tmp/package/dist/*.woff2 _vendor/
	cp $@.tmp/package/dist/embed.js $@
	rm -rf $@.tmp

# The TeX-to-HTML bundle, its fonts and the pieces it loads on demand (menu, extensions).
_vendor/mathjax/tex-chtml.js:
	rm -rf $@.tmp && mkdir -p $@.tmp _vendor/mathjax/output/chtml/fonts _vendor/mathjax/input/tex
	cd $@.tmp && npm pack --silent mathjax@$(MATHJAX_VERSION) >/dev/null && tar xzf mathjax-$(MATHJAX_VERSION).tgz
	cp -r $@.tmp/package/es5/output/chtml/fonts/woff-v2 _vendor/mathjax/output/chtml/fonts/
	cp -r $@.tmp/package/es5/input/tex/extensions _vendor/mathjax/input/tex/
	cp -r $@.tmp/package/es5/ui $@.tmp/package/es5/a11y $@.tmp/package/es5/adaptors _vendor/mathjax/
	cp $@.tmp/package/es5/tex-chtml.js $@
	rm -rf $@.tmp

EXERCISE_SOURCES = $(shell find exercises autograder -type f -not -path '*/.ipynb_checkpoints/*' -not -name '*.pyc')

release/.released: $(VENV)/.installed $(EXERCISE_SOURCES)
	$(PY) -m autograder release
	touch $@

release: venv release/.released ## write the student versions of the exercises to release/

# The execution cache is keyed on each notebook's own text, not on the coursekit code it imports:
# when coursekit changes, drop the cache so that no chapter shows results of old code.
COURSEKIT_HASH = $(shell find coursekit -name '*.py' | LC_ALL=C sort | xargs cat | sha256sum | cut -c1-16)

book: system venv $(VENDOR) release/.released ## build the website into _build/html
	@if [ "$$(cat _build/.coursekit-hash 2>/dev/null)" != "$(COURSEKIT_HASH)" ]; then \
	  echo "coursekit changed: re-executing every chapter"; rm -rf _build/.jupyter_cache _build/.doctrees; fi
	$(BIN)/jupyter-book build . --warningiserror --nitpick --keep-going
	@echo "$(COURSEKIT_HASH)" > _build/.coursekit-hash
	@echo "The website is in _build/html: open _build/html/index.html, or run 'make serve'."

serve: ## serve _build/html on http://127.0.0.1:8000 (this machine only)
	$(PY) -m http.server --bind 127.0.0.1 --directory _build/html 8000

# Every source notebook's solutions must pass its own tests (the tests run this too).
validate: venv ## check that every exercise's solutions pass its own tests
	@for nb in exercises/*/*.ipynb; do $(PY) -m autograder validate "$$nb" || exit 1; done

lint: venv ## ruff over the repository
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: system lint book ## lint, build the book strictly, run every test (what CI runs)
	$(PY) -m pytest -q --durations=30

test-fast: venv ## the quick tests only (no real kernels, no browser)
	$(PY) -m pytest -q -m "not slow and not browser"

publish-tree: book ## the site + one live notebook per chapter + binder/, in _build/publish
	$(PY) tools/live_notebooks.py publish-tree

publish: book ## push the site and the live notebooks to gh-pages, where the launch buttons point
	$(PY) tools/live_notebooks.py publish

configure: venv ## REPO=owner/name: point the repository, issues and launch links at a fork
	@test -n "$(REPO)" || { echo "usage: make configure REPO=owner/name"; exit 2; }
	$(PY) tools/live_notebooks.py configure "$(REPO)"

clean: ## remove the build, the release, the vendored JavaScript and caches
	rm -rf _build release _vendor .pytest_cache .ruff_cache
