"""The form bodies hypothesis broke (`test_body_properties.py`), each kept as a plain example.

Before multipart forms were read part by part in `web.parsing.bodies`, a part header
with a control character and a charset Python does not know (a form's or a
part's) answered 500, and a file part was spooled to a temporary file that
nothing closed when a later part was bad. The streamed body shows the size
bound still holds for parts read that way.
"""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.web.conftest import AUTH, MakeClient
from tests.web.openapi_check import OpenApi

BOUNDARY = "b0undary"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"


def part(name: str, value: bytes, *headers: str) -> bytes:
    lines = [f"--{BOUNDARY}", f'Content-Disposition: form-data; name="{name}"', *headers, "", ""]
    return "\r\n".join(lines).encode("utf-8", "surrogateescape") + value + b"\r\n"


def upload(name: str, value: bytes) -> bytes:
    disposition = f'Content-Disposition: form-data; name="{name}"; filename="a.txt"'
    return f"--{BOUNDARY}\r\n{disposition}\r\n\r\n".encode() + value + b"\r\n"


def form(*parts: bytes) -> bytes:
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


async def post(client: TestClient, openapi: OpenApi, body: Any, content_type: str, status: int) -> dict[str, Any]:
    headers = {**AUTH, "Accept": "application/json", "Content-Type": content_type}
    response = await client.post("/adjust", data=body, headers=headers)
    answer = await response.json()
    assert response.status == status, answer
    openapi.check_response("/adjust", "post", status, answer)
    return answer


@pytest.mark.parametrize(
    ("body", "says"),
    [
        pytest.param(form(part("mode\x1f", b"add")), "Invalid HTTP header", id="control-character-in-a-part-header"),
        pytest.param(form(part("mode", b"add"), part("bytes", b"1"), part("note", b"caf\xe9")),
                     "note: not valid UTF-8 (byte 3)", id="part-not-utf8"),
        pytest.param(form(part("mode", b"add"), part("bytes", b"1"), upload("note", b"file contents")),
                     "note: file uploads are not accepted", id="file-part"),
        pytest.param(form(upload("note", b"x" * 5000), part("bad\x01", b"")),
                     "note: file uploads are not accepted", id="file-part-then-a-bad-header"),
    ],
)
async def test_malformed_parts_are_refused(client: TestClient, openapi: OpenApi, body: bytes, says: str) -> None:
    answer = await post(client, openapi, body, MULTIPART, 400)
    assert says in answer["error"]
    audit = await (await client.get("/api/audit", headers=AUTH)).json()
    assert audit["count"] == 0


@pytest.mark.parametrize("charset", ["bogus-xx", "latin-1"])
async def test_a_form_in_another_charset_is_415(client: TestClient, openapi: OpenApi, charset: str) -> None:
    answer = await post(client, openapi, b"mode=add&bytes=1", f"application/x-www-form-urlencoded; charset={charset}",
                        415)
    assert f"charset={charset}" in answer["error"]


async def test_a_part_charset_is_not_trusted_and_utf8_parts_are_accepted(client: TestClient, openapi: OpenApi) -> None:
    body = form(part("mode", b"add"), part("bytes", b"7"),
                part("note", "caf\u00e9".encode(), "Content-Type: text/plain; charset=bogus-xx"))
    answer = await post(client, openapi, body, MULTIPART, 200)
    assert answer["adjustment"]["note"] == "caf\u00e9"


async def test_a_streamed_multipart_body_over_the_limit_is_413(make_client: MakeClient, openapi: OpenApi) -> None:
    client = await make_client(max_body_bytes=4096)

    async def chunks():
        yield part("mode", b"add") + part("bytes", b"1")
        for _ in range(8):
            yield part("note", b"n" * 1000)

    answer = await post(client, openapi, chunks(), MULTIPART, 413)
    assert "4096" in answer["error"]
