"""Payments: purchase URLs and codes, the test-mode bypass, products and items of a customer, transactions and
refunds (admin), and the Stripe webhook endpoint (events signed with the webhook secret)."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone

from emulator.clock import now_millis
from emulator.domain.teams import permissions
from emulator.domain.payments import catalogue, ledger, legacy_names, purchases, subscriptions, transactions
from emulator.domain.payments import stripe_webhooks as stripe_webhooks_mod
from emulator.domain.payments.purchases import ensure_client_can_access, ensure_customer_exists
from emulator.domain.projects.projects import is_trusted_url
from emulator.errors import E, StatusError
from emulator.http import validation as v
from emulator.http.endpoint import ADMIN, SERVER, Ctx, RouteTable
from emulator.store.models import ItemQuantityChange, Subscription

api = RouteTable()

CUSTOMER_TYPE = v.Str(required=True, one_of=("user", "team", "custom"))
CUSTOMER = v.Obj({"customer_type": CUSTOMER_TYPE, "customer_id": v.Str(required=True)})


class InlineProduct(v.Schema):
    """`product_inline`: checked like a catalogue product, with snake_case keys."""
    type_name = "object"

    def cast(self, value):
        return value if isinstance(value, dict) else v.MISSING

    def validate(self, value, path, errors):
        out = super().validate(value, path, errors)
        if isinstance(out, dict):
            problems = catalogue.inline_problems(out, path)
            errors.extend(problems)
            if not problems:
                out = {**out, "server_only": out.get("server_only", True), "stackable": out.get("stackable", False)}
        return out


def origin(ctx: Ctx) -> str:
    return f"{ctx.request.url.scheme}://{ctx.request.url.netloc}"


def dashboard_url(ctx: Ctx) -> str:
    """Where purchase URLs point: --dashboard-url / HEXCLAVE_DASHBOARD_URL if set, else this emulator."""
    return (ctx.state.settings.dashboard_url or origin(ctx)).rstrip("/")


async def project_of_code(ctx: Ctx, full_code: str):
    """Routes without project keys find the project through the code's prefix ("<project id>_<code>")."""
    parts = full_code.split("_")
    project = await ctx.state.projects.view(ctx.db, parts[0]) if len(parts) == 2 and parts[0] else None
    if project is None:
        raise E.verification_code_not_found()
    return project


# ---- purchase URLs and codes ------------------------------------------------------------------------------------------

@api("/payments/purchases/create-purchase-url", "POST", body=v.Obj({
    "customer_type": CUSTOMER_TYPE, "customer_id": v.Str(required=True), "product_id": v.Str(),
    "product_inline": InlineProduct(), "return_url": v.Url(),
    "offer_id": v.Str(), "offer_inline": InlineProduct()}, required=True))  # the legacy names of the two
async def create_purchase_url(ctx: Ctx):
    url = await purchases.create_purchase_url(ctx.db, ctx.project, ctx.auth.access_type, ctx.user,
                                              legacy_names.rename_body(ctx.body), dashboard_url(ctx))
    return {"url": url}


CODE_BODY = v.Obj({"full_code": v.Str(required=True), "return_url": v.Url()}, required=True)


@api("/payments/purchases/validate-code", "POST", access=None, body=CODE_BODY)
async def validate_code(ctx: Ctx):
    project = await project_of_code(ctx, ctx.body["full_code"])
    return await purchases.describe_code(ctx.db, project, ctx.body["full_code"], ctx.body.get("return_url"))


@api("/payments/purchases/validate-code", "GET", access=None, query=v.Obj({
    "full_code": v.Str(required=True), "return_url": v.Url()}))
async def validate_code_get(ctx: Ctx):
    project = await ctx.state.projects.view(ctx.db, ctx.query["full_code"].split("_")[0] or "-")
    if project is None:
        raise E.verification_code_not_found()
    if ctx.query.get("return_url") and not is_trusted_url(project.config, ctx.query["return_url"]):
        raise E.redirect_url_not_whitelisted()
    return {"valid": True}


SESSION_BODY = v.Obj({"full_code": v.Str(required=True), "price_id": v.Str(required=True),
                      "quantity": v.Int(min_value=1, default=1)}, required=True)


@api("/payments/purchases/purchase-session", "POST", access=None, body=SESSION_BODY)
async def purchase_session(ctx: Ctx):
    project = await project_of_code(ctx, ctx.body["full_code"])
    secret = await purchases.purchase_session(ctx.db, project, ctx.body["full_code"], ctx.body["price_id"],
                                              ctx.body["quantity"])
    return {"client_secret": secret}


@api("/internal/payments/test-mode-purchase-session", "POST", access=None, body=SESSION_BODY)
async def test_mode_purchase_session(ctx: Ctx):
    project = await project_of_code(ctx, ctx.body["full_code"])
    await purchases.complete_purchase(ctx.db, ctx.state.mail, project, ctx.body["full_code"], ctx.body["price_id"],
                                      ctx.body["quantity"], paid=False)
    return {"success": True}


@api("/integrations/stripe/webhooks", "POST", access=None)
async def stripe_webhooks(ctx: Ctx):
    signature = ctx.request.headers.get("stripe-signature")
    if signature is None:
        raise E.schema(f"Request validation failed on POST {ctx.request.url.path}:\n"
                       "  - headers.stripe-signature must be defined")
    event = stripe_webhooks_mod.verify(await ctx.request.body(), signature, ctx.state.settings.stripe_webhook_secret)
    await stripe_webhooks_mod.handle(ctx.db, ctx.state.mail, ctx.state.projects, event)
    return {"received": True}


# ---- a customer's products ----------------------------------------------------------------------------------------------

def switch_options(ctx: Ctx, customer_type: str) -> dict[str, list]:
    """Per product line: the subscription plans a customer can switch to (interval prices only, no add-ons)."""
    options: dict[str, list] = {}
    for product_id in ctx.project.config["payments"].get("products") or {}:
        product = catalogue.product_from_config(ctx.project.config, product_id)
        if product["customerType"] != customer_type or (ctx.is_client and product["serverOnly"]):
            continue
        if not product.get("productLineId") or product["prices"] == "include-by-default" or product["isAddOnTo"]:
            continue
        inline = catalogue.to_inline(product)
        prices = {k: p for k, p in inline["prices"].items() if p.get("interval")}
        if prices:
            options.setdefault(product["productLineId"], []).append(
                {"product_id": product_id, "product": {**inline, "prices": prices}})
    return options


@api("/payments/products/{customer_type}/{customer_id}", "GET", params=CUSTOMER,
     query=v.Obj({"cursor": v.Str(), "limit": v.Str()}))
async def list_products(ctx: Ctx):
    ctype, cid = ctx.params["customer_type"], ctx.params["customer_id"]
    if ctx.is_client:
        await ensure_client_can_access(ctx.db, ctx.project, ctx.user, ctype, cid,
                                       "Clients can only access their own user or team products.")
    await ensure_customer_exists(ctx.db, ctx.project, ctype, cid)
    customer = await ledger.load(ctx.db, ctx.project.id, ctype, cid)
    owned = ledger.owned_products(customer)
    active = {(s.product_id or ledger.NULL_PRODUCT): s for s in ledger.active_subscriptions(customer)}
    options = switch_options(ctx, ctype)
    entries = []
    for product_id, p in sorted(owned.items()):
        if p["quantity"] <= 0 or (ctx.is_client and p["product"].get("serverOnly")):
            continue
        sub = active.get(product_id)
        line = p["productLineId"]
        entries.append((product_id, {
            "id": None if product_id == ledger.NULL_PRODUCT else product_id,
            "quantity": p["quantity"],
            "product": catalogue.to_inline(p["product"]),
            "type": "subscription" if sub else "one_time",
            "subscription": {
                "subscription_id": sub.id,
                "current_period_end": iso(sub.current_period_end_millis),
                "cancel_at_period_end": sub.cancel_at_period_end,
                "is_cancelable": True,
            } if sub else None,
            **({"switch_options": [o for o in options.get(line, []) if o["product_id"] != product_id]}
               if line else {}),
        }))
    start = 0
    if ctx.query.get("cursor"):
        start = next((i for i, (pid, _) in enumerate(entries) if pid == ctx.query["cursor"]), -1)
        if start == -1:
            raise StatusError(400, "Invalid cursor")
    limit = ctx.query.get("limit")
    try:
        limit = 10 if limit is None else int(limit)
    except ValueError:
        limit = -1
    if not 1 <= limit <= 100:
        raise E.schema("limit must be a whole number from 1 to 100")
    page = entries[start:start + limit]
    next_cursor = entries[start + limit][0] if start + limit < len(entries) else None
    return {"items": [e for _, e in page], "is_paginated": True, "pagination": {"next_cursor": next_cursor}}


def iso(millis: int) -> str:
    return datetime.fromtimestamp(millis // 1000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{millis % 1000:03d}Z"


@api("/payments/products/{customer_type}/{customer_id}", "POST", access=SERVER, params=CUSTOMER, body=v.Obj({
    "product_id": v.Str(), "product_inline": InlineProduct(), "quantity": v.Int(min_value=1, default=1)},
    required=True))
async def grant(ctx: Ctx):
    ctype, cid = ctx.params["customer_type"], ctx.params["customer_id"]
    await ensure_customer_exists(ctx.db, ctx.project, ctype, cid)
    product_id = ctx.body.get("product_id")
    product = purchases.resolve_product(ctx.project, ctx.auth.access_type, product_id, ctx.body.get("product_inline"))
    if ctype != product["customerType"]:
        raise E.product_customer_type_does_not_match(product_id, cid, product["customerType"], ctype)
    row = await purchases.grant_product(ctx.db, ctx.project, ctype, cid, product, product_id, None,
                                        ctx.body["quantity"], "API_GRANT")
    out = {"success": True}
    if isinstance(row, Subscription):
        out["subscription_id"] = row.id
    return out


@api("/payments/products/{customer_type}/{customer_id}/{product_id}", "DELETE", params=v.Obj({
    "customer_type": CUSTOMER_TYPE, "customer_id": v.Str(required=True), "product_id": v.Str(required=True)}),
    query=v.Obj({"subscription_id": v.Str()}))
async def cancel(ctx: Ctx):
    ctype, cid, product_id = ctx.params["customer_type"], ctx.params["customer_id"], ctx.params["product_id"]
    if ctx.is_client:
        if ctx.user is None:
            raise E.user_authentication_required()
        if ctype == "user" and cid != ctx.user.id:
            raise StatusError(403, "Clients can only cancel their own subscriptions.")
        if ctype == "team":
            await permissions.require_team_permission(ctx.db, ctx.project, cid, ctx.user.id, "team_admin")
        if ctype == "custom":
            raise StatusError(403, "Clients can only cancel user or team subscriptions they control.")
    await ensure_customer_exists(ctx.db, ctx.project, ctype, cid)
    customer = await ledger.load(ctx.db, ctx.project.id, ctype, cid)
    active = ledger.active_subscriptions(customer)
    if ctx.query.get("subscription_id"):
        chosen = [s for s in active if s.id == ctx.query["subscription_id"]]
        if not chosen:
            raise StatusError(400, "No active subscription found with this ID for the given customer.")
    else:
        product = purchases.resolve_product(ctx.project, ctx.auth.access_type, product_id, None)
        if ctype != product["customerType"]:
            raise E.product_customer_type_does_not_match(product_id, cid, product["customerType"], ctype)
        if not ledger.owns(ledger.owned_products(customer), product_id):
            raise StatusError(400, "Customer does not have this product.")
        chosen = [s for s in active if s.product_id == product_id]
        if not chosen:
            raise StatusError(400, "This product is a one time purchase and cannot be canceled.")
    now = now_millis()
    for sub in chosen:
        subscriptions.cancel(sub, now)
    return {"success": True}


@api("/payments/products/{customer_type}/{customer_id}/switch", "POST", params=v.Obj({
    "customer_type": v.Str(required=True, one_of=("user", "team")), "customer_id": v.Str(required=True)}),
    body=v.Obj({"from_product_id": v.Str(required=True), "to_product_id": v.Str(required=True),
                "price_id": v.Str(), "quantity": v.Int(min_value=1)}, required=True))
async def switch(ctx: Ctx):
    ctype, cid = ctx.params["customer_type"], ctx.params["customer_id"]
    await subscriptions.switch(ctx.db, ctx.project, ctx.is_client, ctx.user, ctype, cid, ctx.body)
    return {"success": True}


# ---- items ------------------------------------------------------------------------------------------------------------

ITEM_PARAMS = v.Obj({"customer_type": CUSTOMER_TYPE, "customer_id": v.Str(required=True),
                     "item_id": v.Str(required=True)})


def item_config(ctx: Ctx) -> dict:
    item_id, ctype, cid = ctx.params["item_id"], ctx.params["customer_type"], ctx.params["customer_id"]
    item = (ctx.project.config["payments"].get("items") or {}).get(item_id)
    if not isinstance(item, dict):
        raise E.item_not_found(item_id)
    item_type = item.get("customerType") or "user"
    if ctype != item_type:
        raise E.item_customer_type_does_not_match(item_id, cid, item_type, ctype)
    return item


async def quantity_of(ctx: Ctx) -> int | float:
    customer = await ledger.load(ctx.db, ctx.project.id, ctx.params["customer_type"], ctx.params["customer_id"])
    return ledger.item_quantities(customer).get(ctx.params["item_id"], 0)


@api("/payments/items/{customer_type}/{customer_id}/{item_id}", "GET", params=ITEM_PARAMS)
async def get_item(ctx: Ctx):
    ctype, cid = ctx.params["customer_type"], ctx.params["customer_id"]
    if ctx.is_client:
        await ensure_client_can_access(ctx.db, ctx.project, ctx.user, ctype, cid,
                                       "Clients can only access their own user or team items.")
    item = item_config(ctx)
    await ensure_customer_exists(ctx.db, ctx.project, ctype, cid)
    return {"id": ctx.params["item_id"], "display_name": item.get("displayName") or ctx.params["item_id"],
            "quantity": await quantity_of(ctx)}


def _iso_millis(value: str, path: str) -> str | None:
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return f"{path} must be a date in ISO 8601 format"
    return None


@api("/payments/items/{customer_type}/{customer_id}/{item_id}/update-quantity", "POST", access=SERVER,
     params=ITEM_PARAMS, query=v.Obj({"allow_negative": v.Str(required=True, one_of=("true", "false"))}),
     body=v.Obj({"delta": v.Int(required=True), "expires_at": v.Str(test=_iso_millis), "description": v.Str()},
                required=True))
async def update_quantity(ctx: Ctx):
    ctype, cid, item_id = ctx.params["customer_type"], ctx.params["customer_id"], ctx.params["item_id"]
    item_config(ctx)
    await ensure_customer_exists(ctx.db, ctx.project, ctype, cid)
    delta = ctx.body["delta"]
    if ctx.query["allow_negative"] != "true" and await quantity_of(ctx) + delta < 0:
        raise E.item_quantity_insufficient_amount(item_id, cid, delta)
    expires = ctx.body.get("expires_at")
    expires_millis = None
    if expires:
        moment = datetime.fromisoformat(expires.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        expires_millis = int(moment.timestamp() * 1000)
    ctx.db.add(ItemQuantityChange(id=str(uuid.uuid4()), project_id=ctx.project.id, customer_type=ctype,
                                  customer_id=cid, item_id=item_id, quantity=delta, expires_at_millis=expires_millis,
                                  description=ctx.body.get("description"), created_at_millis=now_millis()))
    return {}


# ---- transactions (admin) ------------------------------------------------------------------------------------------------

@api("/internal/payments/transactions", "GET", access=ADMIN, query=v.Obj({
    "cursor": v.Str(), "limit": v.Str(), "type": v.Str(one_of=transactions.TYPES),
    "customer_type": v.Str(one_of=("user", "team", "custom"))}))
async def list_transactions(ctx: Ctx):
    return await transactions.list_transactions(ctx.db, ctx.project.id, ctx.query)


def _usd(value: str, path: str) -> str | None:
    return catalogue.money_problem(value)


@api("/internal/payments/transactions/refund", "POST", access=ADMIN, body=v.Obj({
    "type": v.Str(required=True, one_of=("subscription", "one-time-purchase")), "id": v.Str(required=True),
    "refund_entries": v.Arr(v.Obj({"entry_index": v.Int(required=True), "quantity": v.Int(required=True),
                                   "amount_usd": v.Str(required=True, test=_usd)}), required=True)},
    required=True))
async def refund(ctx: Ctx):
    await transactions.refund(ctx.db, ctx.project.id, ctx.body)
    return {"success": True}
