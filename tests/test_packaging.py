"""packaging/trafficmon.service: systemd accepts it, and it holds only the capabilities trafficmon needs."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from trafficmon.capture.needs import SERVICE_CAPABILITIES

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
