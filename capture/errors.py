"""Errors the capture side reports to whoever composes it."""


class CaptureError(Exception):
    """Capture cannot run; the message names the cause (missing capability, interface, library)."""
