"""GET /api/v1/emulator/openapi.json: an OpenAPI 3.1 document generated from the API route table.

Every route declared with `endpoint` carries its access levels and validation schemas (`route.spec`); the document
is built from those, so it cannot drift from what the emulator checks. Routes without declared schemas (the clock,
the inbox's long-poll and event stream, this document) are left out. Request bodies that differ by access level
are described as the most privileged level sees them.
"""
from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.routing import Mount, Route

from emulator import __version__
from emulator.http import validation as v
from emulator.http.endpoint import EndpointSpec
from emulator.http.responses import json_response

PREFIX = "/api/v1"
KEY_HEADERS = {"client": "publishable-client-key", "server": "secret-server-key", "admin": "super-secret-admin-key"}


def _security_schemes() -> dict[str, Any]:
    names = {"projectId": "project-id", "accessType": "access-type", "accessToken": "access-token",
             "adminAccessToken": "admin-access-token", **{f"{level}Key": h for level, h in KEY_HEADERS.items()}}
    return {name: {"type": "apiKey", "in": "header", "name": f"x-stack-{header}",
                   "description": f"Also accepted as x-hexclave-{header}."} for name, header in names.items()}


def _security(access: tuple[str, ...] | None) -> list[dict[str, list]]:
    if access is None:
        return [{}]
    ways = [{"projectId": [], "accessType": [], f"{level}Key": []} for level in access]
    if "admin" in access:
        ways.append({"projectId": [], "accessType": [], "adminAccessToken": []})
    return ways


def _parameters(schema: v.Schema, where: str) -> list[dict[str, Any]]:
    if not isinstance(schema, v.Obj):
        return []
    return [{"name": name, "in": where, "required": where == "path" or field.required, "schema": field.json_schema()}
            for name, field in schema.fields.items()]


def _operation(path: str, method: str, spec: EndpointSpec) -> dict[str, Any]:
    access = spec.access
    body = spec.body
    if callable(body) and not isinstance(body, v.Schema):
        body = body(access[-1] if access else None)  # access tuples run from least to most privileged
    operation: dict[str, Any] = {
        "operationId": f"{method.lower()} {path}",
        "tags": [path.split("/")[1]],
        "parameters": _parameters(spec.params, "path") + _parameters(spec.query, "query"),
        "security": _security(access),
        "x-access-types": list(access) if access else [],
        "responses": {"default": {"description": "The platform's answer; errors are known errors (JSON with a "
                                                 "`code`) or plain text."}},
    }
    if spec.doc:
        operation["description"] = " ".join(spec.doc.split())
    if body is not None:
        operation["requestBody"] = {"required": body.required,
                                    "content": {"application/json": {"schema": body.json_schema()}}}
    return operation


def document(api_routes: list) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for route in api_routes:
        spec = getattr(route, "spec", None)
        if not isinstance(route, Route) or spec is None:
            continue
        path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)
        for method in sorted(route.methods - {"HEAD"}):
            paths.setdefault(PREFIX + path, {})[method.lower()] = _operation(path, method, spec)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Hexclave API (hexclave-emulator)", "version": __version__,
                 "description": "The REST API the emulator serves, generated from its route table. Requests name "
                                "a project and an access type (client, server or admin) in headers; see the "
                                "security schemes."},
        "paths": paths,
        "components": {"securitySchemes": _security_schemes()},
    }


async def openapi_json(request: Request):
    cached = getattr(request.app.state, "openapi", None)
    if cached is None:
        mount = next(r for r in request.app.router.routes if isinstance(r, Mount) and r.path == PREFIX)
        cached = request.app.state.openapi = document(mount.routes)
    return json_response(cached)


routes = [Route("/emulator/openapi.json", openapi_json, methods=["GET"])]
