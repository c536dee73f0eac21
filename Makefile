# Set-up and entry points. Each target creates .venv (pinned requirements) if it is missing.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: venv demo test clean

venv: $(STAMP)

$(STAMP): requirements/runtime.txt requirements/training.txt requirements/test.txt setup.py training/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -q -r requirements/test.txt
	$(BIN)/pip install --disable-pip-version-check -q --no-deps -e . -e training
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/evodrive demo --out out/demo

test: $(STAMP)
	$(BIN)/python -m pytest test -q -p no:cacheprovider

clean:
	rm -rf $(VENV) build install log out
