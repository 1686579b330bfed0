# The two commands a new machine needs: `make serve` and `make test`. Each installs what is missing first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

APT_BUILD := gcc make pkg-config liburing-dev libssl-dev libbrotli-dev curl openssl
APT_BENCH := wrk nginx-light
APT_FUZZ := clang libclang-rt-14-dev

C_FILES := $(shell find uringasgi -name '*.c' -o -name '*.h')
CORE_STAMP := build/.core-stamp
LINT_DIRS := $(wildcard uringasgi tests bench examples)

.PHONY: install apt apt-bench apt-fuzz build serve test lint unit integration bench fuzz asan clean asyncio-compat

define apt_install
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "apt: installing$$missing"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi
endef

apt:
	$(call apt_install,$(APT_BUILD))

apt-bench:
	$(call apt_install,$(APT_BENCH))

apt-fuzz:
	$(call apt_install,$(APT_FUZZ))

$(VENV)/.stamp: pyproject.toml setup.py | apt
	test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install -q -U pip 'setuptools>=77' wheel 'cffi>=1.16'
	$(VPY) -m pip install -q --no-build-isolation -e '.[test]'
	@touch $@

# A C change rebuilds the extension in place; pip is not involved.
# pip's editable build may leave a module of another name (abi3) beside ours: _build.py keeps one.
$(CORE_STAMP): $(C_FILES) uringasgi/_build.py $(VENV)/.stamp
	$(VPY) uringasgi/_build.py
	@mkdir -p build && touch $@

install: apt $(VENV)/.stamp $(CORE_STAMP)

build: install

serve: install
	$(VENV)/bin/uringasgi app:app --app-dir examples --host 127.0.0.1 --port 8000 \
		--static /static=examples/static --static-index index.html

lint: install
	$(VENV)/bin/ruff check $(LINT_DIRS)
	$(VENV)/bin/ruff format --check $(LINT_DIRS)
	$(VENV)/bin/mypy

unit: install
	$(VPY) -m pytest -q tests/unit

integration: install
	$(VPY) -m pytest -q tests/integration

test: install apt-fuzz lint
	$(VPY) -m pytest -q tests

# CPython's own test_asyncio suites on UringEventLoop and on the stock loop; lists what fails only on ours.
asyncio-compat: install
	$(VPY) tests/asyncio_compat/run.py --loop both

# Each of these runs a script owned by its area; see the script for what it does.
bench: install apt-bench
	bash bench/run.sh

fuzz: install apt-fuzz
	bash tests/fuzz/run.sh

asan: install apt-fuzz
	bash tests/asan/run.sh

clean:
	rm -rf build uringasgi/*.so uringasgi/_core.c
