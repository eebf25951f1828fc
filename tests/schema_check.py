"""An API client that holds every JSON answer of /api/ against the OpenAPI schema.

The schema is what drf-spectacular publishes; each answer must match the response declared
for its path, method and status, with no field the schema does not name (objects are
closed here). A status the operation does not declare fails as well.
"""

import functools
import json
import re
from typing import Any

from drf_spectacular.generators import SchemaGenerator
from jsonschema import Draft202012Validator
from rest_framework.test import APIClient as DrfAPIClient

API_PREFIX = "/api/v1/"


@functools.cache
def _openapi() -> dict[str, Any]:
    return json.loads(json.dumps(SchemaGenerator().get_schema(request=None, public=True)))


def _json_schema(node: Any) -> Any:
    """OpenAPI 3.0's dialect as JSON Schema: `nullable` as a null type, objects closed."""
    if isinstance(node, list):
        return [_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: _json_schema(value) for key, value in node.items()}
    if converted.pop("nullable", False):
        converted = {"anyOf": [converted, {"type": "null"}]}
        return converted
    if converted.get("type") == "object" and "properties" in converted:
        converted.setdefault("additionalProperties", False)
    return converted


@functools.cache
def _components() -> dict[str, Any]:
    return _json_schema(_openapi()["components"])


@functools.cache
def _routes() -> tuple[tuple[re.Pattern[str], str], ...]:
    routes = []
    for path in _openapi()["paths"]:
        pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(path))
        routes.append((re.compile(f"^{pattern}$"), path))
    return tuple(routes)


def response_schema(path: str, method: str, status: int) -> dict[str, Any] | None:
    """The JSON schema of the declared answer (None: the operation answers no JSON)."""
    templates = [template for pattern, template in _routes() if pattern.match(path)]
    assert templates, f"{method.upper()} {path} is not in the OpenAPI schema"
    operation = _openapi()["paths"][templates[0]].get(method)
    assert operation is not None, f"{method.upper()} {templates[0]} is not in the schema"
    declared = operation["responses"].get(str(status))
    assert declared is not None, f"{method.upper()} {templates[0]} does not declare {status}"
    content = declared.get("content", {}).get("application/json")
    if content is None:
        return None
    return _json_schema(content["schema"])


def assert_matches_schema(response: Any, path: str, method: str) -> None:
    if response.get("Content-Type", "").split(";")[0] != "application/json":
        return
    schema = response_schema(path, method, response.status_code)
    if schema is None:
        return
    document = {**schema, "components": _components()}
    body = json.loads(response.content)
    errors = sorted(Draft202012Validator(document).iter_errors(body), key=str)
    assert not errors, (
        f"{method.upper()} {path} answered {response.status_code} off its schema: "
        + "; ".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:5])
    )


class APIClient(DrfAPIClient):
    """DRF's test client, checking each /api/v1/ answer against the published schema."""

    def generic(self, method: str, path: str, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        response = super().generic(method, path, *args, **kwargs)
        bare = path.split("?")[0]
        if bare.startswith(API_PREFIX):
            assert_matches_schema(response, bare, method.lower())
        return response
