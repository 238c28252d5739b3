"""The OpenAPI document's shared parts: the problem-details responses every operation may answer."""

PROBLEM = {
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {"description": "Per field, what is wrong (validation errors only)."},
    },
}
COMMON = {"400": "Invalid request", "401": "No valid token", "403": "Not allowed", "404": "Not found",
          "406": "Not acceptable", "429": "Too many requests"}
WRITES = {"415": "Unsupported media type", "422": "Refused by a rule; nothing changed"}


def _problem(description: str, *, retry: bool) -> dict:
    response = {"description": description,
                "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}
    if retry:
        response["headers"] = {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."}}
    return response


def add_problem_responses(result, generator, request, public):
    """drf-spectacular postprocessing hook: errors are RFC 9457 problem documents, on every operation."""
    result.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM
    for path in result.get("paths", {}).values():
        for method, operation in path.items():
            codes = dict(COMMON, **(WRITES if method in ("post", "put", "patch", "delete") else {}))
            responses = operation.setdefault("responses", {})
            for code, description in codes.items():
                responses.setdefault(code, _problem(description, retry=code == "429"))
    return result
