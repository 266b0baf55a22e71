# FedAds: `make demo` runs the local federated demo on real data; `make test` runs the tests.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PROTOS := $(wildcard proto/fedads/v1/*.proto)

.PHONY: venv proto proto-check services demo test clean

venv: $(STAMP)

$(STAMP): requirements.txt constraints.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt -c constraints.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

fedads/v1/.generated: $(PROTOS) scripts/gen_proto.py $(STAMP)
	$(PY) scripts/gen_proto.py
	touch $@

proto: fedads/v1/.generated

proto-check: $(STAMP)
	$(PY) scripts/gen_proto.py --check

demo: venv proto
	$(PY) -m deploy.demo $(ARGS)

# The tests start a real redis-server and a throwaway PostgreSQL cluster on loopback;
# install them when they are missing.
services:
	@missing=""; command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	{ command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; } || \
	  missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq $$missing >/dev/null; fi

test: venv proto services
	$(PY) -m pytest $(ARGS)

clean:
	rm -rf $(VENV) .demo build *.egg-info
