# hsmops.luna: `make demo` runs the demonstration, `make test` runs every check.
# Needs only python3 (3.11), make and git: everything else is installed into .venv.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
# `make test` runs its steps in order even under -j.
.NOTPARALLEL:

PYTHON ?= python3
VENV := $(CURDIR)/.venv
BIN := $(VENV)/bin
# Installed versions come from the pins; a change to either file rebuilds the venv.
REQUIREMENTS := requirements/dev.in requirements/constraints.txt
# The emulator is its own package, installed (editable) once it exists.
EMULATOR := $(wildcard emulator/pyproject.toml)

# Ansible finds the collection as hsmops.luna through a symlink to this working tree.
COLLECTIONS := $(CURDIR)/.build/collections
COLLECTION_LINK := $(COLLECTIONS)/ansible_collections/hsmops/luna
# ansible-test resolves symlinks, so sanity runs on a copy of the shipped files.
SANITY_ROOT := $(CURDIR)/.build/sanity/ansible_collections/hsmops/luna
SANITY_PYTHON := 3.11
SANITY_ARGS ?=

export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS)
# Tests and tools that start ansible-playbook, molecule or luna-emulator find the venv's.
export PATH := $(BIN):$(PATH)

.PHONY: help venv collection sanity lint unit molecule test demo build constraints clean

help:
	@echo 'make demo   run playbooks/demo.yml against the emulated HSM fleet'
	@echo 'make test   lint, sanity, unit/integration and Molecule tests'
	@echo 'other targets: venv collection lint sanity unit molecule build constraints clean'

venv: $(VENV)/.installed

$(VENV)/.installed: $(REQUIREMENTS) $(EMULATOR)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c requirements/constraints.txt --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements/constraints.txt -r requirements/dev.in
	@# The emulator's console command is luna-emulator.
	if [ -f emulator/pyproject.toml ]; then \
	  $(BIN)/python -m pip install --quiet -c requirements/constraints.txt -e emulator/; fi
	@# Plain Python (the emulator, pytest) imports ansible_collections.hsmops.luna... from here.
	echo '$(COLLECTIONS)' > "$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')/hsmops_luna_collections.pth"
	touch $@

collection:
	mkdir -p $(dir $(COLLECTION_LINK))
	ln -sfn $(CURDIR) $(COLLECTION_LINK)

# ansible-test bootstraps pip in each sanity venv with get-pip.py, which it would download;
# it first looks in its cache under the pip version it wants, so an offline stand-in goes there.
sanity: venv
	pip_version=$$($(BIN)/python -c 'import types; from ansible_test._internal.python_requirements import get_venv_packages; print(get_venv_packages(types.SimpleNamespace(version="$(SANITY_PYTHON)"))["pip"])'); \
	install -D -m 0644 tests/sanity/get_pip_standin.py "$$HOME/.ansible/test/cache/get_pip_$${pip_version//./_}.py"
	$(BIN)/python tests/sanity/stage_collection.py $(SANITY_ROOT)
	@# Its own git repository: ansible-test lists files with git, and the enclosing one ignores .build.
	git init --quiet $(SANITY_ROOT)
	cd $(SANITY_ROOT) && $(BIN)/ansible-test sanity --local --python $(SANITY_PYTHON) --color no $(SANITY_ARGS)

lint: venv collection
	$(BIN)/ansible-lint
	$(BIN)/antsibull-changelog lint
	$(BIN)/shellcheck .ci/run

# Runs pytest on a folder if it exists; "no tests collected" (exit 5) is not a failure.
define pytest_folder
	@if [ -d $(1) ]; then echo '== pytest $(1)'; \
	  $(BIN)/python -m pytest $(1) || { rc=$$?; [ $$rc -eq 5 ] && echo '$(1): no tests yet' || exit $$rc; }; \
	else echo '$(1): no such folder yet'; fi
endef

unit: venv collection
	$(call pytest_folder,tests/unit)
	$(call pytest_folder,emulator/tests)
	$(call pytest_folder,tests/integration)

# Molecule 26 runs in collection mode when started in the folder holding galaxy.yml: it
# reads extensions/molecule/config.yml (shared settings, e.g. the delegated driver
# `driver: {name: default, options: {managed: false}}` on localhost) and runs every
# extensions/molecule/<scenario>/molecule.yml with its playbooks beside it.
molecule: venv collection
	@if [ -n "$$(find extensions/molecule -name molecule.yml 2>/dev/null)" ]; then \
	  $(BIN)/molecule test --all; else echo 'extensions/molecule: no scenarios yet'; fi

# Prerequisites run left to right; the first failure stops the run.
test: venv collection lint sanity unit molecule

demo: venv collection
	@# Start the emulated demo fleet in .state/demo (its state is kept between runs: a second run
	@# finds nothing to do; `make demo RESET=1` starts again from emulator/fleets/demo.yml), mint
	@# each HSM's CUF, run playbooks/demo.yml, and stop the fleet by its PID even when the run fails.
	@if [ -n '$(RESET)' ]; then $(BIN)/luna-emulator stop --state-dir .state/demo; rm -rf .state/demo; fi
	@$(BIN)/luna-emulator stop --state-dir .state/demo >/dev/null
	@mkdir -p .state/demo && rm -f .state/demo/ready
	@$(BIN)/luna-emulator serve --fleet emulator/fleets/demo.yml --state-dir .state/demo --no-access-log \
	  > .state/demo.log 2>&1 & pid=$$!; \
	trap 'kill -TERM $$pid 2>/dev/null; wait $$pid 2>/dev/null || true' EXIT; \
	for _ in $$(seq 300); do { [ -e .state/demo/ready ] || ! kill -0 $$pid 2>/dev/null; } && break; sleep 0.1; done; \
	[ -e .state/demo/ready ] || { cat .state/demo.log; exit 1; }; \
	$(BIN)/luna-emulator mint-cuf --state-dir .state/demo --all --out .state/demo/cuf >/dev/null; \
	$(BIN)/ansible-playbook -i .state/demo/inventory.yml playbooks/demo.yml

# The release artefact: hsmops-luna-<version>.tar.gz in .build/dist.
build: venv
	$(BIN)/ansible-galaxy collection build --force --output-path .build/dist

# Re-pins requirements/constraints.txt from requirements/dev.in in a fresh venv.
constraints:
	rm -rf .build/freeze
	$(PYTHON) -m venv .build/freeze
	.build/freeze/bin/python -m pip install --quiet --upgrade pip
	.build/freeze/bin/python -m pip install --quiet -r requirements/dev.in
	{ echo '# Generated by `make constraints` from requirements/dev.in: do not edit by hand.'; \
	  .build/freeze/bin/python -m pip freeze --all; } > requirements/constraints.txt
	rm -rf .build/freeze

clean:
	rm -rf $(VENV) .build .state .ansible tests/output .pytest_cache .hypothesis
