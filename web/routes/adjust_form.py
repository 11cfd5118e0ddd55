"""`POST /adjust` from a browser without JavaScript: a 303 back to /config, which shows the result.

A plain HTML form post (urlencoded or multipart, with Accept: text/html) cannot
show a JSON answer, so it gets Post/Redirect/Get: a 303 to
`/config?adjusted=<audit id>` when the adjustment was applied, or to
`/config?refused=<reference>` when it was refused, and the page renders
either server-side. The redirect carries only an id: the applied change is
read back from the audit trail, a refusal from `web.routes.form_refusals`, so no typed
text travels in a URL, and the page escapes what it shows (Jinja2
autoescape). JSON clients, and programs that post a form without asking for
HTML (curl sends `*/*`), keep getting JSON.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import hdrs, web

from trafficmon.state import Accountant, Adjustment, NotSaved, ValidationError
from trafficmon.web.errors import ApiError
from trafficmon.web.keys import ACCOUNTANT_KEY, REFUSALS_KEY
from trafficmon.web.routes.form_refusals import Refusal

PAGE = "/config"
ANCHOR = "#adjust"
PAGE_FIELDS = {"bytes": "amount", "gb": "amount"}
"""The API names the amount by its unit; the page's form has one field for both (as config.js maps it)."""


async def answer(request: web.Request, apply: Callable[[web.Request], Awaitable[Adjustment]]) -> web.Response:
    """Run `apply` (the JSON handler's work) and redirect to the page that shows how it went."""
    try:
        result = await apply(request)
    except ValidationError as exc:
        return _see_other(f"{PAGE}?refused={request.app[REFUSALS_KEY].add(Refusal(exc.field, exc.message))}")
    except ApiError as exc:
        return _see_other(f"{PAGE}?refused={request.app[REFUSALS_KEY].add(Refusal(None, exc.message))}")
    except NotSaved as exc:
        return _see_other(f"{PAGE}?refused={request.app[REFUSALS_KEY].add(Refusal(None, str(exc)))}")
    return _see_other(f"{PAGE}?adjusted={result.id}")


def _see_other(location: str) -> web.Response:
    return web.Response(status=303, headers={hdrs.LOCATION: location + ANCHOR})


def page_result(request: web.Request) -> dict[str, Any] | None:
    """What the /config page says about the form post it was sent back from, or None.

    `kind` is the form status's kind (ok, error, info), `text` its line, and
    `field`/`error` the form field to mark and the message beside it.
    """
    query = request.query
    if "adjusted" in query:
        entry = _audit_entry(request.app[ACCOUNTANT_KEY], query["adjusted"])
        if entry is None:
            return _shown("info", "That adjustment is not in the audit trail.")
        old, new = _amount(entry.old_counted), _amount(entry.new_counted)
        return _shown("ok", f"Applied: counted total {old} → {new}.")
    if "refused" in query:
        refusal = request.app[REFUSALS_KEY].get(query["refused"])
        if refusal is None:
            return _shown("info", "That refusal is no longer kept; it changed nothing.")
        if refusal.field is None:
            return _shown("error", f"Not applied: {refusal.message}")
        field = PAGE_FIELDS.get(refusal.field, refusal.field)
        return _shown("error", f"Not applied: {refusal.field}: {refusal.message}", field, refusal.message)
    return None


def _shown(kind: str, text: str, field: str | None = None, error: str | None = None) -> dict[str, Any]:
    return {"kind": kind, "text": text, "field": field, "error": error}


def _audit_entry(accountant: Accountant, raw: str) -> Adjustment | None:
    if not raw.isdigit() or len(raw) > 18:
        return None
    wanted = int(raw)
    return next((entry for entry in accountant.audit() if entry.id == wanted), None)


def _amount(n: int) -> str:
    """Exact bytes, and decimal GB as the cap is given."""
    return f"{n:,} bytes ({n / 1e9:,.2f} GB)"
