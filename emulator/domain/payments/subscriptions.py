"""Subscriptions on the emulator clock: trials end, periods renew (a paid one is charged: an invoice, a
`subscription-renewal` transaction and a payment_receipt email per period), cancellation and plan switches.

Due renewals are materialised after every clock advance (`clock.after_advance`) and by a background task, so a
year moved in one call yields its twelve monthly renewals at once."""
from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from emulator import clock
from emulator.clock import now_millis
from emulator.domain.payments import catalogue, receipts
from emulator.domain.payments.catalogue import add_interval, charged_amount
from emulator.domain.payments.stripe_account import stripe_id
from emulator.errors import E, StatusError
from emulator.store.models import Subscription, SubscriptionInvoice


def billed_price(sub: Subscription) -> dict[str, Any] | None:
    prices = sub.product.get("prices")
    if not isinstance(prices, dict) or not prices:
        return None
    return prices.get(sub.price_id) if sub.price_id else next(iter(prices.values()))


async def renew_due(db: AsyncSession, bus, view, now: int | None = None) -> int:
    """Move every live subscription whose period has ended into its current period. `view(db, project_id)` gives
    the ProjectView (for receipts). Returns how many periods were renewed."""
    now = now_millis() if now is None else now
    due = (await db.execute(select(Subscription).where(
        Subscription.status.in_(("active", "trialing")), Subscription.ended_at_millis.is_(None),
        Subscription.current_period_end_millis <= now).order_by(Subscription.current_period_end_millis))).scalars()
    renewed = 0
    for sub in list(due):
        price = billed_price(sub)
        interval = (price or {}).get("interval")
        if not interval:
            continue
        project = None
        while sub.current_period_end_millis <= now:
            start = sub.current_period_end_millis
            if sub.status == "trialing":
                sub.status, sub.periods_elapsed = "active", 0  # billing is anchored on the trial's end from now on
            else:
                sub.periods_elapsed += 1
            anchor = sub.trial_end_millis or sub.created_at_millis
            sub.current_period_start_millis = start
            sub.current_period_end_millis = add_interval(anchor, interval, sub.periods_elapsed + 1)
            renewed += 1
            if sub.stripe_subscription_id:  # a paid subscription is charged for the new period
                amount = charged_amount(price, sub.quantity)
                db.add(SubscriptionInvoice(id=stripe_id("in"), project_id=sub.project_id, subscription_id=sub.id,
                                           is_creation=False, charged_amount=amount, created_at_millis=start))
                project = project or await view(db, sub.project_id)
                if project is not None:
                    await receipts.send(db, bus, project, sub.customer_type, sub.customer_id, "payment_receipt", {
                        "productName": sub.product.get("displayName") or "Subscription", "quantity": sub.quantity,
                        "amount": catalogue.format_amount(amount)})
    if renewed:
        await db.flush()
    return renewed


async def materialise(state) -> None:
    """Renew what fell due; the clock hook and the background task both call this."""
    async with state.db.session() as db:
        if await renew_due(db, state.mail, state.projects.view):
            await db.commit()


clock.after_advance.append(materialise)


def cancel(sub: Subscription, now: int) -> None:
    """DELETE /payments/products/…: a test-mode or granted subscription runs to the end of its period; a paid
    (simulated Stripe) one is cancelled at once, as Stripe's cancel does."""
    sub.status, sub.cancel_at_period_end, sub.canceled_at_millis = "canceled", True, now
    sub.ended_at_millis = now if sub.stripe_subscription_id else sub.current_period_end_millis


async def switch(db: AsyncSession, project, is_client: bool, user, customer_type: str, customer_id: str,
                 body: dict[str, Any]) -> None:
    """POST /payments/products/{type}/{id}/switch, checks in the platform's order. Only paid (simulated Stripe)
    subscriptions switch, charged to the card their checkout saved; the period carries on (Stripe prorates)."""
    from emulator.domain.payments import ledger, purchases

    if project.config["payments"].get("blockNewPurchases"):
        raise E.new_purchases_blocked()
    if is_client:
        await purchases.ensure_client_can_access(db, project, user, customer_type, customer_id,
                                                 "Clients can only manage their own subscriptions.")
    from_id, to_id = body["from_product_id"], body["to_product_id"]
    from_product = catalogue.product_from_config(project.config, from_id)
    to_product = catalogue.product_from_config(project.config, to_id)
    if from_product is None or to_product is None:
        raise StatusError(400, "Product not found.")
    if from_product["customerType"] != customer_type or to_product["customerType"] != customer_type:
        raise StatusError(400, "Product customer type does not match.")
    if not from_product.get("productLineId") or from_product["productLineId"] != to_product.get("productLineId"):
        raise StatusError(400, "Products must be in the same product line to switch.")
    if from_id == to_id:
        raise StatusError(400, "Product is already active.")
    if to_product["isAddOnTo"]:
        raise StatusError(400, "Add-on products cannot be selected for plan switching.")
    from_default = from_product["prices"] == "include-by-default"
    if to_product["prices"] == "include-by-default":
        raise StatusError(400, "Include-by-default products cannot be selected for plan switching.")
    if not from_default and not any(p.get("interval") for p in from_product["prices"].values()):
        raise StatusError(400, "This subscription cannot be switched.")
    await purchases.ensure_customer_exists(db, project, customer_type, customer_id)
    customer = await ledger.load(db, project.id, customer_type, customer_id)
    active = ledger.active_subscriptions(customer)
    active_ids = {s.product_id or ledger.NULL_PRODUCT for s in active}
    if any(p["productLineId"] == from_product["productLineId"] and p["quantity"] > 0 and pid not in active_ids
           for pid, p in ledger.owned_products(customer).items()):
        raise StatusError(400, "Customer already has a one-time purchase in this product line")
    existing = None if from_default else next((s for s in active if s.product_id == from_id), None)
    if (existing is None and not from_default) or (existing is not None and not existing.stripe_subscription_id):
        raise StatusError(400, "This subscription cannot be switched.")
    prices = {k: p for k, p in to_product["prices"].items() if p.get("interval")}
    if not prices:
        raise StatusError(400, "Price not found for target product.")
    price_id = body.get("price_id") or next(iter(prices))
    price = prices.get(price_id)
    if price is None:
        raise StatusError(400, "Price not found for target product.")
    if price.get("USD") is None:
        raise StatusError(400, "Target price must include a USD amount.")
    quantity = body.get("quantity") or (existing.quantity if existing else 1)
    if body.get("quantity") is not None and quantity != 1 and to_product.get("stackable") is not True:
        raise StatusError(400, "This product is not stackable; quantity must be 1")
    stripe_customer = await purchases.stripe_customer(db, project.id, customer_type, customer_id)
    if not stripe_customer.default_payment_method:
        raise E.default_payment_method_required(customer_type, customer_id)
    await purchases.product_version(db, project.id, to_id, to_product)
    now = now_millis()
    if existing is not None:
        existing.product_id, existing.product, existing.price_id, existing.quantity = to_id, to_product, price_id, quantity
        existing.status = "active"
        return
    sub_id = str(uuid.uuid4())
    db.add(Subscription(id=sub_id, project_id=project.id, customer_type=customer_type,
                        customer_id=customer_id, product_id=to_id, product=to_product, price_id=price_id,
                        quantity=quantity, status="active", creation_source="PURCHASE_PAGE",
                        stripe_subscription_id=stripe_id("sub"), created_at_millis=now,
                        current_period_start_millis=now, current_period_end_millis=add_interval(now, price["interval"]),
                        periods_elapsed=0, cancel_at_period_end=False))
    db.add(SubscriptionInvoice(id=stripe_id("in"), project_id=project.id, subscription_id=sub_id, is_creation=True,
                               charged_amount=charged_amount(price, quantity), created_at_millis=now))
