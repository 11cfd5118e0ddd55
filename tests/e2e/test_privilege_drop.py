"""Started as root, the service becomes RUN_AS once its capture sockets are open, and goes on working.

The service runs inside the test namespace (`ip netns exec`), as it runs in
the host's namespace on a server, so it keeps only what that needs: no
CAP_SYS_ADMIN (which NETNS would add). Its client is root's process, another
user's once the service is nobody; the re-created interface is re-opened
by the dropped process with the CAP_NET_RAW it kept.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import paced
from tests.support.hosts import Link, join
from tests.support.peers import ROOT
from tests.support.service import NamespacedService
from tests.support.waiting import wait_until
from trafficmon.capture import CAPABILITY_BITS, SERVICE_CAPABILITIES
from trafficmon.web import privileges

pytestmark = pytest.mark.netns

@pytest.fixture
def service(link: Link, tmp_path: Path) -> Iterator[NamespacedService]:
    started = NamespacedService(link, tmp_path / "data", env={"RUN_AS": "nobody"})
    yield started
    if started.proc.poll() is None:
        started.stop()


def test_the_service_drops_root_and_still_captures_attributes_and_reopens(
    service: NamespacedService, link: Link, tmp_path: Path, peers: list[subprocess.Popen[str]]
) -> None:
    status = service.status()
    assert status["Uid"].split() == ["65534"] * 4 and status["Gid"].split() == ["65534"] * 4
    wanted = sum(1 << CAPABILITY_BITS[name] for name in SERVICE_CAPABILITIES)
    assert {key: int(status[key], 16) for key in ("CapEff", "CapPrm", "CapBnd", "CapInh", "CapAmb")} == {
        "CapEff": wanted, "CapPrm": wanted, "CapBnd": wanted, "CapInh": 0, "CapAmb": 0}
    assert status["NoNewPrivs"] == "1"
    assert {p.stat().st_uid for p in (tmp_path / "data").iterdir()} == {65534}

    paced.serve(link.b, peers)
    first = service.downloading(peers)
    assert first["process_name"] == "curl"

    link.a.run("ip", "link", "del", link.a.iface)
    wait_until(lambda: service.get("/health")["capture"]["errors"], bool, timeout=5, what="the loss is seen")
    join(link.a, link.b)
    wait_until(lambda: service.get("/health")["capture"], lambda c: c["running"] and not c["errors"], timeout=15,
               what="capture re-opened by the unprivileged service")
    again = service.downloading(peers)
    assert again["process_name"] == "curl"
    assert "running as nobody (uid 65534), keeping CAP_NET_RAW, CAP_DAC_READ_SEARCH, CAP_SYS_PTRACE" in service.stop()


def test_kept_capabilities_are_the_services_and_each_says_what_it_is_for() -> None:
    assert tuple(k.name for k in privileges.kept(port=8080, netns=None)) == SERVICE_CAPABILITIES
    assert [k.name for k in privileges.kept(port=80, netns="ns")][3:] == ["CAP_NET_BIND_SERVICE", "CAP_SYS_ADMIN"]
    assert all(k.why for k in privileges.kept(port=80, netns="ns"))


def test_run_as_names_an_existing_user_or_stays_root() -> None:
    assert privileges.account("root") is None
    assert privileges.account("nobody") == privileges.Account("nobody", 65534, 65534)
    assert privileges.account(None).name in privileges.DEFAULT_USERS
    with pytest.raises(privileges.PrivilegeError, match="RUN_AS 'no-such-user-here': no such user"):
        privileges.account("no-such-user-here")


def test_an_unknown_run_as_exits_2_with_one_line(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "trafficmon", "--interfaces", "lo", "--port", "0",
                             "--data-dir", str(tmp_path), "--run-as", "no-such-user-here"],
                            cwd=ROOT, capture_output=True, text=True, timeout=60, env={**os.environ, "MONITOR_PASS": "x"})
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == "trafficmon: RUN_AS 'no-such-user-here': no such user\n"
    assert list(tmp_path.iterdir()) == [], "nothing written"
