"""`trafficmon top`'s terminal screen (Textual): a summary line, one table, and the keys.

Keys: `s` / `S` the next / previous order, `v` processes or connections,
`/` a filter (Enter keeps it, Escape clears it), `q` quits. The table is
refilled from each frame, the cursor kept at its place.
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Footer, Input, Static

from trafficmon.web.top import view
from trafficmon.web.top.feeds import CaptureFeed, ServiceFeed
from trafficmon.web.top.view import Frame


class TopApp(App[None]):
    """Live per-process and per-connection speeds, like nethogs and bandwhich, from a feed."""

    CSS = """
    #summary { height: 1; background: $boost; }
    #status { height: 1; color: $text-muted; }
    #filter { display: none; }
    #filter.shown { display: block; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "quit"),
        Binding("s", "sort(1)", "next sort"),
        Binding("S", "sort(-1)", "previous sort", show=False),
        Binding("v", "switch_view", "processes/connections"),
        Binding("slash", "filter", "filter"),
        Binding("escape", "clear_filter", "clear filter", show=False),
    ]

    def __init__(self, feed: ServiceFeed | CaptureFeed) -> None:
        super().__init__()
        self.feed = feed
        self.view_name = "processes"
        self.sort = "total"
        self.text = ""
        self.frame: Frame | None = None
        self._said = ""

    def compose(self) -> ComposeResult:
        yield Static("waiting for the first tick…", id="summary")
        yield Static("", id="status")
        yield Input(placeholder="filter: name, PID, user, address", id="filter")
        yield DataTable(id="table", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self._columns()
        self.query_one("#table", DataTable).focus()  # keys are commands until `/` opens the filter
        self.run_worker(self.feed.run(self.show, self.say), exclusive=True)

    def say(self, status: str) -> None:
        """What the feed says of itself (reading, lost and retrying, capturing here)."""
        self._said = status
        self._status()

    def _status(self) -> None:
        shown = f"view {self.view_name}, sorted by {self.sort}"
        if self.text:
            shown += f", filter {self.text!r}"
        self.query_one("#status", Static).update(f"{shown}  ·  {self._said}")

    def show(self, frame: Frame) -> None:
        self.frame = frame
        self.query_one("#summary", Static).update(view.summary(frame))
        self._fill()

    def _columns(self) -> None:
        table = self.query_one("#table", DataTable)
        table.clear(columns=True)
        for name in view.columns(self.view_name):
            table.add_column(name, key=name)
        self._status()

    def _fill(self) -> None:
        if self.frame is None:
            return
        table = self.query_one("#table", DataTable)
        keep = table.cursor_row
        table.clear()
        for row in view.rows(self.frame, self.view_name, self.sort, self.text):
            table.add_row(*view.cells(row, self.view_name))
        if table.row_count:
            table.move_cursor(row=min(keep, table.row_count - 1))

    def action_sort(self, step: int) -> None:
        index = view.SORTS.index(self.sort)
        self.sort = view.SORTS[(index + step) % len(view.SORTS)]
        self._status()
        self._fill()

    def action_switch_view(self) -> None:
        self.view_name = view.VIEWS[(view.VIEWS.index(self.view_name) + 1) % len(view.VIEWS)]
        self._columns()
        self._fill()

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.add_class("shown")
        box.focus()

    def action_clear_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.value = ""
        box.remove_class("shown")
        self.query_one("#table", DataTable).focus()
        self.text = ""
        self._status()
        self._fill()

    def on_input_changed(self, event: Input.Changed) -> None:
        self.text = event.value
        self._status()
        self._fill()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.query_one("#filter", Input).remove_class("shown")
        self.query_one("#table", DataTable).focus()
