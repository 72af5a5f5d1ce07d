"""Purchase codes and grants: create-purchase-url, validate-code, the test-mode bypass, server grants, and the
contract the local checkout page uses (describe_code, complete_purchase, report_failed_payment).

Stripe is simulated: the project's account (`acct_…`, see stripe_account) must exist; customers get a `cus_…`; a paid
checkout records a payment intent (`pi_…`) or a subscription (`sub_…`) with its invoices.
"""
from __future__ import annotations

import re
import uuid
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from emulator.clock import now_millis
from emulator.domain.teams import permissions
from emulator.domain.auth.codes import CODE_LENGTH
from emulator.domain.payments import catalogue, ledger, stripe_account
from emulator.domain.payments.catalogue import add_interval, charged_amount
from emulator.domain.payments.stripe_account import stripe_id
from emulator.domain.projects.projects import ProjectView, is_trusted_url
from emulator.domain.auth.tokens import random_token
from emulator.errors import E, StatusError
from emulator.store.models import (OneTimePurchase, PaymentCustomer, ProductVersion, Project,
                                   Subscription, SubscriptionInvoice, Team, User, VerificationCode)

PURCHASE_URL = "PURCHASE_URL"
CODE_LIFETIME_MILLIS = 24 * 3600 * 1000
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)


# ---- customers ---------------------------------------------------------------------------------------------------------

async def find_stripe_customer(db: AsyncSession, project_id: str, customer_type: str,
                               customer_id: str) -> PaymentCustomer | None:
    return (await db.execute(select(PaymentCustomer).where(
        PaymentCustomer.project_id == project_id, PaymentCustomer.customer_type == customer_type,
        PaymentCustomer.customer_id == customer_id))).scalar_one_or_none()


async def stripe_customer(db: AsyncSession, project_id: str, customer_type: str, customer_id: str) -> PaymentCustomer:
    """The customer's simulated Stripe customer, made on first use."""
    row = await find_stripe_customer(db, project_id, customer_type, customer_id)
    if row is None:
        row = PaymentCustomer(id=stripe_id("cus"), project_id=project_id, customer_type=customer_type,
                              customer_id=customer_id)
        db.add(row)
        await db.flush()
    return row


async def ensure_customer_exists(db: AsyncSession, project: ProjectView, customer_type: str, customer_id: str) -> None:
    """Users and teams must exist in the project; any id names a custom customer."""
    if customer_type == "user":
        user = await db.get(User, customer_id) if UUID_RE.match(customer_id) else None
        if user is None or user.project_id != project.id:
            raise E.user_not_found()
    elif customer_type == "team":
        team = await db.get(Team, customer_id) if UUID_RE.match(customer_id) else None
        if team is None or team.project_id != project.id:
            raise E.team_not_found(customer_id)


async def ensure_client_can_access(db: AsyncSession, project: ProjectView, user: User | None, customer_type: str,
                                   customer_id: str, forbidden_message: str) -> None:
    """Client access reaches its own user, and teams where the user is team_admin; never custom customers."""
    if user is None:
        raise E.user_authentication_required()
    if customer_type == "custom" or (customer_type == "user" and customer_id != user.id):
        raise StatusError(403, forbidden_message)
    if customer_type == "team":
        await permissions.require_team_permission(db, project, customer_id, user.id, "team_admin")


def resolve_product(project: ProjectView, access_type: str, product_id: str | None,
                    inline: dict[str, Any] | None) -> dict[str, Any]:
    # Plain-text answers without a code: their wording is what a client can tell them apart by, so it is the
    # platform's.
    if product_id and inline:
        raise StatusError(400, "Cannot specify both product_id and product_inline!")
    if inline and access_type == "client":
        raise StatusError(400, "Cannot specify product_inline when calling from client! Please call with a server API "
                               "key, or use the product_id parameter.")
    if not product_id and not inline:
        raise StatusError(400, "Must specify either product_id or product_inline!")
    if product_id:
        product = catalogue.product_from_config(project.config, product_id)
        if product is None:
            item_exists = product_id in (project.config["payments"].get("items") or {})
            raise E.product_does_not_exist(product_id, "item_exists" if item_exists else None)
        if product["serverOnly"] and access_type == "client":
            raise E.product_does_not_exist(product_id, "server_only")
        return product
    return catalogue.product_from_inline(inline)


# ---- purchase codes --------------------------------------------------------------------------------------------------

def split_full_code(full_code: str) -> tuple[str, str] | None:
    """"<project id>_<code>" -> (project id, code); None when malformed."""
    parts = full_code.split("_") if isinstance(full_code, str) else []
    if len(parts) != 2 or not parts[0] or len(parts[1]) != CODE_LENGTH:
        return None
    return parts[0], parts[1]


async def create_purchase_url(db: AsyncSession, project: ProjectView, access_type: str, user: User | None,
                              body: dict[str, Any], base_url: str) -> str:
    """POST /payments/purchases/create-purchase-url, checks in the platform's order."""
    payments = project.config["payments"]
    if payments.get("blockNewPurchases"):
        raise E.new_purchases_blocked()
    customer_type, customer_id, product_id = body["customer_type"], body["customer_id"], body.get("product_id")
    if access_type == "client":
        await ensure_client_can_access(db, project, user, customer_type, customer_id, "Clients can only create "
                                       "purchase URLs for their own user or teams they have admin access to.")
    account = await stripe_account.require(db, project.id)
    product = resolve_product(project, access_type, product_id, body.get("product_inline"))
    if customer_type != product["customerType"]:
        raise E.product_customer_type_does_not_match(product_id, customer_id, product["customerType"], customer_type)
    if product_id and product.get("stackable") is not True:
        customer = await ledger.load(db, project.id, customer_type, customer_id)
        if ledger.owns(ledger.owned_products(customer), product_id):
            raise E.product_already_granted(product_id, customer_id)
    stripe_customer_row = await stripe_customer(db, project.id, customer_type, customer_id)
    code = random_token(CODE_LENGTH)
    now = now_millis()
    db.add(VerificationCode(id=str(uuid.uuid4()), project_id=project.id, type=PURCHASE_URL, code=code, data={
        "tenancyId": project.id, "customerId": customer_id, "productId": product_id, "product": product,
        "stripeCustomerId": stripe_customer_row.id, "stripeAccountId": account.stripe_account_id,
        "chargesEnabled": await stripe_account.charges_enabled(db, project.id),
    }, created_at_millis=now, expires_at_millis=now + CODE_LIFETIME_MILLIS, attempt_count=0))
    url = f"{base_url}/purchase/{project.id}_{code}"
    return_url = body.get("return_url")
    if return_url:
        if not is_trusted_url(project.config, return_url):
            raise E.redirect_url_not_whitelisted()
        url += "?" + urlencode({"return_url": return_url})
    return url


async def load_code(db: AsyncSession, full_code: str) -> VerificationCode:
    """The live purchase code; anything else (malformed, unknown, used, expired) is VERIFICATION_CODE_NOT_FOUND."""
    parts = split_full_code(full_code)
    if parts is None:
        raise E.verification_code_not_found()
    row = (await db.execute(select(VerificationCode).where(
        VerificationCode.project_id == parts[0], VerificationCode.type == PURCHASE_URL,
        VerificationCode.code == parts[1]))).scalar_one_or_none()
    if row is None or row.used_at_millis is not None or row.expires_at_millis <= now_millis():
        raise E.verification_code_not_found()
    return row


async def revoke_code(db: AsyncSession, row: VerificationCode) -> None:
    await db.execute(delete(VerificationCode).where(VerificationCode.id == row.id))


async def describe_code(db: AsyncSession, project: ProjectView, full_code: str, return_url: str | None) -> dict:
    """The body of POST /payments/purchases/validate-code."""
    row = await load_code(db, full_code)
    if return_url and not is_trusted_url(project.config, return_url):
        raise E.redirect_url_not_whitelisted()
    data = row.data
    product, product_id = data["product"], data.get("productId")
    customer = await ledger.load(db, project.id, product["customerType"], data["customerId"])
    owned = ledger.owned_products(customer)
    already = bool(product_id and ledger.owns(owned, product_id) and product.get("stackable") is not True)
    conflicting = []
    line_id = product.get("productLineId")
    prices = product.get("prices")
    if line_id in (project.config["payments"].get("productLines") or {}) and prices != "include-by-default" \
            and any(p.get("interval") for p in (prices or {}).values()):
        bases = set(product.get("isAddOnTo") or {})
        conflicting = [{"product_id": pid, "display_name": p["product"].get("displayName") or pid}
                       for pid, p in sorted(owned.items())
                       if p["productLineId"] == line_id and p["quantity"] > 0 and pid not in bases]
    logo = (await db.get(Project, project.id))
    return {
        "product": catalogue.to_inline(product),
        "stripe_account_id": data["stripeAccountId"],
        "project_id": project.id,
        "project_logo_url": logo.logo_url if logo else None,
        "already_bought_non_stackable": already,
        "conflicting_products": conflicting,
        "test_mode": project.config["payments"].get("testMode") is True,
        "charges_enabled": data["chargesEnabled"],
    }


# ---- granting ---------------------------------------------------------------------------------------------------------

def _select_price(product: dict[str, Any], price_id: str | None) -> dict[str, Any] | None:
    prices = product.get("prices")
    if prices == "include-by-default" or not prices:
        return None
    if not price_id:
        return next(iter(prices.values()))
    if price_id not in prices:
        raise StatusError(400, "Price not found on product associated with this purchase code")
    return prices[price_id]


async def validate_purchase(db: AsyncSession, project: ProjectView, customer_type: str, customer_id: str,
                            product: dict[str, Any], product_id: str | None, price_id: str | None, quantity: int
                            ) -> tuple[dict[str, Any] | None, list[Subscription]]:
    """The platform's purchase checks, in its order: the chosen price (or the first one), quantity 1 unless
    stackable, not already owned, an add-on's base owned, and no one-time purchase in the same product line.
    Returns the price and the active subscriptions in the line that the purchase replaces."""
    price = _select_price(product, price_id)
    if quantity != 1 and product.get("stackable") is not True:
        raise StatusError(400, "This product is not stackable; quantity must be 1")
    customer = await ledger.load(db, project.id, customer_type, customer_id)
    owned = ledger.owned_products(customer)
    if product_id and product.get("stackable") is not True and ledger.owns(owned, product_id):
        raise E.product_already_granted(product_id, customer_id)
    bases = list(product.get("isAddOnTo") or {})
    if bases and not any(ledger.owns(owned, b) for b in bases):
        raise StatusError(400, "This product is an add-on to a product that the customer does not have")
    line_id = product.get("productLineId")
    conflicting: list[Subscription] = []
    if line_id and any(p["productLineId"] == line_id and p["quantity"] > 0 and pid not in bases
                       for pid, p in owned.items()):
        conflicting = [s for s in ledger.active_subscriptions(customer)
                       if s.product.get("productLineId") == line_id and (s.product_id or "") not in bases]
        if not conflicting:
            raise StatusError(400, "Customer already has a one-time purchase in this product line")
    return price, conflicting


def end_now(sub: Subscription, now: int) -> None:
    """A subscription replaced by another purchase in its line ends at once."""
    sub.status, sub.cancel_at_period_end, sub.canceled_at_millis, sub.ended_at_millis = "canceled", True, now, now


async def grant_product(db: AsyncSession, project: ProjectView, customer_type: str, customer_id: str,
                        product: dict[str, Any], product_id: str | None, price_id: str | None, quantity: int,
                        source: str, *, paid: bool = False) -> OneTimePurchase | Subscription | None:
    """Validate, end the conflicting subscription, then record a one-time purchase or a subscription (none for a
    product without prices). `paid` purchases are the simulated Stripe ones: they get Stripe ids, a free trial
    when the price has one, and an invoice for the first charge."""
    price, conflicting = await validate_purchase(db, project, customer_type, customer_id, product, product_id,
                                                 price_id, quantity)
    now = now_millis()
    if conflicting:
        end_now(conflicting[0], now)
    if price is None:
        return None
    if price_id is None and source != "API_GRANT":
        price_id = next(iter(product["prices"]))
    common = dict(id=str(uuid.uuid4()), project_id=project.id, customer_type=customer_type, customer_id=customer_id,
                  product_id=product_id, product=product, price_id=price_id, quantity=quantity,
                  creation_source=source, created_at_millis=now)
    if not price.get("interval"):
        row = OneTimePurchase(**common, stripe_payment_intent_id=stripe_id("pi") if paid else None)
        db.add(row)
        await db.flush()
        return row
    trial = (price.get("freeTrial") or product.get("freeTrial")) if paid else None
    period_end = add_interval(now, trial) if trial else add_interval(now, price["interval"])
    row = Subscription(**common, status="trialing" if trial else "active",
                       stripe_subscription_id=stripe_id("sub") if paid else None,
                       current_period_start_millis=now, current_period_end_millis=period_end, periods_elapsed=0,
                       trial_end_millis=period_end if trial else None, cancel_at_period_end=False)
    db.add(row)
    if paid and not trial:
        db.add(SubscriptionInvoice(id=stripe_id("in"), project_id=project.id, subscription_id=row.id,
                                   is_creation=True, charged_amount=charged_amount(price, quantity),
                                   created_at_millis=now))
    await db.flush()
    return row


async def product_version(db: AsyncSession, project_id: str, product_id: str | None, product: dict[str, Any]) -> str:
    """The snapshot a Stripe purchase refers to (the platform's ProductVersion)."""
    row = ProductVersion(id=str(uuid.uuid4()), project_id=project_id, product_id=product_id, product=product,
                         created_at_millis=now_millis())
    db.add(row)
    await db.flush()
    return row.id


async def purchase_session(db: AsyncSession, project: ProjectView, full_code: str, price_id: str,
                           quantity: int) -> str:
    """POST /payments/purchases/purchase-session: the real-Stripe path. The emulator checks the purchase, ends a
    conflicting subscription the way the platform does before it calls Stripe (one not billed through Stripe, or any
    when the new price is one-time), revokes the code and answers the client secret the platform's own local
    emulator (on stripe-mock) answers. Nothing is granted: there is no Stripe.js to confirm a payment against; the
    local checkout page is where purchases complete."""
    row = await load_code(db, full_code)
    if project.config["payments"].get("blockNewPurchases"):
        raise E.new_purchases_blocked()
    data = row.data
    price, conflicting = await validate_purchase(db, project, data["product"]["customerType"], data["customerId"],
                                                 data["product"], data.get("productId"), price_id, quantity)
    await product_version(db, project.id, data.get("productId"), data["product"])
    interval = bool(price and price.get("interval"))
    if conflicting and (not conflicting[0].stripe_subscription_id or not interval):
        end_now(conflicting[0], now_millis())
    await revoke_code(db, row)
    return stripe_account.SUBSCRIPTION_CLIENT_SECRET if interval else stripe_account.PAYMENT_INTENT_CLIENT_SECRET


async def complete_purchase(db: AsyncSession, bus, project: ProjectView, full_code: str, price_id: str | None,
                            quantity: int, *, paid: bool) -> None:
    """Grant what a purchase code is for and revoke the code: the test-mode bypass (`paid=False`, exactly
    /internal/payments/test-mode-purchase-session) or a card payment on the local checkout page (`paid=True`:
    recorded as a Stripe purchase, with a payment_receipt email to the customer)."""
    from emulator.domain.payments import receipts

    row = await load_code(db, full_code)
    payments = project.config["payments"]
    if payments.get("blockNewPurchases"):
        raise E.new_purchases_blocked()
    if not paid and payments.get("testMode") is not True:
        raise StatusError(403, "Test mode is not enabled for this project")
    data = row.data
    product = data["product"]
    if paid:
        await product_version(db, project.id, data.get("productId"), product)
    granted = await grant_product(db, project, product["customerType"], data["customerId"], product,
                                  data.get("productId"), price_id, quantity,
                                  "PURCHASE_PAGE" if paid else "TEST_MODE", paid=paid)
    await revoke_code(db, row)
    if paid and granted is not None:
        if isinstance(granted, Subscription):
            customer_row = await stripe_customer(db, project.id, granted.customer_type, granted.customer_id)
            customer_row.default_payment_method = stripe_account.test_card()
        price = _select_price(product, granted.price_id)
        amount = {} if getattr(granted, "trial_end_millis", None) else charged_amount(price, quantity)
        await receipts.send(db, bus, project, granted.customer_type, granted.customer_id, "payment_receipt", {
            "productName": product.get("displayName") or "Purchase", "quantity": quantity,
            "amount": catalogue.format_amount(amount)})


async def report_failed_payment(db: AsyncSession, bus, project: ProjectView, full_code: str, price_id: str | None,
                                quantity: int, *, reason: str) -> None:
    """A declined card on the checkout page: the payment_failed email; the code stays usable."""
    from emulator.domain.payments import receipts

    row = await load_code(db, full_code)
    product = row.data["product"]
    price = _select_price(product, price_id)
    await receipts.send(db, bus, project, product["customerType"], row.data["customerId"], "payment_failed", {
        "productName": product.get("displayName") or "Purchase",
        "amount": catalogue.format_amount(charged_amount(price, quantity)), "failureReason": reason})
