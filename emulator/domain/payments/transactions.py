"""GET /internal/payments/transactions and refunds, built from the stored purchases as the platform shows them."""
from __future__ import annotations

import base64
import json
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from emulator import json_input
from emulator.clock import now_millis
from emulator.domain.payments import catalogue
from emulator.domain.payments.catalogue import charged_amount
from emulator.errors import E, StatusError
from emulator.store.models import (ItemQuantityChange, OneTimePurchase, PaymentRefund, Subscription,
                                   SubscriptionInvoice)

TYPES = ("purchase", "subscription-cancellation", "subscription-renewal", "manual-item-quantity-change",
         "chargeback", "product-change")


def _entry(kind: str, row, **fields) -> dict[str, Any]:
    return {"type": kind, "adjusted_transaction_id": None, "adjusted_entry_index": None,
            "customer_type": row.customer_type, "customer_id": row.customer_id, **fields}


def _money(row, amount: dict[str, str]) -> dict[str, Any]:
    return _entry("money_transfer", row, charged_amount=amount, net_amount={"USD": amount.get("USD", "0")})


def _price(product: dict[str, Any], price_id: str | None) -> dict[str, Any] | None:
    prices = product.get("prices")
    return prices.get(price_id) if isinstance(prices, dict) and price_id else None


def purchase_entries(row: Subscription | OneTimePurchase) -> list[dict[str, Any]]:
    """product_grant, money_transfer (paid purchases only), then one item_quantity_change per included item."""
    is_sub = isinstance(row, Subscription)
    grant = _entry("product_grant", row, product_id=row.product_id, product=catalogue.to_inline(row.product),
                   price_id=row.price_id, quantity=row.quantity,
                   **({"subscription_id": row.id} if is_sub else {"one_time_purchase_id": row.id}))
    entries = [grant]
    amount = charged_amount(_price(row.product, row.price_id), row.quantity)
    trial = is_sub and row.trial_end_millis is not None
    if row.creation_source != "TEST_MODE" and amount and not trial:
        entries.append(_money(row, amount))
    for item_id, item in (row.product.get("includedItems") or {}).items():
        entries.append(_entry("item_quantity_change", row, item_id=item_id,
                              quantity=(item.get("quantity") or 0) * row.quantity))
    return entries


async def _all(db: AsyncSession, model, project_id: str, customer_type: str | None) -> list:
    stmt = select(model).where(model.project_id == project_id)
    if customer_type and hasattr(model, "customer_type"):
        stmt = stmt.where(model.customer_type == customer_type)
    return list((await db.execute(stmt)).scalars())


async def list_transactions(db: AsyncSession, project_id: str, query: dict[str, Any]) -> dict[str, Any]:
    kind, customer_type = query.get("type"), query.get("customer_type")
    try:
        limit = max(1, min(200, int(query.get("limit") or 50)))
    except ValueError:
        limit = 50
    refunds = await _all(db, PaymentRefund, project_id, customer_type)
    adjusted: dict[str, list] = {}
    for refund in refunds:
        for index, entry in enumerate(refund.entries):
            if entry["type"] == "product_revocation":
                adjusted.setdefault(entry["adjusted_transaction_id"], []).append(
                    {"transaction_id": refund.id, "entry_index": index})
    rows: list[tuple[int, str, dict[str, Any]]] = []  # (created, ledger txn id, transaction)

    def add(txn_id: str, source_id: str, api_type: str, created: int, entries: list, test_mode: bool) -> None:
        rows.append((created, txn_id, {"id": source_id, "created_at_millis": created, "effective_at_millis": created,
                                       "type": api_type, "entries": entries,
                                       "adjusted_by": adjusted.get(source_id, []), "test_mode": test_mode}))

    if kind in (None, "purchase"):
        for sub in await _all(db, Subscription, project_id, customer_type):
            add(f"sub-start:{sub.id}", sub.id, "purchase", sub.created_at_millis, purchase_entries(sub),
                sub.creation_source == "TEST_MODE")
        for otp in await _all(db, OneTimePurchase, project_id, customer_type):
            add(f"otp:{otp.id}", otp.id, "purchase", otp.created_at_millis, purchase_entries(otp),
                otp.creation_source == "TEST_MODE")
    if kind in (None, "subscription-renewal"):
        subs = {s.id: s for s in await _all(db, Subscription, project_id, customer_type)}
        for invoice in await _all(db, SubscriptionInvoice, project_id, None):
            sub = subs.get(invoice.subscription_id)
            if sub is not None and not invoice.is_creation and invoice.charged_amount:
                add(f"sub-renewal:{invoice.id}", invoice.id, "subscription-renewal", invoice.created_at_millis,
                    [_money(sub, invoice.charged_amount)], False)
    if kind in (None, "manual-item-quantity-change"):
        for change in await _all(db, ItemQuantityChange, project_id, customer_type):
            add(f"miqc:{change.id}", change.id, "manual-item-quantity-change", change.created_at_millis,
                [_entry("item_quantity_change", change, item_id=change.item_id, quantity=change.quantity)], False)
    rows.sort(key=lambda r: (r[0], r[1]), reverse=True)
    if query.get("cursor"):
        created, txn_id = _decode_cursor(query["cursor"])
        rows = [r for r in rows if (r[0], r[1]) < (created, txn_id)]
    page = rows[:limit]
    next_cursor = _encode_cursor(page[-1][0], page[-1][1]) if len(rows) > limit else None
    return {"transactions": [r[2] for r in page], "next_cursor": next_cursor}


def _encode_cursor(created: int, txn_id: str) -> str:
    raw = json.dumps({"createdAtMillis": created, "txnId": txn_id}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _decode_cursor(cursor: str) -> tuple[int, str]:
    try:
        data = json_input.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        created, txn_id = data["createdAtMillis"], data["txnId"]
        if isinstance(created, bool) or not isinstance(created, int) or created < 0 or not txn_id \
                or not isinstance(txn_id, str):
            raise ValueError
        return created, txn_id
    except (ValueError, KeyError, TypeError):
        raise StatusError(400, "Invalid cursor") from None


# ---- refunds ----------------------------------------------------------------------------------------------------------

def _cents(amount: str) -> int:
    return int(Decimal(amount) * 100)


def _check_refund_entries(entries: list[dict[str, Any]], refund_entries: list[dict[str, Any]]) -> None:
    seen = set()
    for refund in refund_entries:
        if refund["quantity"] < 0:
            raise E.schema("Refund quantity cannot be negative.")
        if refund["entry_index"] in seen:
            raise E.schema("Refund entries cannot contain duplicate entry indexes.")
        seen.add(refund["entry_index"])
        if not 0 <= refund["entry_index"] < len(entries):
            raise E.schema("Refund entry index is invalid.")
        entry = entries[refund["entry_index"]]
        if entry["type"] != "product_grant":
            raise E.schema("Refund entries must reference product grant entries.")
        if refund["quantity"] > entry["quantity"]:
            raise E.schema("Refund quantity cannot exceed purchased quantity.")


async def refund(db: AsyncSession, project_id: str, body: dict[str, Any]) -> None:
    """Refund a paid (simulated Stripe) purchase. Test-mode one-time purchases are refused, and subscriptions
    without a paid first invoice (test mode, server grants, free trials) have nothing to refund, as upstream."""
    kind, source_id, refund_entries = body["type"], body["id"], body["refund_entries"]
    now = now_millis()
    if kind == "subscription":
        row = await db.get(Subscription, source_id)
        if row is None or row.project_id != project_id:
            raise E.subscription_invoice_not_found(source_id)
        if row.refunded_at_millis is not None:
            raise E.subscription_already_refunded(source_id)
        invoice = (await db.execute(select(SubscriptionInvoice).where(
            SubscriptionInvoice.subscription_id == row.id, SubscriptionInvoice.is_creation.is_(True)))).scalar()
        if invoice is None:
            raise E.subscription_invoice_not_found(source_id)
    else:
        row = await db.get(OneTimePurchase, source_id)
        if row is None or row.project_id != project_id:
            raise E.one_time_purchase_not_found(source_id)
        if row.refunded_at_millis is not None:
            raise E.one_time_purchase_already_refunded(source_id)
        if row.creation_source == "TEST_MODE":
            raise E.test_mode_purchase_non_refundable()
        if row.stripe_payment_intent_id is None:
            raise E.one_time_purchase_not_found(source_id)
    entries = purchase_entries(row)
    _check_refund_entries(entries, refund_entries)
    usd = (_price(row.product, row.price_id) or {}).get("USD")
    if not isinstance(usd, str):
        raise E.schema("Refund amounts can only be specified for USD-priced purchases.")
    cents = sum(_cents(r["amount_usd"]) for r in refund_entries)
    if cents > _cents(usd) * row.quantity:
        raise E.schema("Refund amount cannot exceed the charged amount.")
    revoked = sum(r["quantity"] for r in refund_entries)
    row.refunded_at_millis = now
    if kind == "subscription" and revoked > 0 and row.quantity - revoked <= 0:
        # Stripe is told to cancel at the period end: the subscription runs out its paid period.
        row.status, row.cancel_at_period_end, row.canceled_at_millis = "canceled", True, now
        row.ended_at_millis = row.current_period_end_millis
    amount = f"{Decimal(cents) / 100:.2f}".rstrip("0").rstrip(".")
    refund_entries_out = [
        {"type": "product_revocation", "adjusted_transaction_id": row.id, "adjusted_entry_index": r["entry_index"],
         "quantity": r["quantity"]} for r in refund_entries]
    refund_entries_out.append(_money(row, {"USD": f"-{amount}" if amount != "0" else "0"}))
    db.add(PaymentRefund(id=f"{row.id}:refund", project_id=project_id, source_kind=kind, source_id=row.id,
                         customer_type=row.customer_type, customer_id=row.customer_id, entries=refund_entries_out,
                         revoked_quantity=revoked, created_at_millis=now))
