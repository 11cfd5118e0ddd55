# `make run` and `make test` work on a fresh Debian/Ubuntu machine as root.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Debian packages the test suite drives: namespaces, veth, tc and ss (iproute2),
# traffic generators (iperf3), libpcap for CAPTURE_FILTER expressions, the
# browser for the dashboard tests (chromium, driven by Playwright's own driver),
# and curl for the README's client examples (tests/e2e/test_readme_clients.py).
TEST_APT := iproute2 iperf3 procps libpcap0.8 chromium curl faketime systemd

.PHONY: run test calendar reference bench system-test-deps clean

$(VENV)/.runtime: pyproject.toml
	@$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e .
	@touch $@

$(VENV)/.test: $(VENV)/.runtime
	$(PY) -m pip install -q -e '.[test]'
	@touch $@

system-test-deps:
	@missing=""; for p in $(TEST_APT); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

run: $(VENV)/.runtime
	$(VENV)/bin/trafficmon

test: $(VENV)/.test system-test-deps
	$(PY) -m pytest -ra
	$(PY) -m tests.calendar_runs

# The state, web, browser and end-to-end suites again under libfaketime, at four
# dates (tests/calendar_runs.py): no outcome may depend on today's date.
calendar: $(VENV)/.test system-test-deps
	$(PY) -m tests.calendar_runs

# The README's configuration reference, from the settings table (web.config.reference).
reference: $(VENV)/.runtime
	$(VENV)/bin/python -c 'import re, pathlib; from trafficmon.web.config_load import reference; \
	p = pathlib.Path("README.md"); b, e = "<!-- settings reference: begin -->\n", "<!-- settings reference: end -->"; \
	p.write_text(re.sub(re.escape(b) + ".*?" + re.escape(e), lambda m: b + reference() + e, p.read_text(), flags=re.S))'

bench: $(VENV)/.test system-test-deps
	$(PY) bench/capture.py

clean:
	rm -rf $(VENV) build *.egg-info
