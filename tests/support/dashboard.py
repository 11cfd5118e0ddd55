"""What the browser tests read off the dashboard: figures, rows, columns, the live status, every text an element is given."""

from __future__ import annotations

from tests.browser.conftest import Tab

UNITS = {"B": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12}


def amount(text: str) -> float:
    """'1.23 MB' or '4.5 kB/s' as a number of bytes (per second)."""
    number, unit = text.split()
    return float(number) * UNITS[unit.removesuffix("/s")]


SPEED_ABOVE = f"""([selector, least]) => {{
  const [number, unit] = document.querySelector(selector).textContent.split(" ");
  return parseFloat(number) * {UNITS}[unit.replace("/s", "")] > least;
}}"""
"""True once the speed `selector` shows ('1.23 MB/s') is above `least` bytes per second."""


def column(tab: Tab, key: str) -> list[str]:
    """The texts of one column, top to bottom, read in one go (no tick in between)."""
    return tab.page.eval_on_selector_all(
        f"#connections tbody tr[data-id] td.col-{key}", "cells => cells.map(c => c.textContent)"
    )


def row_of(tab: Tab, pid: int):
    return tab.page.locator(f'#connections tbody tr[data-id]:has(td.col-pid:text-is("{pid}"))')


def wait_live(tab: Tab, timeout: float = 15_000) -> None:
    tab.page.locator('#live-status[data-state="live"]').wait_for(timeout=timeout)


TOLERANCE = 0.2


RECORD = """selector => {
  const target = document.querySelector(selector);
  window.readings = [];
  new MutationObserver(() => window.readings.push(target.textContent))
    .observe(target, {childList: true, characterData: true, subtree: true});
}"""
"""Keep every text the element is given: the page rewrites it on every tick, even when unchanged."""
