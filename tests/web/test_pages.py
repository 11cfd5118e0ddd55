"""`/` content negotiation, the docs pages and their vendored assets, and the document's coverage."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import aiohttp_jinja2
import pytest
from aiohttp.test_utils import TestClient

from tests.web.conftest import AUTH
from tests.web.openapi_check import OpenApi
from trafficmon.web.routes.pages import wants_html

WEB = Path(__file__).resolve().parents[2] / "web"
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"


@pytest.mark.parametrize(
    ("accept", "html"),
    [
        (BROWSER_ACCEPT, True),
        ("text/html", True),
        ("*/*", False),
        ("", False),
        ("application/json", False),
        ("application/json, text/html;q=0.9", False),
        ("text/html;q=0.5, application/json;q=0.4", True),
        ("text/html;q=0", False),
        ("text/*", False),
    ],
)
def test_wants_html(accept: str, html: bool) -> None:
    assert wants_html(accept) is html


async def test_index_for_a_browser(client: TestClient) -> None:
    response = await client.get("/", headers={**AUTH, "Accept": BROWSER_ACCEPT})
    assert response.status == 200
    assert response.content_type == "text/html"
    assert response.headers["Vary"] == "Accept"
    page = await response.text()
    assert 'data-page="overview"' in page and 'id="connections"' in page
    assert 'href="/docs"' in page and 'href="/daily"' in page


async def test_index_for_a_program(client: TestClient, openapi: OpenApi) -> None:
    response = await client.get("/", headers={**AUTH, "Accept": "*/*"})
    body = await response.json()
    openapi.check_response("/", "get", 200, body)
    assert body["name"] == "trafficmon"
    assert {"method": "GET", "path": "/api/connections", "summary": "Connections, with their process and speeds"} in (
        body["endpoints"]
    )
    assert {e["path"] for e in body["endpoints"]} == set(openapi.document["paths"])
    assert (body["docs"], body["redoc"], body["openapi"]) == ("/docs", "/redoc", "/openapi.json")


async def test_templates_autoescape(client: TestClient) -> None:
    env = aiohttp_jinja2.get_env(client.server.app)
    assert env.from_string("{{ x }}").render(x="<script>") == "&lt;script&gt;"


async def test_openapi_json_is_the_document(client: TestClient, openapi: OpenApi) -> None:
    response = await client.get("/openapi.json", headers=AUTH)
    assert await response.json() == openapi.document


@pytest.mark.parametrize(
    ("page", "assets"),
    [
        (
            "/docs",
            {"vendor/swagger-ui/swagger-ui-bundle.js", "vendor/swagger-ui/swagger-ui.css", "docs/swagger-init.js",
             "img/icon.svg"},
        ),
        ("/redoc", {"vendor/redoc/redoc.standalone.js", "img/icon.svg"}),
    ],
)
async def test_docs_pages_load_only_local_assets(client: TestClient, page: str, assets: set[str]) -> None:
    response = await client.get(page, headers=AUTH)
    assert response.status == 200
    html = await response.text()
    urls = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert not [u for u in urls if "//" in u], "nothing may come from another host"
    static = [u for u in urls if u.startswith("/static/")]
    assert {u.split("?")[0].removeprefix("/static/") for u in static} == assets
    for url in static:
        assert "?v=" in url  # cache-busting version from add_static(append_version=True)
        asset = await client.get(url.replace("&amp;", "&"), headers=AUTH)
        assert asset.status == 200
        on_disk = WEB / "static" / url.split("?")[0].removeprefix("/static/")
        kept = on_disk if on_disk.exists() else on_disk.with_name(on_disk.name + ".gz")
        stored = kept.read_bytes() if kept == on_disk else gzip.decompress(kept.read_bytes())
        assert await asset.read() == stored  # the client inflates what came gzipped
    assert 'data-spec="/openapi.json"' in html or 'spec-url="/openapi.json"' in html


@pytest.mark.parametrize("bundle", ["swagger-ui/swagger-ui-bundle", "redoc/redoc.standalone"])
async def test_big_bundles_go_out_gzipped_or_inflated_as_the_client_accepts(client: TestClient, bundle: str) -> None:
    stored = (WEB / "static" / "vendor" / f"{bundle}.js.gz").read_bytes()
    url = f"/static/vendor/{bundle}.js"
    zipped = await client.get(url, headers={**AUTH, "Accept-Encoding": "gzip, deflate"}, auto_decompress=False)
    assert zipped.status == 200
    assert (zipped.headers["Content-Encoding"], zipped.headers["Vary"]) == ("gzip", "Accept-Encoding")
    assert zipped.content_type == "text/javascript"
    assert await zipped.read() == stored
    plain = await client.get(url, headers={**AUTH, "Accept-Encoding": "identity"})
    assert "Content-Encoding" not in plain.headers
    assert await plain.read() == gzip.decompress(stored)
    assert len(stored) < 500_000 < len(gzip.decompress(stored)), "kept compressed in the repository"
    assert (await client.get(url)).status == 401, "behind the same authentication as every asset"


@pytest.mark.parametrize("name", ["swagger-ui", "redoc", "uplot"])
def test_vendored_assets_keep_license_and_version(name: str) -> None:
    folder = WEB / "static" / "vendor" / name
    assert "MIT" in (folder / "LICENSE").read_text() or "Apache" in (folder / "LICENSE").read_text()
    assert re.fullmatch(r"\d+\.\d+\.\d+\n", (folder / "VERSION").read_text())


async def test_every_route_is_documented_and_every_documented_path_exists(
    client: TestClient, openapi: OpenApi
) -> None:
    routes = set()
    for route in client.server.app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter")
        if path is None or path.startswith("/static") or route.method == "HEAD":
            continue
        routes.add((route.method.lower(), path))
    documented = {
        (method, path)
        for path, item in openapi.document["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    }
    assert routes == documented
