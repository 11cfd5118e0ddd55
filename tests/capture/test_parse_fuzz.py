"""A bounded coverage-guided fuzz run of the packet parser (atheris), seeded from capture files.

The seeds are frames of every link type and header chain the parser walks,
written to pcap files and read back through the replay's pcap reader; atheris
then mutates them for RUNS inputs in a subprocess (`tests.support.parse_fuzz` holds
the target and its checks). The run fails on any exception that escapes the
parser and on any input whose result and malformed/truncated counters do not
tell one story. libFuzzer's seed is fixed and printed, but its runs are not
exactly repeatable (its scheduling takes timing in), so a failure is kept by
its input: atheris writes it to a crash- file beside the log and prints it
in base64, and `python -m tests.support.parse_fuzz TOTALS CRASH_FILE` replays it.
Longer runs: `bench/fuzz_parser.py`.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from itertools import groupby
from pathlib import Path

from scapy.utils import wrpcap

from tests.support.parse_seeds import pcap_frames, seed_corpus, seed_frames

ROOT = Path(__file__).resolve().parents[2]
RUNS = 200_000
"""About 4 s on the 2-core CI machine (some 60,000 inputs a second)."""
SEED = 20_260_610


def test_atheris_finds_no_input_that_breaks_the_parser(tmp_path: Path) -> None:
    frames = sorted(seed_frames())
    recorded = []
    for linktype, group in groupby(frames, key=lambda frame: frame[0]):
        path = tmp_path / f"seeds-{linktype}.pcap"
        wrpcap(str(path), [frame for _, frame in group], linktype=linktype)
        recorded += pcap_frames(path)
    assert sorted(recorded) == frames
    corpus = tmp_path / "corpus"
    seeds = seed_corpus(corpus, recorded)
    totals_file = tmp_path / "totals.json"

    print(f"atheris: {RUNS} runs from {seeds} seeds, -seed={SEED}")
    done = subprocess.run(
        [sys.executable, "-m", "tests.support.parse_fuzz", str(totals_file), f"-runs={RUNS}", f"-seed={SEED}",
         f"-artifact_prefix={tmp_path}/", "-print_final_stats=1", str(corpus)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )

    log = done.stderr
    crash = log.find("=== Uncaught Python exception")
    assert done.returncode == 0, log[crash:crash + 4000] if crash >= 0 else log[-4000:]
    assert f"Done {RUNS} runs" in log, log[-2000:]
    totals = json.loads(totals_file.read_text())
    assert totals["inputs"] == RUNS
    assert totals["keys"] + totals["malformed"] == RUNS
    assert min(totals["keys"], totals["malformed"], totals["truncated"]) > 0, totals
    inited = int(re.search(r"INITED cov: (\d+)", log).group(1))
    final = int(re.search(r"DONE +cov: (\d+)", log).group(1))
    assert final > inited, "the mutations reached no branch the seeds had not"
    print(f"coverage {inited} -> {final} edges; {totals}")
