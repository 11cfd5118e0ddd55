"""The packet parser under atheris, libFuzzer's coverage-guided fuzzer for Python.

`python -m tests.support.parse_fuzz TOTALS [libFuzzer flags] CORPUS_DIR...` fuzzes
`capture.parse.Parser.parse` (instrumented for coverage at import); the test
(`tests/capture/test_parse_fuzz.py`) runs it for a bounded number of inputs, and
`bench/fuzz_parser.py` for a given time; both write the starting corpus with
`tests.support.parse_seeds`.

Each input (`tests.support.parse_seeds.decode`: a link type and a frame) is parsed
twice, by two parsers that see the same sequence: once as exact-length
`bytes`, where any read past the frame's end raises, and once at an offset
inside a larger buffer with more bytes after the frame, as a receive ring
holds the next frame there. Any exception that escapes, and any check that fails, is a crash
atheris reports with the input that caused it:

- both parsers give the same key (the offset and caplen are honoured, nothing
  past off+caplen is read);
- a None result is counted as malformed exactly once, and nothing else is;
- truncated moves by at most one, and only for a key without ports;
- a key is well formed: a protocol byte, 4- or 16-byte addresses, 16-bit
  ports, or the non-IP key with its ethertype.

libFuzzer ends a run without returning to Python, so the running totals
(inputs, keys, malformed, truncated) are written after every input to the
TOTALS file as JSON, for whoever ran it to read afterwards.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import atheris

with atheris.instrument_imports(include=["trafficmon.capture.parse"]):
    from trafficmon.capture.parse import NON_IP, FlowKey, Parser

from tests.support.parse_seeds import decode  # noqa: E402 - after capture.parse is instrumented

OFFSET = 13
"""Where the second parser finds the frame in its buffer: odd, so no alignment is assumed."""
FRAGMENT_TABLE = 16
"""Small, so the fuzzer reaches the table's eviction as well as its lookups."""


def check_key(result: FlowKey) -> None:
    proto, src, sport, dst, dport = result
    if proto == NON_IP:
        assert (src, dst, dport) == (b"", b"", 0), result
        assert sport == 0 or 0x600 <= sport <= 0xFFFF, result
        return
    assert 0 <= proto <= 255, result
    assert type(src) is bytes and type(dst) is bytes and len(src) == len(dst) and len(src) in (4, 16), result
    assert 0 <= sport <= 0xFFFF and 0 <= dport <= 0xFFFF, result


class Target:
    """The fuzz target: two parsers fed the same inputs, and the totals so far."""

    def __init__(self, totals: Path) -> None:
        self.exact = Parser(FRAGMENT_TABLE)
        self.ringed = Parser(FRAGMENT_TABLE)
        self.inputs = self.keys = 0
        self._fd = os.open(totals, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        self._trailer = b"\x45" * 64  # read as a header, 0x45 would pass for IPv4's first byte

    def __call__(self, data: bytes) -> None:
        linktype, frame = decode(data)
        malformed, truncated = self.exact.malformed, self.exact.truncated
        result = self.exact.parse(frame, 0, len(frame), linktype)
        ring = memoryview(bytearray(b"\xff" * OFFSET + frame + self._trailer))
        assert self.ringed.parse(ring, OFFSET, len(frame), linktype) == result, "the offset changed the key"
        assert (self.ringed.malformed, self.ringed.truncated) == (self.exact.malformed, self.exact.truncated)
        cut = self.exact.truncated - truncated
        if result is None:
            assert (self.exact.malformed - malformed, cut) == (1, 0), "a refusal is counted once as malformed"
        else:
            assert self.exact.malformed == malformed, "a key is not malformed"
            assert cut in (0, 1), "truncated counts a frame once"
            assert not cut or result[2] == result[4] == 0, "a truncated frame has no ports"
            check_key(result)
            self.keys += 1
        self.inputs += 1
        os.pwrite(self._fd, self.totals().encode().ljust(160), 0)

    def totals(self) -> str:
        return json.dumps({
            "inputs": self.inputs, "keys": self.keys,
            "malformed": self.exact.malformed, "truncated": self.exact.truncated,
        })


def main(argv: Sequence[str]) -> None:
    totals, *fuzzer_args = argv[1:]
    target = Target(Path(totals))
    atheris.Setup([argv[0], *fuzzer_args], target)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
