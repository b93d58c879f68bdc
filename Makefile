# sordash: `make demo` runs the dashboard on the embedded simulator, `make test` runs every check.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo serve test lint bench screenshots browser-screenshot clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/sordash --demo

serve: $(STAMP)
	$(BIN)/sordash serve --demo

lint: $(STAMP)
	$(BIN)/ruff check app widgets styles sordash tests benchmarks
	$(BIN)/ruff format --check app widgets styles sordash tests benchmarks
	$(BIN)/mypy

test: lint
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python -m benchmarks

screenshots: $(STAMP)
	$(BIN)/python -m app.screenshots screenshots

# The dashboard in a real headless Chromium (`sordash serve --demo`), taken by the browser test.
browser-screenshot: $(STAMP)
	SORDASH_ARTIFACTS=screenshots $(BIN)/pytest -q -p no:randomly \
		tests/test_serve.py -k test_the_dashboard_works_in_a_real_browser

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
