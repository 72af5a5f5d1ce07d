"""The simulated Stripe account and billing: payments setup and onboarding state, payment-method configuration
(admin), and a customer's billing status, invoices and saved card (client and up)."""
from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from emulator.domain.payments import stripe_account
from emulator.domain.payments.catalogue import CURRENCIES
from emulator.domain.payments.purchases import (ensure_client_can_access, ensure_customer_exists, find_stripe_customer,
                                                stripe_customer)
from emulator.domain.payments.stripe_account import stripe_id
from emulator.errors import StatusError
from emulator.http import validation as v
from emulator.http.endpoint import ADMIN, Ctx, RouteTable
from emulator.http.routes.payments import origin
from emulator.store.models import Subscription, SubscriptionInvoice

api = RouteTable()

BILLING_CUSTOMER = v.Obj({"customer_type": v.Str(required=True, one_of=("user", "team")),
                          "customer_id": v.Str(required=True)})


# ---- the account (admin) -----------------------------------------------------------------------------------------

@api("/internal/payments/setup", "POST", access=ADMIN)
async def setup(ctx: Ctx):
    """The account is made now if there is none, not onboarded; its onboarding link is the emulator's page that
    completes onboarding (Stripe's hosted onboarding upstream)."""
    account = await stripe_account.setup(ctx.db, ctx.project.id)
    return {"url": f"{origin(ctx)}/emulator/stripe/onboarding/{account.stripe_account_id}"}


@api("/internal/payments/stripe/account-info", "GET", access=ADMIN)
async def account_info(ctx: Ctx):
    return await stripe_account.info(ctx.db, ctx.project.id)


@api("/internal/payments/method-configs", "GET", access=ADMIN)
async def method_configs(ctx: Ctx):
    return await stripe_account.method_configs(ctx.db, ctx.project.id)


@api("/internal/payments/method-configs", "PATCH", access=ADMIN, body=v.Obj({
    "config_id": v.Str(required=True),
    "updates": v.Record(v.Str(one_of=tuple(stripe_account.METHOD_NAMES)), v.Str(one_of=("on", "off")),
                        required=True)}, required=True))
async def update_method_configs(ctx: Ctx):
    await stripe_account.update_methods(ctx.db, ctx.project.id, ctx.body["updates"])
    return {"success": True}


# ---- a customer's billing ----------------------------------------------------------------------------------------

async def check_client(ctx: Ctx, message: str) -> None:
    if ctx.is_client:
        await ensure_client_can_access(ctx.db, ctx.project, ctx.user, ctx.params["customer_type"],
                                       ctx.params["customer_id"], message)


@api("/payments/billing/{customer_type}/{customer_id}", "GET", params=BILLING_CUSTOMER)
async def billing(ctx: Ctx):
    await check_client(ctx, "Clients can only manage their own billing.")
    if await stripe_account.find(ctx.db, ctx.project.id) is None:
        return {"has_customer": False, "default_payment_method": None}
    await ensure_customer_exists(ctx.db, ctx.project, ctx.params["customer_type"], ctx.params["customer_id"])
    ctype, cid = ctx.params["customer_type"], ctx.params["customer_id"]
    customer = await find_stripe_customer(ctx.db, ctx.project.id, ctype, cid)
    return {"has_customer": customer is not None,
            "default_payment_method": customer.default_payment_method if customer else None}


@api("/payments/invoices/{customer_type}/{customer_id}", "GET", params=BILLING_CUSTOMER,
     query=v.Obj({"cursor": v.Str(), "limit": v.Int(min_value=1, max_value=100, default=10)}))
async def invoices(ctx: Ctx):
    """The invoices of the customer's paid subscriptions, newest first; `cursor` is the last invoice id seen."""
    await check_client(ctx, "Clients can only manage their own billing.")
    rows = (await ctx.db.execute(
        select(SubscriptionInvoice).join(Subscription, Subscription.id == SubscriptionInvoice.subscription_id).where(
            SubscriptionInvoice.project_id == ctx.project.id,
            Subscription.customer_type == ctx.params["customer_type"],
            Subscription.customer_id == ctx.params["customer_id"]).order_by(
            SubscriptionInvoice.created_at_millis.desc(), SubscriptionInvoice.id.desc()))).scalars().all()
    if ctx.query.get("cursor"):
        after = next((i for i, row in enumerate(rows) if row.id == ctx.query["cursor"]), None)
        if after is None:
            raise StatusError(400, "Invalid cursor")
        rows = rows[after + 1:]
    page = rows[:ctx.query["limit"]]
    return {"items": [{"created_at_millis": row.created_at_millis, "status": "paid",
                       "amount_total": cents(row.charged_amount), "hosted_invoice_url": None} for row in page],
            "is_paginated": True,
            "pagination": {"next_cursor": page[-1].id if len(page) == ctx.query["limit"] else None}}


def cents(amount: dict) -> int:
    """An invoice's total in the smallest unit of its currency (USD first), as Stripe counts it."""
    currency = "USD" if "USD" in amount else next(iter(amount), None)
    return int(Decimal(amount[currency]) * 10 ** CURRENCIES[currency]) if currency else 0


@api("/payments/payment-method/{customer_type}/{customer_id}/setup-intent", "POST", params=BILLING_CUSTOMER,
     body=v.Obj({}))
async def setup_intent(ctx: Ctx):
    await check_client(ctx, "Clients can only manage their own payment method.")
    account = await stripe_account.require(ctx.db, ctx.project.id)
    await ensure_customer_exists(ctx.db, ctx.project, ctx.params["customer_type"], ctx.params["customer_id"])
    await stripe_customer(ctx.db, ctx.project.id, ctx.params["customer_type"], ctx.params["customer_id"])
    return {"client_secret": f"{stripe_id('seti')}_secret_{stripe_id('x')[2:]}",
            "stripe_account_id": account.stripe_account_id}


@api("/payments/payment-method/{customer_type}/{customer_id}/set-default", "POST", params=BILLING_CUSTOMER,
     body=v.Obj({"setup_intent_id": v.Str(required=True)}, required=True))
async def set_default(ctx: Ctx):
    """There is no Stripe.js to confirm a setup intent against: the intent counts as confirmed with the test card."""
    await check_client(ctx, "Clients can only manage their own payment method.")
    await stripe_account.require(ctx.db, ctx.project.id)
    await ensure_customer_exists(ctx.db, ctx.project, ctx.params["customer_type"], ctx.params["customer_id"])
    customer = await stripe_customer(ctx.db, ctx.project.id, ctx.params["customer_type"], ctx.params["customer_id"])
    customer.default_payment_method = stripe_account.test_card()
    return {"success": True, "default_payment_method": customer.default_payment_method}
