"""What a customer owns and holds right now, computed from the stored purchases the way the platform's ledger does.

Item grants: each purchase grants `includedItems.quantity × purchase quantity` when it is made; an item with
`repeat` is granted again every interval (a month is 30 days) while a subscription lasts (a one-time purchase
repeats for ever). Expiry: `when-repeated` grants expire at the item's next repeat (or when the subscription ends),
`when-purchase-expires` grants when the subscription ends or the purchase is refunded, `never` never; manual
changes expire at their `expires_at`. Removals take from the grants that expire soonest; what they cannot cover is
debt, which later grants pay off first. The quantity is the live grants plus the (negative) debt.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from emulator.clock import now_millis
from emulator.domain.payments.catalogue import repeat_ms
from emulator.store.models import ItemQuantityChange, OneTimePurchase, PaymentRefund, Subscription

ACTIVE = ("active", "trialing")
NULL_PRODUCT = "__null__"  # the key of inline products, which have no id


@dataclass
class Customer:
    """The stored facts about one customer."""
    subscriptions: list[Subscription] = field(default_factory=list)
    purchases: list[OneTimePurchase] = field(default_factory=list)
    changes: list[ItemQuantityChange] = field(default_factory=list)
    refunds: list[PaymentRefund] = field(default_factory=list)


async def load(db: AsyncSession, project_id: str, customer_type: str, customer_id: str) -> Customer:
    async def rows(model):
        return list((await db.execute(select(model).where(
            model.project_id == project_id, model.customer_type == customer_type, model.customer_id == customer_id)
        )).scalars())
    return Customer(await rows(Subscription), await rows(OneTimePurchase), await rows(ItemQuantityChange),
                    await rows(PaymentRefund))


def _item_grants(product: dict[str, Any], quantity: int, start: int, end: int | None, now: int) -> list[tuple]:
    """(time, item id, quantity, expiry) of a purchase's item grants up to `now`; `end` is when it stops."""
    out = []
    for item_id, item in (product.get("includedItems") or {}).items():
        amount = (item.get("quantity") or 0) * quantity
        every = repeat_ms(item.get("repeat"))
        expires = item.get("expires") or "never"
        at = start
        while at <= now and (end is None or at < end or at == start):
            next_at = at + every if every else None
            if expires == "when-repeated":
                expiry = min(x for x in (next_at, end) if x is not None) if (next_at or end) else None
            elif expires == "when-purchase-expires":
                expiry = end
            else:
                expiry = None
            if amount:
                out.append((at, item_id, amount, expiry))
            if next_at is None:
                break
            at = next_at
    return out


def _ended_at(sub: Subscription) -> int | None:
    return sub.ended_at_millis


def item_quantities(customer: Customer, now: int | None = None) -> dict[str, int | float]:
    now = now_millis() if now is None else now
    events: list[tuple] = []  # (time, sequence, item id, quantity, expiry)
    for sub in customer.subscriptions:
        for t, item, q, e in _item_grants(sub.product, sub.quantity, sub.created_at_millis, _ended_at(sub), now):
            events.append((t, len(events), item, q, e))
    for purchase in customer.purchases:
        for t, item, q, e in _item_grants(purchase.product, purchase.quantity, purchase.created_at_millis,
                                          purchase.refunded_at_millis, now):
            events.append((t, len(events), item, q, e))
    for change in customer.changes:
        if change.created_at_millis <= now:
            events.append((change.created_at_millis, len(events), change.item_id, change.quantity,
                           change.expires_at_millis))
    events.sort(key=lambda ev: (ev[0], ev[1]))
    state: dict[str, tuple[list[list], float]] = {}  # item -> ([[quantity, expiry], ...], debt <= 0)
    for t, _, item, q, e in events:
        grants, debt = state.get(item, ([], 0))
        grants = [g for g in grants if g[1] is None or g[1] > t]
        if q > 0:
            left = q + debt
            debt = min(0, left)
            if left > 0:
                grants.append([left, e])
        elif q < 0:
            need = -q
            for grant in sorted(grants, key=lambda g: (g[1] is None, g[1] or 0)):
                take = min(grant[0], need)
                grant[0] -= take
                need -= take
                if need == 0:
                    break
            grants = [g for g in grants if g[0] > 0]
            debt -= need
        state[item] = (grants, debt)
    return {item: sum(g[0] for g in grants if g[1] is None or g[1] > now) + debt
            for item, (grants, debt) in state.items()}


def owned_products(customer: Customer, now: int | None = None) -> dict[str, dict[str, Any]]:
    """productId (or "__null__") -> {quantity, product, productLineId} for what the customer owns now."""
    now = now_millis() if now is None else now
    owned: dict[str, dict[str, Any]] = {}
    revoked = {(r.source_kind, r.source_id): r.revoked_quantity for r in customer.refunds}

    def add(product_id, product, quantity, at):
        entry = owned.setdefault(product_id or NULL_PRODUCT, {"quantity": 0, "product": product, "at": at})
        entry["quantity"] += quantity
        if at >= entry["at"]:
            entry["product"], entry["at"] = product, at

    for sub in customer.subscriptions:
        ended = sub.ended_at_millis is not None and sub.ended_at_millis <= now
        if sub.created_at_millis <= now and not ended:
            add(sub.product_id, sub.product, max(0, sub.quantity - revoked.get(("subscription", sub.id), 0)),
                sub.created_at_millis)
    for purchase in customer.purchases:
        if purchase.created_at_millis <= now:
            left = purchase.quantity - revoked.get(("one-time-purchase", purchase.id), 0)
            add(purchase.product_id, purchase.product, max(0, left), purchase.created_at_millis)
    return {pid: {"quantity": e["quantity"], "product": e["product"],
                  "productLineId": e["product"].get("productLineId")} for pid, e in owned.items()}


def owns(owned: dict[str, dict[str, Any]], product_id: str) -> bool:
    return product_id in owned and owned[product_id]["quantity"] > 0


def active_subscriptions(customer: Customer) -> list[Subscription]:
    return [s for s in customer.subscriptions if s.status in ACTIVE]
