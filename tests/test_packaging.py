"""packaging/trafficmon.service: systemd accepts it, it holds only the capabilities trafficmon needs,
and `make install` gives a command that, started as the unit starts it, captures and names processes.

systemd itself is not run (this machine's PID 1 is not systemd): its start of
the unit is played by setpriv, from the unit's own lines: the user, the
ambient and bounding capabilities, no new privileges, the state directory.
The file-system protections are systemd's to apply and `systemd-analyze
verify` checks their spelling.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import paced
from tests.support.hosts import Link
from tests.support.service import NamespacedService
from trafficmon.capture import CAPABILITY_BITS, SERVICE_CAPABILITIES

ROOT = Path(__file__).resolve().parent.parent
UNIT = ROOT / "packaging" / "trafficmon.service"


def service_section() -> dict[str, str]:
    section, values = "", {}
    for line in UNIT.read_text().splitlines():
        line = line.strip()
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
        elif section == "Service" and "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            values[key] = value
    return values


def test_systemd_analyze_verifies_the_unit(tmp_path: Path) -> None:
    # verify also checks that ExecStart exists: point it at this checkout's command.
    command = Path(sys.executable).with_name("trafficmon")
    assert command.exists(), command
    unit = tmp_path / "trafficmon.service"
    unit.write_text(UNIT.read_text().replace("ExecStart=/usr/local/bin/trafficmon", f"ExecStart={command}"))
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze (Debian package systemd) is needed"
    result = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", result.stderr


def test_the_unit_runs_unprivileged_with_only_the_needed_capabilities() -> None:
    service = service_section()
    assert service["ExecStart"] == "/usr/local/bin/trafficmon"
    assert service["DynamicUser"] == "yes" and service["StateDirectory"] == "trafficmon"
    assert service["Environment"] == "DATA_DIR=%S/trafficmon", "the state lives in the StateDirectory"
    needed = set(SERVICE_CAPABILITIES)
    assert set(service["AmbientCapabilities"].split()) == needed
    assert set(service["CapabilityBoundingSet"].split()) == needed
    hardening = {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "RestrictAddressFamilies": "AF_PACKET AF_NETLINK AF_INET AF_INET6 AF_UNIX",
        "SystemCallFilter": "@system-service",
        "Restart": "on-failure",
    }
    assert {key: service.get(key) for key in hardening} == hardening


DYNAMIC_UID = 61_234
"""A uid from systemd's DynamicUser range (61184-65519) that no account holds, as a dynamic user's."""


def unit_under_setpriv(service: dict[str, str], command: Path, uid: int) -> list[str]:
    """The unit's ExecStart as its user with exactly its capabilities, as systemd would start it (setpriv)."""
    ambient = ",".join(f"+{cap.removeprefix('CAP_').lower()}" for cap in service["AmbientCapabilities"].split())
    bounding = ",".join(f"+{cap.removeprefix('CAP_').lower()}" for cap in service["CapabilityBoundingSet"].split())
    argv = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", f"--inh-caps=-all,{ambient}",
            f"--ambient-caps={ambient}", f"--bounding-set=-all,{bounding}"]
    if service["NoNewPrivileges"] == "yes":
        argv.append("--no-new-privs")
    return [*argv, str(command), *service["ExecStart"].split()[1:]]


@pytest.mark.netns
def test_make_install_then_the_units_command_captures_and_attributes_another_users_process(
    tmp_path: Path, link: Link, peers: list[subprocess.Popen[str]]
) -> None:
    installed = subprocess.run(
        ["make", "--no-print-directory", "install", f"INSTALL_VENV={tmp_path / 'opt'}",
         f"BINDIR={tmp_path / 'bin'}", f"UNITDIR={tmp_path / 'units'}"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert installed.returncode == 0, installed.stderr[-3000:]
    unreadable = [p for p in (tmp_path / "opt").rglob("*") if not p.is_symlink() and not p.stat().st_mode & 0o004]
    assert unreadable == [], "the venv is readable by every user (the unit's user is not root)"
    unit = (tmp_path / "units" / "trafficmon.service").read_text()
    assert f"ExecStart={tmp_path / 'bin' / 'trafficmon'}\n" in unit

    # The unit's environment, with its StateDirectory (%S/trafficmon) made as systemd makes it.
    service = service_section()
    state = tmp_path / "state" / service["StateDirectory"]
    state.mkdir(parents=True, mode=int(service["StateDirectoryMode"], 8))
    os.chown(state, DYNAMIC_UID, DYNAMIC_UID)
    key, value = service["Environment"].split("=", 1)
    env = {key: value.replace("%S", str(tmp_path / "state"))}
    command = unit_under_setpriv(service, tmp_path / "bin" / "trafficmon", DYNAMIC_UID)
    running = NamespacedService(link, state, env=env, command=command)
    try:
        status = running.status()
        assert status["Uid"].split() == [str(DYNAMIC_UID)] * 4
        wanted = sum(1 << CAPABILITY_BITS[name] for name in SERVICE_CAPABILITIES)
        assert {key: int(status[key], 16) for key in ("CapEff", "CapPrm", "CapAmb", "CapBnd")} == dict.fromkeys(
            ("CapEff", "CapPrm", "CapAmb", "CapBnd"), wanted)
        paced.serve(link.b, peers)
        assert running.downloading(peers)["process_name"] == "curl", "root's curl, named by the unit's user"
        assert {p.stat().st_uid for p in state.iterdir()} == {DYNAMIC_UID}
    finally:
        running.stop()
