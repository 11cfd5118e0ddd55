"""Request bodies, read strictly: a JSON document, or (where a page posts one) an HTML form.

Whatever is wrong with a body — malformed JSON, a type the endpoint does not
take, a field given twice, a file upload, text that is not UTF-8 — is an
`ApiError(400)` (or 415 for a media type or charset the endpoint does not
read) before any handler looks at it. Size
is bounded by `client_max_size` (413) before any of this runs. The JSON itself
is read by `web.parsing.jsontext`, the same reader the WebSocket's messages go through.
"""

from __future__ import annotations

from typing import Any

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import BadHttpMessage

from trafficmon.state import ValidationError
from trafficmon.web.errors import ApiError
from trafficmon.web.keys import CONFIG_KEY
from trafficmon.web.parsing.jsontext import JsonRefused, parse_json

JSON = "application/json"
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


async def read_json(request: web.Request) -> Any:
    """The body as a JSON value; 415 unless it says it is JSON, 400 when it is not."""
    if request.content_type != JSON:
        raise ApiError(415, f"send the body as {JSON} (got {request.content_type or 'none'})")
    return await _parse_json(request)


async def read_object(request: web.Request, *, form: bool = False) -> dict[str, Any]:
    """The body as an object of fields: a JSON object, or with `form` also an HTML form.

    Form values are strings, as a browser sends them; the caller converts and
    checks each one, knowing where it came from (`is_form`).
    """
    if form and request.content_type in FORM_TYPES:
        return await _read_form(request)
    if request.content_type != JSON:
        accepted = f"{JSON} or an HTML form" if form else JSON
        raise ApiError(415, f"send the body as {accepted} (got {request.content_type or 'none'})")
    value = await _parse_json(request)
    if not isinstance(value, dict):
        raise ApiError(400, f"the body must be a JSON object, got {type(value).__name__}")
    return value


def is_form(request: web.Request) -> bool:
    """True when the body is an HTML form (its values are strings)."""
    return request.content_type in FORM_TYPES


async def _parse_json(request: web.Request) -> Any:
    """JSON is UTF-8 (RFC 8259): another declared charset is a 415, whatever the bytes hold."""
    charset = request.charset
    if charset is not None and charset.lower().replace("_", "-") not in UTF8_NAMES:
        raise ApiError(415, f"send JSON as UTF-8 (the body says charset={charset[:40]})")
    try:
        return parse_json(await request.read(), "body")
    except JsonRefused as exc:
        if exc.field is not None:
            raise ValidationError(exc.field, exc.message) from None
        raise ApiError(400, exc.message) from None


UTF8_NAMES = ("utf-8", "utf8")


async def _read_form(request: web.Request) -> dict[str, Any]:
    """The form's fields, each given once, all text: UTF-8, as browsers send them."""
    charset = request.charset
    if charset is not None and charset.lower().replace("_", "-") not in UTF8_NAMES:
        raise ApiError(415, f"send the form as UTF-8 (the body says charset={charset[:40]})")
    try:
        if request.content_type == FORM_TYPES[1]:
            pairs = await _multipart_fields(request)
        else:
            pairs = [(name, str(value)) for name, value in (await request.post()).items()]
    except ValueError as exc:  # aiohttp's word for a malformed form: no boundary, a bad part header
        raise ApiError(400, f"the form body cannot be read: {exc}") from None
    except BadHttpMessage as exc:  # a part's header line the HTTP parser refuses (a control character in it)
        raise ApiError(400, f"the form body cannot be read: {exc.message}") from None
    fields: dict[str, Any] = {}
    for name, value in pairs:
        if name in fields:
            raise ApiError(400, f"{name}: given more than once")
        fields[name] = value
    return fields


async def _multipart_fields(request: web.Request) -> list[tuple[str, str]]:
    """The parts of a multipart form as (name, text), read here rather than by `request.post()`.

    aiohttp's reader spools a file part to a temporary file before the
    handler can refuse it (and loses those files when a later part is bad),
    and decodes a part with whatever charset it names, raising LookupError for
    one it does not know. Here a file part is refused on its headers, and a
    part is UTF-8 text or the form is refused; the body limit holds as parts
    are read.
    """
    limit = request.app[CONFIG_KEY].max_body_bytes
    reader = await request.multipart()
    pairs: list[tuple[str, str]] = []
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            raise ApiError(400, "the form body cannot be read: a part is itself multipart")
        if part.name is None:
            raise ApiError(400, "the form body cannot be read: a part has no name")
        if part.filename is not None:
            raise ApiError(400, f"{part.name}: file uploads are not accepted")
        data = bytearray()
        while chunk := await part.read_chunk():
            data += chunk
            if request.content.total_bytes > limit:
                raise ApiError(413, f"request body is over the limit of {limit} bytes")
        try:
            pairs.append((part.name, data.decode("utf-8")))
        except UnicodeDecodeError as exc:
            raise ApiError(400, f"{part.name}: not valid UTF-8 (byte {exc.start})") from None
    return pairs
