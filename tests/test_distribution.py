"""The built wheel: one import root, `trafficmon`, that another project's `web` cannot shadow, and its import contracts.

Distributions owning the import names `capture`, `state` or `web` exist (web.py
imports as `web`), and pip does not tell when two wheels install the same
top-level name. The wheel is built from a copy of this checkout's files (so
no stale `build/` folder leaks into it), installed into a fresh virtual
environment next to a made-up distribution that owns `web`, and run from
there: `trafficmon --help`, `python -m trafficmon --help`, `trafficmon replay`
on a capture file, and the dashboard's templates and the OpenAPI document
loaded from the installed package. Offline: both wheels are built without
build isolation, and the fresh environment finds the dependencies in this
one's site-packages through a .pth file (which adds the folder only, so this
checkout's editable install stays out of it).

The installed package is also where import-linter checks the contracts in
pyproject.toml (the layers, and capture and state used only through their
faces): grimp reads a package from one folder, and only the wheel has
trafficmon in one.
"""

from __future__ import annotations

import csv
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.utils import wrpcap

ROOT = Path(__file__).resolve().parent.parent
PARTS = ("capture", "state", "web")
CLASH = '''"""Another project's `web` package."""
OWNER = "another project"
'''


def run(*argv: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=180, cwd=cwd)
    assert done.returncode == 0, f"{argv} exited {done.returncode}: {done.stderr[-2000:]}"
    return done


def checkout_copy(folder: Path) -> Path:
    """This checkout's files (tracked, or new and not ignored), copied to `folder`."""
    listed = run("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=ROOT).stdout
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():  # a file deleted but not yet staged is still listed
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(source.read_bytes())
    return folder


def build_wheel(source: Path, out: Path) -> Path:
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
        "-w", out, source)
    (wheel,) = out.glob("*.whl")
    return wheel


def clashing_distribution(folder: Path) -> Path:
    """A distribution `webclash` whose one import name is `web`."""
    (folder / "web").mkdir(parents=True)
    (folder / "web" / "__init__.py").write_text(CLASH)
    (folder / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "webclash"\nversion = "1.0"\n[tool.setuptools]\npackages = ["web"]\n')
    return folder


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv holding the trafficmon wheel and `webclash`; its bin folder."""
    tmp = tmp_path_factory.mktemp("wheel")
    wheels = tmp / "wheels"
    ours = build_wheel(checkout_copy(tmp / "source"), wheels / "ours")
    theirs = build_wheel(clashing_distribution(tmp / "clash"), wheels / "theirs")
    venv = tmp / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    run(sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", "--no-index", theirs, ours)
    site = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))").stdout.strip())
    (site / "zz_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return venv / "bin"


def test_the_wheel_installs_one_import_root_holding_every_tracked_file(installed: Path) -> None:
    site = Path(run(installed / "python", "-c", "import sysconfig; print(sysconfig.get_path('purelib'))").stdout.strip())
    (record,) = site.glob("trafficmon-*.dist-info/RECORD")
    paths = [row[0] for row in csv.reader(record.read_text().splitlines())]
    installed_names = {p.split("/")[0] for p in paths if not p.startswith("../")}  # ../../../bin/trafficmon
    assert installed_names == {"trafficmon", record.parent.name}
    tracked = run("git", "ls-files", *PARTS, cwd=ROOT).stdout.split()
    packaged = {p.removeprefix("trafficmon/") for p in paths if p.startswith("trafficmon/") and "__pycache__" not in p}
    assert set(tracked) <= packaged, f"left out of the wheel: {sorted(set(tracked) - packaged)}"
    assert {p for p in packaged if not p.startswith(PARTS)} == {"__init__.py", "__main__.py", "settings.py"}


def test_trafficmon_runs_from_the_wheel_beside_another_projects_web(installed: Path, tmp_path: Path) -> None:
    python = installed / "python"
    for argv in ((installed / "trafficmon", "--help"), (python, "-m", "trafficmon", "--help")):
        assert run(*argv, cwd=tmp_path).stdout.startswith("usage: trafficmon")
    pcap = tmp_path / "t.pcap"
    frame = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / IP(src="198.18.0.1", dst="198.18.0.2")
    wrpcap(str(pcap), [frame / UDP(sport=5000, dport=53) / (b"q" * 40)] * 3)
    report = run(installed / "trafficmon", "replay", pcap, cwd=tmp_path).stdout
    assert "3 frames" in report and "198.18.0.1:5000" in report
    probe = run(python, "-c", """
import jinja2, web
from importlib import resources
import trafficmon.web.app, trafficmon.web.openapi as openapi
print(web.OWNER)
print(trafficmon.web.app.__file__)
print(len(openapi.load_document()["paths"]) > 10)
print(jinja2.PackageLoader("trafficmon.web", "templates").list_templates()[:1] != [])
""", cwd=tmp_path).stdout.splitlines()
    assert probe[0] == "another project", "`web` is the other project's"
    assert probe[1].startswith(str(installed.parent / "lib")), "trafficmon is the installed wheel, not this checkout"
    assert probe[2:] == ["True", "True"], "the OpenAPI document and the templates load from the installed package"


def test_the_import_contracts_hold(installed: Path, tmp_path: Path) -> None:
    """`lint-imports` on the installed package: every contract kept (its report says which broke and where)."""
    command = "from importlinter.cli import lint_imports_command; lint_imports_command()"
    done = subprocess.run([installed / "python", "-c", command, ROOT / "pyproject.toml", "--no-cache"],
                          capture_output=True, text=True, timeout=180, cwd=tmp_path)
    report = done.stdout + done.stderr
    assert done.returncode == 0, report
    assert "Contracts: 3 kept, 0 broken." in report
