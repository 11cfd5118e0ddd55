"""The hand-written OpenAPI document (`web/openapi.yaml`) and what is derived from it.

The YAML file is the single description of the API: /docs and /redoc render
it, `GET /` summarises it for programs, and the tests validate every real
response against its schemas.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

import yaml

METHODS = ("get", "post", "put", "patch", "delete")


def load_document() -> dict[str, Any]:
    text = resources.files("trafficmon.web").joinpath("openapi.yaml").read_text(encoding="utf-8")
    document = yaml.safe_load(text)
    if not isinstance(document, dict) or "paths" not in document:
        raise ValueError("web/openapi.yaml is not an OpenAPI document")
    return document


def describe(document: dict[str, Any]) -> dict[str, Any]:
    """The API description `GET /` returns to non-browser clients."""
    info = document["info"]
    endpoints = [
        {"method": method.upper(), "path": path, "summary": operation.get("summary", "")}
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]
    return {
        "name": info["title"],
        "version": info["version"],
        "description": info.get("description", "").strip(),
        "endpoints": endpoints,
        "docs": "/docs",
        "redoc": "/redoc",
        "openapi": "/openapi.json",
    }
