"""The older payments names the platform still accepts, mapped to today's in this one place.

Config (hexclave.config.py and config overrides, nested or dotted keys): `offers` -> `products`, `groups` ->
`catalogs` -> `productLines` (a line takes its customer type from its products; one without products is dropped),
and a product's `groupId` / `catalogId` -> `productLineId`. API bodies: `offer_id` / `offer_inline` ->
`product_id` / `product_inline` (create-purchase-url of the API versions before v2beta5).
"""
from __future__ import annotations

from typing import Any

# Config renames by key path ("*" is any product id).
CONFIG_NAMES = {("payments", "offers"): "products", ("payments", "groups"): "productLines",
                ("payments", "catalogs"): "productLines", ("payments", "products", "*", "groupId"): "productLineId",
                ("payments", "products", "*", "catalogId"): "productLineId"}
BODY_FIELDS = {"offer_id": "product_id", "offer_inline": "product_inline"}


def rename_body(body: Any) -> Any:
    """A request body with its legacy fields under today's names (today's name wins when both are sent)."""
    if not isinstance(body, dict) or not BODY_FIELDS.keys() & body.keys():
        return body
    out = {k: v for k, v in body.items() if k not in BODY_FIELDS}
    for old, new in BODY_FIELDS.items():
        if old in body and body.get(new) is None:
            out[new] = body[old]
    return out


def _config_name(path: list[str]) -> str | None:
    return next((new for old, new in CONFIG_NAMES.items()
                 if len(old) == len(path) and all(o in ("*", p) for o, p in zip(old, path))), None)


def migrate_config(config: dict[str, Any]) -> dict[str, Any]:
    """A config or config override with the legacy payments names renamed; others are returned unchanged."""
    config = _migrate_nested_payments(config)

    def rename(value: Any, prefix: list[str]) -> Any:
        if not isinstance(value, dict):
            return value
        out = {}
        for key, sub in value.items():
            path = [*prefix]
            for part in key.split("."):
                path.append(part)
                path[-1] = _config_name(path) or part
            out[".".join(path[len(prefix):])] = rename(sub, path)
        return out

    return rename(config, [])


def _migrate_nested_payments(config: dict[str, Any]) -> dict[str, Any]:
    """A nested `payments` object: product lines get the customer type of their products (as the platform infers
    it), lines without products are dropped, `offers` merge into `products`."""
    payments = config.get("payments")
    if not isinstance(payments, dict) or not ({"offers", "groups", "catalogs"} & payments.keys() or any(
            isinstance(p, dict) and {"groupId", "catalogId"} & p.keys()
            for p in (payments.get("products") or payments.get("offers") or {}).values())):
        return config
    payments = dict(payments)
    if "offers" in payments:
        payments["products"] = {**payments.pop("offers"), **(payments.get("products") or {})}
    legacy_lines = {**(payments.pop("groups", None) or {}), **(payments.pop("catalogs", None) or {})}
    products = {}
    for product_id, product in (payments.get("products") or {}).items():
        if isinstance(product, dict) and ("groupId" in product or "catalogId" in product):
            product = dict(product)
            line = product.pop("catalogId", None) or product.pop("groupId", None)
            product.pop("groupId", None)
            product["productLineId"] = line
        products[product_id] = product
    payments["products"] = products
    if legacy_lines:
        lines = dict(payments.get("productLines") or {})
        for line_id, line in legacy_lines.items():
            types = [p.get("customerType", "user") for p in products.values()
                     if isinstance(p, dict) and p.get("productLineId") == line_id]
            if types:
                lines[line_id] = {**(line if isinstance(line, dict) else {}), "customerType": types[0]}
        payments["productLines"] = lines
    return {**config, "payments": payments}
