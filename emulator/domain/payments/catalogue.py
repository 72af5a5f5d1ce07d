"""Products as the platform sees them: config entries with their defaults, inline products (`product_inline`,
snake_case), the inline form answered by the API, intervals and money amounts."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from emulator.domain.projects import config as config_mod

CURRENCIES = config_mod.CURRENCIES
DAY_MS = 86_400_000
# The ledger's item repeats use fixed lengths (a month is 30 days, a year 365), as the platform's ledger does;
# billing periods use calendar months and years.
INTERVAL_MS = {"day": DAY_MS, "week": 7 * DAY_MS, "month": 30 * DAY_MS, "year": 365 * DAY_MS}


def product_from_config(config: dict[str, Any], product_id: str) -> dict[str, Any] | None:
    """The product with its defaults filled in, as the platform renders it; None if there is none."""
    raw = (config["payments"].get("products") or {}).get(product_id)
    if not isinstance(raw, dict):
        return None
    prices = raw.get("prices")
    if prices != "include-by-default":
        prices = {pid: {**{k: v for k, v in (p or {}).items() if v is not None}, "serverOnly": bool((p or {}).get("serverOnly"))}
                  for pid, p in (prices or {}).items()}
    items = {iid: {"quantity": i.get("quantity") or 0, "repeat": _interval(i.get("repeat")) or "never",
                   "expires": i.get("expires") or "when-repeated"}
             for iid, i in (raw.get("includedItems") or {}).items()}
    product = {"displayName": raw.get("displayName") or product_id, "customerType": raw.get("customerType") or "user",
               "serverOnly": bool(raw.get("serverOnly")), "isAddOnTo": raw.get("isAddOnTo") or False,
               "prices": prices, "includedItems": items}
    for key in ("productLineId", "freeTrial", "stackable", "clientMetadata", "clientReadOnlyMetadata", "serverMetadata"):
        if raw.get(key) is not None:
            product[key] = _interval(raw[key]) if key == "freeTrial" else raw[key]
    return product


def _interval(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def product_from_inline(inline: dict[str, Any]) -> dict[str, Any]:
    """An inline product (already validated) as a stored product: its prices are server-only, it is not stackable
    and its items never expire unless told, as upstream."""
    product = {
        "isAddOnTo": False, "displayName": inline["display_name"], "customerType": inline["customer_type"],
        "serverOnly": inline.get("server_only", True), "stackable": False,
        "prices": {pid: {**{c: p[c] for c in CURRENCIES if p.get(c) is not None},
                         **({"interval": p["interval"]} if p.get("interval") else {}),
                         **({"freeTrial": p["free_trial"]} if p.get("free_trial") else {}), "serverOnly": True}
                   for pid, p in (inline.get("prices") or {}).items()},
        "includedItems": {iid: {"repeat": i.get("repeat") or "never", "quantity": i.get("quantity") or 0,
                                "expires": i.get("expires") or "never"}
                          for iid, i in (inline.get("included_items") or {}).items()},
    }
    if inline.get("free_trial"):
        product["freeTrial"] = inline["free_trial"]
    for snake, camel in (("client_metadata", "clientMetadata"), ("client_read_only_metadata", "clientReadOnlyMetadata"),
                         ("server_metadata", "serverMetadata")):
        if inline.get(snake) is not None:
            product[camel] = inline[snake]
    return product


def to_inline(product: dict[str, Any]) -> dict[str, Any]:
    """The API's (snake_case) form of a product."""
    prices = product.get("prices")
    return {
        "display_name": product.get("displayName") or "Product",
        "customer_type": product.get("customerType"),
        "stackable": product.get("stackable") is True,
        "server_only": product.get("serverOnly") is True,
        "included_items": product.get("includedItems") or {},
        "client_metadata": product.get("clientMetadata"),
        "client_read_only_metadata": product.get("clientReadOnlyMetadata"),
        "server_metadata": product.get("serverMetadata"),
        "prices": {} if prices == "include-by-default" else {
            pid: {**{c: p[c] for c in CURRENCIES if p.get(c) is not None},
                  **({"interval": p["interval"]} if p.get("interval") else {}),
                  **({"free_trial": p["freeTrial"]} if p.get("freeTrial") else {})}
            for pid, p in (prices or {}).items()},
    }


INLINE_PRICE = config_mod.Price(**{c: config_mod.Money(d) for c, d in CURRENCIES.items()},
                                interval=config_mod.INTERVAL, free_trial=config_mod.INTERVAL)
INLINE_PRODUCT = config_mod.Obj(
    display_name=config_mod.STR, customer_type=config_mod.CUSTOMER_TYPE, free_trial=config_mod.INTERVAL,
    server_only=config_mod.BOOL, stackable=config_mod.BOOL, prices=config_mod.Record(INLINE_PRICE),
    included_items=config_mod.Record(config_mod.Obj(
        quantity=config_mod.NUM, repeat=config_mod.Interval(allow_never=True),
        expires=config_mod.Scalar(str, name="a string", choices=("never", "when-purchase-expires", "when-repeated")))),
    client_metadata=config_mod.AnyValue(), client_read_only_metadata=config_mod.AnyValue(),
    server_metadata=config_mod.AnyValue(),
)


def inline_problems(value: Any, path: str) -> list[str]:
    errors: list[str] = []
    INLINE_PRODUCT.check(value, path, errors)
    if isinstance(value, dict):
        for key in ("display_name", "customer_type", "prices", "included_items"):
            if value.get(key) is None:
                errors.append(f"{path}.{key} must be defined")
    return errors


# ---- time and money -------------------------------------------------------------------------------------------------

def add_interval(millis: int, interval: list, times: int = 1) -> int:
    """`millis` moved by `times` intervals on the calendar (months and years keep the day of month and overflow
    into the next month like JavaScript's Date, e.g. Jan 31 + 1 month = Mar 3 or 2)."""
    count, unit = interval[0] * times, interval[1]
    start = datetime.fromtimestamp(millis / 1000, timezone.utc)
    if unit in ("day", "week"):
        return millis + count * INTERVAL_MS[unit]
    months = count * (12 if unit == "year" else 1)
    index = start.year * 12 + start.month - 1 + months
    year, month = divmod(index, 12)
    first = start.replace(year=year, month=month + 1, day=1)
    moved = first + timedelta(days=start.day - 1)  # overflow past the month's end, as JavaScript does
    return int(moved.timestamp() * 1000) + start.microsecond // 1000 - moved.microsecond // 1000


def repeat_ms(interval: Any) -> int | None:
    if not isinstance(interval, (list, tuple)) or interval[1] not in INTERVAL_MS:
        return None
    return interval[0] * INTERVAL_MS[interval[1]] or None


def charged_amount(price: dict[str, Any] | None, quantity: int) -> dict[str, str]:
    """Every currency of a price times the quantity, as decimal strings without trailing zeros ("10", "19.98")."""
    out = {}
    for currency in CURRENCIES:
        amount = (price or {}).get(currency)
        if isinstance(amount, str):
            total = Decimal(amount) * quantity
            if total:
                text = format(total.normalize(), "f")
                out[currency] = text
    return out


MONEY_RE = re.compile(r"^([0-9]+)(\.([0-9]+))?$")


def money_problem(value: str, currency: str = "USD") -> str | None:
    """Why an API money amount is refused, in the words of the platform's validator (a client may show them)."""
    match = MONEY_RE.match(value)
    if not match:
        return "Money amount must be in the format of <number> or <number>.<number>"
    if match.group(3) and len(match.group(3)) > CURRENCIES[currency]:
        return f"Too many decimals; {currency} only has {CURRENCIES[currency]} decimals"
    if match.group(1) != "0" and match.group(1).startswith("0"):
        return "Money amount must not have leading zeros"
    return None


def format_amount(amounts: dict[str, str]) -> str:
    """What receipts show: "USD 20.00" (the USD amount when there is one)."""
    if not amounts:
        return "USD 0.00"
    currency = "USD" if "USD" in amounts else next(iter(amounts))
    return f"{currency} {Decimal(amounts[currency]):.{CURRENCIES[currency]}f}"
