"""A real Docker engine for tests: started when it is not running (and stopped after), and the base image.

The CI machine reaches Debian's and PyPI's packages but no container registry,
so the Dockerfile's base image is built from Debian packages by the project's
own `packaging/base-image.sh` when it is absent, and removed again if the test
made it. Starting dockerd turns the host's IPv4 forwarding on and may set the
FORWARD chain's policy to DROP; both are put back when the engine this made
is stopped, so later tests find the host as it was.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BASE_IMAGE = "debian:bookworm-slim"
"""The tag the Dockerfile's FROM names."""
FORWARDING = Path("/proc/sys/net/ipv4/ip_forward")


def docker(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=check)


def _answers() -> bool:
    try:
        return docker("info", "--format", "{{.ServerVersion}}", timeout=20, check=False).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def _forward_policy() -> str:
    rules = subprocess.run(["iptables", "-S", "FORWARD"], capture_output=True, text=True, check=False).stdout
    return next((line.split()[2] for line in rules.splitlines() if line.startswith("-P FORWARD")), "ACCEPT")


@contextmanager
def engine(log: Path) -> Iterator[None]:
    """A Docker engine that answers; one this started is stopped on exit and the host's forwarding put back."""
    if _answers():
        yield
        return
    forwarding, policy = FORWARDING.read_text(), _forward_policy()
    with log.open("w") as out:
        daemon = subprocess.Popen(["dockerd"], stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not _answers():
            assert daemon.poll() is None, f"dockerd exited with {daemon.returncode}: {log.read_text()[-2000:]}"
            assert time.monotonic() < deadline, f"dockerd did not answer within 60 s: {log.read_text()[-2000:]}"
            time.sleep(0.5)
        yield
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        try:
            daemon.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(daemon.pid, signal.SIGKILL)
            daemon.wait()
        FORWARDING.write_text(forwarding)
        subprocess.run(["iptables", "-P", "FORWARD", policy], check=False)
        subprocess.run(["ip", "link", "del", "docker0"], capture_output=True, check=False)


@contextmanager
def base_image() -> Iterator[None]:
    """The Dockerfile's base image, built from Debian packages when absent (and then removed on exit)."""
    made = docker("image", "inspect", BASE_IMAGE, check=False).returncode != 0
    if made:
        built = subprocess.run([str(ROOT / "packaging" / "base-image.sh"), BASE_IMAGE],
                               capture_output=True, text=True, timeout=900)
        assert built.returncode == 0, built.stderr
    try:
        yield
    finally:
        if made:
            docker("image", "rm", BASE_IMAGE, check=False)


def tracked_tree(destination: Path) -> Path:
    """The repository as a fresh clone of it holds it (tracked files as they are now), at `destination`."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=ROOT, capture_output=True, check=True).stdout
    for name in filter(None, listed.decode().split("\0")):
        source = ROOT / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return destination
