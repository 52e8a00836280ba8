# sagefleet: every target creates or refreshes .venv itself.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# ansible-core 2.18 transfers files with other scripts than 2.19+: its own
# small virtualenv drives the simulator from the main suite's process.
VENV218  := .venv-ansible218
STAMP218 := $(VENV218)/.installed

.PHONY: venv test test-ansible218 demo lint clean bench-sim

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

## make test: every test (unit + integration against the simulated fleet),
## then the ansible-core 2.18 conformance leg
test: $(STAMP)
	$(BIN)/python -m pytest
	$(MAKE) test-ansible218

$(STAMP218):
	test -x $(VENV218)/bin/python || $(PYTHON) -m venv $(VENV218)
	$(VENV218)/bin/python -m pip install --quiet 'ansible-core>=2.18,<2.19' pywinrm pyspnego
	touch $(STAMP218)

## make test-ansible218: ansible-core 2.18's raw/put_file/fetch_file against the simulator
test-ansible218: $(STAMP) $(STAMP218)
	SAGEFLEET_ANSIBLE218_PYTHON=$(VENV218)/bin/python $(BIN)/python -m pytest \
		tests/integration/test_ansible_conformance.py -k ansible218

## make bench-sim: 500 simulated hosts in one process (start time, memory, req/s)
bench-sim: $(STAMP)
	$(BIN)/python bench/sim_scale.py --hosts 500 --output .sagefleet/bench-sim.json

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
	rm -rf $(VENV) $(VENV218) .pytest_cache .mypy_cache .ruff_cache .sagefleet
