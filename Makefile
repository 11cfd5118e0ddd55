# `make run` and `make test` work on a fresh Debian/Ubuntu machine as root.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Debian packages the test suite drives: namespaces, veth, tc and ss (iproute2),
# traffic generators (iperf3), libpcap for CAPTURE_FILTER expressions, the
# browser for the dashboard tests (chromium, driven by Playwright's own driver),
# curl for the README's client examples (tests/e2e/test_readme_clients.py), and a
# Docker engine with docker-compose and debootstrap for the container test
# (tests/test_docker.py starts dockerd when it is not running, and builds the base
# image from Debian packages with packaging/base-image.sh when it is absent).
TEST_APT := iproute2 iperf3 procps libpcap0.8 chromium curl faketime systemd docker.io docker-compose debootstrap python3-venv tmux

.PHONY: run test calendar reference bench system-test-deps install clean

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

# `make install` (as root): the command in a venv every user can read, made from the
# system's Python (not a user's pyenv), linked into BINDIR, and the systemd unit
# (packaging/trafficmon.service) in UNITDIR, pointing at that command.
INSTALL_VENV ?= /opt/trafficmon
BINDIR ?= /usr/local/bin
UNITDIR ?= /etc/systemd/system
SYSTEM_PYTHON ?= /usr/bin/python3

install:
	@$(SYSTEM_PYTHON) -c 'import ensurepip, venv' 2>/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv; }
	umask 022 && $(SYSTEM_PYTHON) -m venv $(INSTALL_VENV) && $(INSTALL_VENV)/bin/pip install -q --disable-pip-version-check .
	install -d -m 0755 $(BINDIR) $(UNITDIR)
	ln -sfn $(INSTALL_VENV)/bin/trafficmon $(BINDIR)/trafficmon
	sed 's|^ExecStart=/usr/local/bin/trafficmon|ExecStart=$(BINDIR)/trafficmon|' packaging/trafficmon.service > $(UNITDIR)/trafficmon.service
	chmod 0644 $(UNITDIR)/trafficmon.service
	@echo "installed $(BINDIR)/trafficmon and $(UNITDIR)/trafficmon.service; start it with:"
	@echo "  systemctl daemon-reload && systemctl enable --now trafficmon"

clean:
	rm -rf $(VENV) build *.egg-info
