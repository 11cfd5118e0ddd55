"""The counter slots the sniffer adds frames into: one layout for the flow table and the tick.

The sniffer's hot loop indexes plain lists rather than attributes (bench/capture.py
measured the difference), so the layout is a set of index constants, defined
here once. A flow entry holds bytes and packets per direction, each byte slot
followed by its packet slot, then the interface it was seen on. An
interface's counters start with the same six, then hold what is not a
flow's: forwarded frames, unparsable ones, and the receiving copy of
loopback traffic (captured, but its bytes are the sending copy's).
"""

OUT_B, OUT_P, IN_B, IN_P, LOCAL_B, LOCAL_P, IFACE = range(7)
"""A flow entry: sent, received, local (both ends on this host), then the interface's name."""


def new_flow(iface: str) -> list:
    """A flow entry with nothing counted yet, seen on `iface`."""
    return [0, 0, 0, 0, 0, 0, iface]


FWD_B, FWD_P, BAD_B, BAD_P, LOOP_IN_B, LOOP_IN_P = range(6, 12)
"""An interface's counters after the six it shares with a flow entry."""
IFACE_SLOTS = 12
CAPTURED_BYTES = (OUT_B, IN_B, LOCAL_B, FWD_B, BAD_B, LOOP_IN_B)
"""The byte slots that together are every byte captured on an interface (each packet slot is the next one)."""
