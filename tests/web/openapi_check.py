"""Validates real responses against `web/openapi.yaml` with jsonschema (OpenAPI 3.1 = JSON Schema 2020-12)."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from trafficmon.web.openapi import load_document

DOCUMENT_URI = "urn:trafficmon:openapi"


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


class OpenApi:
    """The document, and a validator for any schema in it reached by JSON pointer."""

    def __init__(self) -> None:
        self.document = load_document()
        resource = Resource.from_contents(self.document, default_specification=DRAFT202012)
        self._registry = Registry().with_resource(DOCUMENT_URI, resource)

    def _validator(self, *tokens: str) -> Draft202012Validator:
        pointer = "".join("/" + _escape(t) for t in tokens)
        return Draft202012Validator({"$ref": f"{DOCUMENT_URI}#{pointer}"}, registry=self._registry)

    def check_schema(self, name: str, instance: Any) -> None:
        """Raise jsonschema.ValidationError unless `instance` fits components/schemas/`name`."""
        self._validator("components", "schemas", name).validate(instance)

    def check_response(self, path: str, method: str, status: int, body: Any,
                       content_type: str = "application/json") -> None:
        """Raise unless the document lists this status for the operation and the body fits it."""
        operation = self.document["paths"][path][method.lower()]
        responses = operation["responses"]
        assert str(status) in responses, f"{method} {path} answered {status}, not in the document"
        tokens = ["paths", path, method.lower(), "responses", str(status)]
        response = responses[str(status)]
        if "$ref" in response:
            name = response["$ref"].rsplit("/", 1)[1]
            tokens = ["components", "responses", name]
            response = self.document["components"]["responses"][name]
        assert content_type in response["content"], f"{content_type} not documented for {method} {path} {status}"
        self._validator(*tokens, "content", content_type, "schema").validate(body)

    def check_header(self, path: str, method: str, status: int, name: str, value: str) -> None:
        """Raise unless the document lists header `name` for this response and `value` fits its schema."""
        tokens = ("paths", path, method.lower(), "responses", str(status), "headers", name, "schema")
        self._validator(*tokens).validate(value)
