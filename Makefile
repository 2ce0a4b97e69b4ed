# The two set-up commands of a fresh machine: `make run` and `make test`. Both build .venv first.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
SERVICES := registry approvals issues scoring notifier
PACKAGES := libs/common $(addprefix services/,$(SERVICES))
STAMP  := $(VENV)/.installed
#: What the type checker (mypy, configured in pyproject.toml) checks. A service's src/ joins the list once
#: it passes: services/registry/src services/approvals/src services/issues/src ...
MYPY_PATHS := libs/common/src services/registry/src services/scoring/src services/approvals/src services/notifier/src services/issues/src

.PHONY: venv run test lint bench clean

venv: $(STAMP)

$(STAMP): constraints.txt $(addsuffix /pyproject.toml,$(PACKAGES))
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt \
		-e 'libs/common[embedded,test,documents]' $(addprefix -e services/,$(SERVICES))
	touch $(STAMP)

run: venv
	$(BIN)/lkg run

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy $(MYPY_PATHS)

test: venv lint
	@command -v chromium >/dev/null 2>&1 || echo "== no chromium on the PATH: the web console's browser tests (tests/test_console_browser.py) are SKIPPED; apt-get install chromium fonts-noto-cjk to run them (.ci/run does)"
	$(BIN)/python -m pytest -q --durations=20 $(PYTEST_ARGS)

bench: venv
	@# -P: keep bench/ off sys.path, or bench/http.py would shadow the standard library's http.
	@for b in bench/[!_]*.py; do echo "== $$b"; $(BIN)/python -P $$b || exit 1; done

clean:
	rm -rf $(VENV) .lkg
