# sagefleet: every target creates or refreshes .venv itself.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# ansible-core 2.18 transfers files with other scripts than 2.19+: its own
# small virtualenv drives the simulator from the main suite's process.
VENV218  := .venv-ansible218
STAMP218 := $(VENV218)/.installed

.PHONY: venv test test-ansible218 demo lint docs clean bench-sim browser collection

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

## make test: every test (unit + integration against the simulated fleet, two
## workers), then the ansible-core 2.18 conformance leg
test: $(STAMP) browser
	$(BIN)/python -m pytest -n 2 --dist worksteal
	$(MAKE) test-ansible218

## make browser: headless Chromium (Debian's package) for the HTML report test
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			apt-get install -y --no-install-recommends chromium >/dev/null 2>&1 || \
			{ apt-get update >/dev/null && apt-get install -y --no-install-recommends chromium; }; \
		else \
			echo "make test needs headless Chromium: install Debian's chromium package" >&2; \
			exit 1; \
		fi; }

$(STAMP218): Makefile
	test -x $(VENV218)/bin/python || $(PYTHON) -m venv $(VENV218)
	$(VENV218)/bin/python -m pip install --quiet 'ansible-core>=2.18,<2.19' pywinrm pyspnego jsonschema jsonschema-rs pefile olefile
	touch $(STAMP218)

## make test-ansible218: ansible-core 2.18's raw/put_file/fetch_file and sagefleet's push in pieces against the simulator
test-ansible218: $(STAMP) $(STAMP218)
	SAGEFLEET_ANSIBLE218_PYTHON=$(VENV218)/bin/python $(BIN)/python -m pytest \
		tests/integration/test_ansible_conformance.py -k ansible218

## make bench-sim: 500 simulated hosts in one process (start time, memory, req/s)
bench-sim: $(STAMP)
	$(BIN)/python bench/sim_scale.py --hosts 500 --output .sagefleet/bench-sim.json

## make bench: fleet preflight benchmark (naive raw tasks, preflight.yml, doctor at
## 10/100/500 hosts), 50 MiB package transfer vs ansible put_file, 100-host upgrade;
## results in .sagefleet/bench, table and plot in docs/performance.md
BENCH_STAMP := $(VENV)/.installed-bench
.PHONY: bench

$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BIN)/python bench/fleet_perf.py --output .sagefleet/bench --docs docs

## make demo: start the simulated demo fleet, run the playbooks, stop the fleet
demo: $(STAMP)
	$(BIN)/sagefleet demo

## make lint: PowerShell 5.1 lint of the snippets and templates (docs/powershell.md),
## ruff, mypy on src/, ansible-playbook --syntax-check, ansible-lint (production)
lint: $(STAMP)
	$(BIN)/python -m sagefleet.pslint
	$(BIN)/ruff check src tests action_plugins library callback_plugins vars_plugins
	$(BIN)/mypy
	cd . && for playbook in playbooks/*.yml; do \
		$(BIN)/ansible-playbook --syntax-check "$$playbook" || exit 1; \
	done
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/ansible-lint --offline

## make docs: regenerate the role READMEs' variables and docs/checks.md (a test checks them)
docs: $(STAMP)
	$(BIN)/python -m sagefleet.ansible.roledocs all

## make collection: the sagefleet.fleet Ansible collection (roles, modules, plugins)
## assembled from the checkout and built by ansible-galaxy into build/collection/
COLLECTION_OUT ?= build/collection
collection: $(STAMP)
	$(BIN)/python -m sagefleet.ansible.collection --root . --out $(COLLECTION_OUT)

clean:
	rm -rf $(VENV) $(VENV218) .pytest_cache .mypy_cache .ruff_cache .sagefleet
