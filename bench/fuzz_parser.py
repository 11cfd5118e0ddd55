"""A longer coverage-guided fuzz run of `capture.parse.Parser` with atheris (libFuzzer).

The suite's `tests/capture/test_parse_fuzz.py` runs the same target (`tests.support.parse_fuzz`:
each input parsed twice, exact and inside a larger buffer, results and
malformed/truncated counters checked) for a fixed number of inputs; this
runs it for a given time and reports how fast it went and how much of the
parser it reached. The corpus starts from `tests.support.parse_seeds`' frames (every
link type and header chain the parser walks) plus the frames of any capture
file given with --pcap (a tcpdump recording of real traffic, say).

Run: .venv/bin/python bench/fuzz_parser.py [--seconds 60] [--seed N] [--pcap FILE ...]
Exit status 1 when the fuzzer found an input that breaks the parser (the
input is left in the work directory, which is then kept and named).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Python puts this script's directory first on the path, where
# bench/capture.py would shadow the `capture` package: the repo root goes first.
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.parse_seeds import pcap_frames, seed_corpus, seed_frames  # noqa: E402


def coverage(log: str, stage: str) -> tuple[int, int, int]:
    """(edges, features, corpus inputs) from libFuzzer's line for `stage` (INITED, DONE)."""
    found = re.search(rf"{stage} +cov: (\d+) ft: (\d+) corp: (\d+)", log)
    if found is None:
        raise SystemExit(f"libFuzzer printed no {stage} line:\n{log[-3000:]}")
    edges, features, corpus = found.groups()
    return int(edges), int(features), int(corpus)


def final_stat(log: str, name: str) -> int:
    found = re.search(rf"stat::{name}: +(\d+)", log)
    return int(found.group(1)) if found else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=60, help="how long to fuzz (default 60)")
    parser.add_argument("--seed", type=int, default=1, help="libFuzzer's random seed (default 1)")
    parser.add_argument("--pcap", type=Path, action="append", default=[], help="more seed frames (repeatable)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="fuzz-parser-"))
    frames = seed_frames()
    for path in args.pcap:
        frames += pcap_frames(path)
    seeds = seed_corpus(work / "corpus", frames)
    totals_file = work / "totals.json"
    argv = [sys.executable, "-m", "tests.support.parse_fuzz", str(totals_file), f"-max_total_time={args.seconds}",
            f"-seed={args.seed}", f"-artifact_prefix={work}/", "-print_final_stats=1", str(work / "corpus")]
    started = time.monotonic()
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True)
    elapsed = time.monotonic() - started
    log = done.stderr
    (work / "fuzz.log").write_text(log)
    if done.returncode != 0:
        crash = log.find("=== Uncaught Python exception")
        print(log[crash:crash + 4000] if crash >= 0 else log[-4000:])
        print(f"the fuzzer found an input that breaks the parser: see {work}")
        return 1

    totals = json.loads(totals_file.read_text())
    start_edges, start_features, _ = coverage(log, "INITED")
    edges, features, corpus = coverage(log, "DONE")
    executed = final_stat(log, "number_of_executed_units")
    print(f"atheris over capture.parse.Parser.parse, {elapsed:.0f} s (-max_total_time={args.seconds}),"
          f" -seed={args.seed}, {seeds} seed inputs")
    print(f"inputs executed: {executed:,} ({executed / elapsed:,.0f}/s)")
    print(f"coverage: {start_edges} -> {edges} edges, {start_features} -> {features} features;"
          f" corpus {corpus} inputs, {final_stat(log, 'new_units_added')} added")
    print(f"parser results: {totals['keys']:,} keys, {totals['malformed']:,} malformed,"
          f" {totals['truncated']:,} truncated; no exception, no inconsistent counter")
    shutil.rmtree(work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
