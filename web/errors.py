"""Every failure leaves as JSON `{"error": "..."}` with a 4xx/5xx status, never a traceback.

Handlers raise `ApiError` with a message a person can act on; the accounting's
`ValidationError` (a setting, an adjustment, an imported document refused)
becomes a 400 whose body also names the refused field in `field`, so a form
can point at it; its `NotSaved` (the change could not be written, so it was
not made) a 503 with Retry-After; aiohttp's own HTTP exceptions (404, 405, 413 from
`client_max_size`…) are rendered the same way, keeping their headers (Allow,
WWW-Authenticate); anything unexpected is logged with its traceback and
answered with a bare 500.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler

from trafficmon.state import NotSaved, ValidationError

log = logging.getLogger(__name__)

NOT_SAVED_RETRY_SECONDS = 10
"""What a client refused with 503 for a change that could not be written is told to wait."""


class ApiError(Exception):
    """A request the service refuses; `message` goes to the client as it is."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


def json_error(
    status: int, message: str, headers: Mapping[str, str] | None = None, *, field: str | None = None
) -> web.Response:
    body = {"error": message} if field is None else {"error": message, "field": field}
    response = web.json_response(body, status=status)
    if headers:
        response.headers.update(headers)
    return response


def _message(exc: web.HTTPException) -> str:
    """aiohttp's text when it says something specific, else the status phrase."""
    text = exc.text or ""
    if text and not text.startswith(f"{exc.status}:"):
        return text
    return exc.reason


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return json_error(exc.status, exc.message, exc.headers)
    except ValidationError as exc:
        return json_error(400, str(exc), field=exc.field)
    except NotSaved as exc:
        return json_error(503, str(exc), {hdrs.RETRY_AFTER: str(NOT_SAVED_RETRY_SECONDS)})
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        kept = {k: v for k, v in exc.headers.items() if k not in (hdrs.CONTENT_TYPE, hdrs.CONTENT_LENGTH)}
        return json_error(exc.status, _message(exc), kept)
    except Exception:
        log.exception("unhandled error in %s %s", request.method, request.path)
        return json_error(500, "internal server error")
