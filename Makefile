# sagefleet: every target creates or refreshes .venv itself.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: venv test demo lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

## make test: every test (unit + integration against the simulated fleet)
test: $(STAMP)
	$(BIN)/python -m pytest

## make demo: start the simulated demo fleet, run the playbooks, stop the fleet
demo: $(STAMP)
	$(BIN)/sagefleet demo

## make lint: ruff, mypy on src/, ansible-playbook --syntax-check
lint: $(STAMP)
	$(BIN)/ruff check src tests action_plugins library
	$(BIN)/mypy
	cd . && for playbook in playbooks/*.yml; do \
		$(BIN)/ansible-playbook --syntax-check "$$playbook" || exit 1; \
	done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .sagefleet
