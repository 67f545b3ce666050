# The two commands of the README:
#   make demo   set up, then run the controller with the simulator and the terminal UI
#   make test   set up (including the Debian packages the tests use), then run every test
SHELL := /bin/bash
export UV_PYTHON_DOWNLOADS := never
UV = $$(cat .venv/.uv-path 2>/dev/null || command -v uv)

.PHONY: setup setup-test demo demo-headless test lint bench dist

setup:
	@scripts/bootstrap.sh

setup-test:
	@scripts/bootstrap.sh --test

demo: setup
	$(UV) run station demo

demo-headless: setup
	$(UV) run station demo --headless --seconds 30

test: setup-test
	$(UV) run ruff check .
	$(UV) run mypy
	$(UV) run pytest

# A wheel and an sdist in dist/ (the wheel is built from the sdist, so both carry everything the
# product needs at run time); install on a station box with scripts/install.sh (docs/operations.md).
dist: setup
	rm -rf dist
	$(UV) build --out-dir dist
	@ls -l dist

lint: setup
	$(UV) run ruff check .
	$(UV) run ruff format --check .
	$(UV) run mypy

bench: setup
	for b in codec journal poll idle blacklist decide drain tui station demo report scales tanks desk; do $(UV) run station bench $$b --json; done
