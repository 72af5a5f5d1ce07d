"""Stripe webhook events, as the platform's receiver handles them: one-time purchases paid or failed, subscription
changes synced from Stripe, chargebacks, receipts and payment-failed mails.

The emulator's own checkout never sends these (it grants directly); they come from whoever plays Stripe: a test
harness signing events with the webhook secret. Like the platform's mock-Stripe mode, an event may carry the Stripe
objects the receiver would fetch in `data.object.stack_stripe_mock_data` ("accounts.retrieve", "customers.retrieve",
"subscriptions.list"); without them the emulator's simulated Stripe answers (its accounts and customers).
"""
from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from emulator.clock import now_millis
from emulator.domain.payments import catalogue, purchases, receipts, stripe_account
from emulator.domain.payments.subscriptions import billed_price
from emulator.errors import StatusError
from emulator.store.models import (OneTimePurchase, PaymentAccount, PaymentCustomer, ProductVersion, Subscription,
                                   SubscriptionInvoice)

SIGNATURE_TOLERANCE_SECONDS = 300  # Stripe's default
SUBSCRIPTION_EVENTS = {
    "checkout.session.completed", "customer.subscription.created", "customer.subscription.updated",
    "customer.subscription.deleted", "customer.subscription.paused", "customer.subscription.resumed",
    "customer.subscription.pending_update_applied", "customer.subscription.pending_update_expired",
    "customer.subscription.trial_will_end", "invoice.created", "invoice.finalized", "invoice.updated",
    "invoice.voided", "invoice.paid", "invoice.payment_failed", "invoice.payment_action_required",
    "invoice.upcoming", "invoice.marked_uncollectible", "invoice.payment_succeeded", "payment_intent.succeeded",
    "payment_intent.payment_failed", "payment_intent.canceled"}
IGNORED_EVENTS = {"account.updated", "account.application.authorized", "capability.updated", "charge.failed",
                  "balance.available", "customer.updated"}
TERMINAL_STATUSES = ("incomplete_expired", "unpaid")


def verify(payload: bytes, header: str, secret: str, now: float | None = None) -> dict[str, Any]:
    """The event of a request signed the way Stripe signs (`t=<seconds>,v1=<hex HMAC-SHA256 of "t.payload">`)."""
    parts = [p.split("=", 1) for p in header.split(",") if "=" in p]
    timestamp = next((v for k, v in parts if k == "t"), "")
    signatures = [v for k, v in parts if k == "v1"]
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()
    now = time.time() if now is None else now
    if not timestamp.isdigit() or abs(now - int(timestamp)) > SIGNATURE_TOLERANCE_SECONDS or \
            not any(hmac.compare_digest(expected, s) for s in signatures):
        raise StatusError(400, "Invalid stripe-signature header")
    try:
        event = json.loads(payload)
    except ValueError:
        raise StatusError(400, "Invalid stripe-signature header") from None
    if not isinstance(event, dict) or not isinstance(event.get("data"), dict) or \
            not isinstance(event["data"].get("object"), dict):
        raise StatusError(400, "Invalid stripe-signature header")
    return event


def _broken(what: str) -> StatusError:
    """An event the receiver cannot use: the platform fails it with a 500, so Stripe retries it."""
    return StatusError(500, f"Stripe webhook: {what}")


async def handle(db: AsyncSession, bus, projects, event: dict[str, Any]) -> None:
    kind, obj = event.get("type"), event["data"]["object"]
    mock = obj.get("stack_stripe_mock_data") or {}
    metadata = obj.get("metadata") or {}
    one_time = metadata.get("purchaseKind") == "ONE_TIME"
    if kind in ("payment_intent.succeeded", "payment_intent.payment_failed") and one_time:
        project = await _project(db, projects, event, mock)
        customer_type = str(metadata.get("customerType") or "").lower()
        if not metadata.get("customerId") or customer_type not in ("user", "team", "custom"):
            raise _broken("the payment intent has no valid customer metadata")
        product = await _product(db, project.id, metadata)
        name = product.get("displayName") or "Purchase"
        if kind == "payment_intent.succeeded":
            quantity = str(metadata.get("purchaseQuantity") or 1)
            if not quantity.isdigit():
                raise _broken(f"purchaseQuantity {quantity!r} is not a whole number")
            quantity = max(1, int(quantity))
            await _record_one_time_purchase(db, project.id, customer_type, metadata, product, quantity, obj["id"])
            receipt = ((obj.get("charges") or {}).get("data") or [{}])[0].get("receipt_url")
            await receipts.send(db, bus, project, customer_type, metadata["customerId"], "payment_receipt", {
                "productName": name, "quantity": quantity,
                "amount": _amount(obj.get("amount_received"), obj.get("currency")),
                **({"receiptLink": receipt} if receipt else {})})
        else:
            reason = (obj.get("last_payment_error") or {}).get("message")
            await receipts.send(db, bus, project, customer_type, metadata["customerId"], "payment_failed", {
                "productName": name, "amount": _amount(obj.get("amount"), obj.get("currency")),
                **({"failureReason": reason} if reason else {})})
    elif kind == "charge.dispute.created":
        await _project(db, projects, event, mock)  # no chargeback alert channel in the emulator: just received
    elif kind in SUBSCRIPTION_EVENTS:
        if not isinstance(obj.get("customer"), str):
            raise _broken("bad customer id")
        project = await _project(db, projects, event, mock)
        customer_type, customer_id = await _customer(db, project.id, obj["customer"], mock)
        await _sync_subscriptions(db, project.id, customer_type, customer_id, mock)
        if kind.startswith("invoice."):
            await _record_invoice(db, project.id, obj)
        if kind in ("invoice.paid", "invoice.payment_succeeded"):  # a card paid it: the customer has one on file
            customer = await purchases.stripe_customer(db, project.id, customer_type, customer_id)
            customer.default_payment_method = customer.default_payment_method or stripe_account.test_card()
        if kind in ("invoice.payment_succeeded", "invoice.payment_failed"):
            if kind == "invoice.payment_failed" and obj.get("status") != "uncollectible":
                return
            line = ((obj.get("lines") or {}).get("data") or [{}])[0]
            name = line.get("description") or "Subscription"
            if kind == "invoice.payment_succeeded":
                link = obj.get("hosted_invoice_url") or obj.get("invoice_pdf")
                variables = {"productName": name, "quantity": line.get("quantity") or 1,
                             "amount": _amount(obj.get("amount_paid"), obj.get("currency")),
                             **({"receiptLink": link} if link else {})}
            else:
                variables = {"productName": name, "amount": _amount(obj.get("amount_due"), obj.get("currency")),
                             **({"invoiceUrl": obj["hosted_invoice_url"]} if obj.get("hosted_invoice_url") else {})}
            await receipts.send(db, bus, project, customer_type, customer_id,
                                "payment_receipt" if kind == "invoice.payment_succeeded" else "payment_failed",
                                variables)
    elif kind not in IGNORED_EVENTS:
        raise StatusError(500, f"Unknown stripe webhook type received: {kind}")


def _amount(cents: Any, currency: Any) -> str:
    """What the mails show: "USD 5.00" from Stripe's smallest-unit amount."""
    if not isinstance(cents, (int, float)) or isinstance(cents, bool):
        return "Amount unavailable"
    amount = f"{cents / 100:.2f}"
    return f"{currency.upper()} {amount}" if isinstance(currency, str) and currency else amount


async def _project(db: AsyncSession, projects, event: dict[str, Any], mock: dict[str, Any]):
    """The project of the connected account the event is for (the account's tenancyId metadata upstream)."""
    account_id = event.get("account")
    if not account_id:
        raise _broken("the event has no account")
    project_id = ((mock.get("accounts.retrieve") or {}).get("metadata") or {}).get("tenancyId")
    if project_id is None:
        row = (await db.execute(select(PaymentAccount).where(PaymentAccount.stripe_account_id == account_id))
               ).scalar_one_or_none()
        project_id = row.project_id if row else None
    project = await projects.view(db, project_id) if project_id else None
    if project is None:
        raise _broken(f"no project has the Stripe account {account_id}")
    return project


async def _customer(db: AsyncSession, project_id: str, stripe_customer_id: str, mock: dict[str, Any]
                    ) -> tuple[str, str]:
    metadata = (mock.get("customers.retrieve") or {}).get("metadata")
    if metadata is not None:
        customer_type, customer_id = str(metadata.get("customerType") or "").lower(), metadata.get("customerId")
        if not customer_id or customer_type not in ("user", "team", "custom"):
            raise _broken("the Stripe customer has no valid customer metadata")
        return customer_type, customer_id
    row = await db.get(PaymentCustomer, stripe_customer_id)
    if row is None or row.project_id != project_id:
        raise _broken(f"unknown Stripe customer {stripe_customer_id}")
    return row.customer_type, row.customer_id


async def _product(db: AsyncSession, project_id: str, metadata: dict[str, Any]) -> dict[str, Any]:
    """The product a Stripe object's metadata names: a product version (today), else the product JSON (`product`,
    or the oldest `offer`)."""
    version_id = metadata.get("productVersionId")
    if version_id:
        row = await db.get(ProductVersion, version_id)
        if row is None or row.project_id != project_id:
            raise _broken(f"unknown product version {version_id}")
        return row.product
    text = metadata.get("product") or metadata.get("offer")
    try:
        raw = json.loads(text) if text else None
    except ValueError:
        raw = None
    if not isinstance(raw, dict):
        raise _broken("the Stripe metadata has no product")
    return catalogue.product_from_config({"payments": {"products": {"p": raw}}}, "p")


async def _record_one_time_purchase(db: AsyncSession, project_id: str, customer_type: str, metadata: dict[str, Any],
                                    product: dict[str, Any], quantity: int, payment_intent_id: str) -> None:
    """Once per payment intent: a retried event updates the purchase instead of granting again."""
    row = (await db.execute(select(OneTimePurchase).where(
        OneTimePurchase.project_id == project_id, OneTimePurchase.stripe_payment_intent_id == payment_intent_id))
           ).scalar_one_or_none()
    if row is None:
        row = OneTimePurchase(id=str(uuid.uuid4()), project_id=project_id, customer_type=customer_type,
                              customer_id=metadata["customerId"], creation_source="PURCHASE_PAGE",
                              stripe_payment_intent_id=payment_intent_id, created_at_millis=now_millis())
        db.add(row)
    row.product_id, row.price_id = metadata.get("productId") or None, metadata.get("priceId") or None
    row.product, row.quantity = product, quantity
    await db.flush()


async def _record_invoice(db: AsyncSession, project_id: str, invoice: dict[str, Any]) -> None:
    """An invoice of one of the project's Stripe subscriptions, once per invoice id: the first one of a
    subscription (billing_reason subscription_create) is its purchase, later ones are renewals."""
    lines = (invoice.get("lines") or {}).get("data") or []
    sub_ids = [((line.get("parent") or {}).get("subscription_item_details") or {}).get("subscription")
               for line in lines]
    sub_ids = [s for s in sub_ids if s]
    if not sub_ids or not invoice.get("id"):
        return
    if len(sub_ids) > 1:
        raise _broken("an invoice with several subscription lines")
    sub = (await db.execute(select(Subscription).where(
        Subscription.project_id == project_id, Subscription.stripe_subscription_id == sub_ids[0]))).scalar_one_or_none()
    existing = await db.get(SubscriptionInvoice, invoice["id"])
    if sub is None or (existing is not None and existing.project_id != project_id):
        return
    row = existing or SubscriptionInvoice(id=invoice["id"], project_id=project_id, created_at_millis=now_millis())
    row.subscription_id = sub.id
    row.is_creation = invoice.get("billing_reason") == "subscription_create"
    row.charged_amount = catalogue.charged_amount(billed_price(sub), sub.quantity)
    if existing is None:
        db.add(row)
    await db.flush()


async def _sync_subscriptions(db: AsyncSession, project_id: str, customer_type: str, customer_id: str,
                              mock: dict[str, Any]) -> None:
    """The customer's subscriptions as Stripe lists them (only when the event carries that list: the emulator's own
    Stripe subscriptions are already its records)."""
    listed = mock.get("subscriptions.list")
    if listed is None:
        return
    now = now_millis()
    for stripe_sub in listed.get("data") or []:
        items = (stripe_sub.get("items") or {}).get("data") or []
        if not items:
            continue
        item = items[0]
        start, end = int(item.get("current_period_start") or 0) * 1000, int(item.get("current_period_end") or 0) * 1000
        if end <= start:  # Stripe fixtures with impossible periods: a month from now, as the platform falls back
            start, end = now, catalogue.add_interval(now, [1, "month"])
        metadata = stripe_sub.get("metadata") or {}
        row = (await db.execute(select(Subscription).where(
            Subscription.project_id == project_id, Subscription.stripe_subscription_id == stripe_sub.get("id")))
               ).scalar_one_or_none()
        if row is None:
            row = Subscription(id=str(uuid.uuid4()), project_id=project_id, customer_type=customer_type,
                               customer_id=customer_id, stripe_subscription_id=stripe_sub.get("id"),
                               creation_source="PURCHASE_PAGE", created_at_millis=now, periods_elapsed=0)
            db.add(row)
        status = stripe_sub.get("status") or "active"
        row.product = await _product(db, project_id, metadata)
        row.product_id = metadata.get("productId") or metadata.get("offerId")
        row.price_id = metadata.get("priceId")
        row.quantity = int(item.get("quantity") or 1)
        row.status = status
        row.current_period_start_millis, row.current_period_end_millis = start, end
        row.cancel_at_period_end = bool(stripe_sub.get("cancel_at_period_end"))
        if stripe_sub.get("canceled_at"):
            row.canceled_at_millis = int(stripe_sub["canceled_at"]) * 1000
        if status in TERMINAL_STATUSES:
            row.ended_at_millis = int(stripe_sub.get("ended_at") or now // 1000) * 1000
        elif status == "canceled" and end <= now:
            row.ended_at_millis = end
    await db.flush()
