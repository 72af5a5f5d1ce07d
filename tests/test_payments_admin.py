"""The payments admin surface of a project made through the API: payments setup and the simulated Stripe account's
states (none, not onboarded, onboarded), payment-method configuration, billing status, invoices and the saved card,
the legacy payments names (catalogs, offers, offer_id), Stripe webhook events signed with the webhook secret, and
purchase URLs on a --dashboard-url.

Reference: apps/backend/src/app/api/latest/internal/payments/**, payments/billing, payments/invoices,
payments/payment-method, integrations/stripe/webhooks, migrations/v2beta5 (offer_id), and the e2e payments files.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from urllib.parse import quote, urlsplit

import httpx
import pytest

from support import start_emulator
from test_projects_admin import as_owner, create_project, dashboard_user
from wire import known_error, ok, schema_error, text_error

NOT_SET_UP = ("Payments are not set up in this Stack Auth project. Please go to the Stack Auth dashboard and complete "
              "the Payments onboarding.")
# An older payments config: product lines under their old name `catalogs`, a product's line as `catalogId`.
LEGACY_CONFIG = {"payments": {
    "testMode": True,
    "catalogs": {"plans": {"displayName": "Plans"}},
    "items": {"credits": {"displayName": "Credits", "customerType": "user"}},
    "products": {
        "basic": {"displayName": "Basic", "customerType": "user", "catalogId": "plans", "serverOnly": False,
                  "prices": {"monthly": {"USD": "10", "interval": [1, "month"]}}, "includedItems": {}},
        "pro": {"displayName": "Pro", "customerType": "user", "catalogId": "plans", "serverOnly": False,
                "prices": {"monthly": {"USD": "20", "interval": [1, "month"]}}, "includedItems": {}},
        "pack": {"displayName": "Credit pack", "customerType": "user", "serverOnly": False, "stackable": True,
                 "prices": {"one": {"USD": "5"}}, "includedItems": {"credits": {"quantity": 10}}},
    }}}


@pytest.fixture(scope="module")
def owner(emu):
    return dashboard_user(emu)


def new_project(emu, owner):
    """A project made through the API with the legacy config and one user; returns (admin caller, user id)."""
    project = ok(create_project(emu, owner), 201)

    def admin(method, path, **kw):
        return as_owner(emu, owner, method, path, project["id"], **kw)

    assert ok(admin("PATCH", "/internal/config/override/environment",
                    json={"config_override_string": json.dumps(LEGACY_CONFIG)})) == {"success": True}
    user = ok(admin("POST", "/users", json={"primary_email": f"buyer-{uuid.uuid4().hex[:8]}@example.com"}), 201)
    return admin, user["id"]


def session(admin, user_id) -> str:
    return ok(admin("POST", "/auth/sessions", json={"user_id": user_id}), 200)["access_token"]


def purchase_url(admin, user_id, **body) -> str:
    return ok(admin("POST", "/payments/purchases/create-purchase-url",
                    json={"customer_type": "user", "customer_id": user_id, **body}))["url"]


def validate(admin, url) -> dict:
    return ok(admin("POST", "/payments/purchases/validate-code", json={"full_code": urlsplit(url).path.split("/")[-1]}))


def test_setup_then_onboarding_moves_the_account_through_its_states(emu, owner):
    admin, user_id = new_project(emu, owner)
    # No account yet: the admin views say so, purchases are refused, billing is empty.
    known_error(admin("GET", "/internal/payments/stripe/account-info"), 404, "STRIPE_ACCOUNT_INFO_NOT_FOUND")
    known_error(admin("GET", "/internal/payments/method-configs"), 404, "STRIPE_ACCOUNT_INFO_NOT_FOUND")
    text_error(admin("POST", "/payments/purchases/create-purchase-url",
                     json={"customer_type": "user", "customer_id": user_id, "product_id": "basic"}), 400, NOT_SET_UP)
    assert ok(admin("GET", f"/payments/billing/user/{user_id}")) == {"has_customer": False,
                                                                      "default_payment_method": None}
    assert ok(admin("GET", f"/payments/invoices/user/{user_id}")) == {
        "items": [], "is_paginated": True, "pagination": {"next_cursor": None}}

    # Setup makes the account, not onboarded yet; a second setup keeps it.
    link = ok(admin("POST", "/internal/payments/setup", json={}))["url"]
    info = ok(admin("GET", "/internal/payments/stripe/account-info"))
    assert info["account_id"].startswith("acct_") and info["account_id"] in link
    assert {k: v for k, v in info.items() if k != "account_id"} == {
        "charges_enabled": False, "details_submitted": False, "payouts_enabled": False}
    assert ok(admin("POST", "/internal/payments/setup", json={}))["url"] == link
    code = validate(admin, purchase_url(admin, user_id, offer_id="basic"))  # the legacy name of product_id
    assert code["charges_enabled"] is False and code["product"]["display_name"] == "Basic"
    assert code["stripe_account_id"] == info["account_id"]

    # Following the onboarding link completes it.
    page = httpx.get(link)
    assert page.status_code == 200 and "onboarding complete" in page.text
    info = ok(admin("GET", "/internal/payments/stripe/account-info"))
    assert (info["charges_enabled"], info["details_submitted"], info["payouts_enabled"]) == (True, True, True)
    assert validate(admin, purchase_url(admin, user_id, product_id="basic"))["charges_enabled"] is True
    assert httpx.get(link.replace(info["account_id"], "acct_unknown")).status_code == 404


def test_legacy_names_in_config_and_body(emu, owner):
    admin, user_id = new_project(emu, owner)
    ok(admin("POST", "/internal/payments/setup", json={}))
    # `catalogs` + `catalogId` became a product line: owning one plan makes the other a conflicting switch.
    code = urlsplit(purchase_url(admin, user_id, product_id="basic")).path.split("/")[-1]
    assert ok(admin("POST", "/internal/payments/test-mode-purchase-session",
                    json={"full_code": code, "price_id": "monthly"})) == {"success": True}
    pro = validate(admin, purchase_url(admin, user_id, offer_id="pro"))
    assert pro["conflicting_products"] == [{"product_id": "basic", "display_name": "Basic"}]
    config = json.loads(ok(admin("GET", "/internal/config"))["config_string"])
    assert config["payments"]["productLines"]["plans"]["customerType"] == "user"
    assert config["payments"]["products"]["pro"]["productLineId"] == "plans"
    # offer_inline is product_inline: server access only, and the platform's plain answers.
    inline = {"display_name": "One-off", "customer_type": "user", "prices": {"p": {"USD": "3"}}, "included_items": {}}
    assert purchase_url(admin, user_id, offer_inline=inline)
    text_error(admin("POST", "/payments/purchases/create-purchase-url", access="client",
                     headers={"x-stack-access-token": session(admin, user_id)},
                     json={"customer_type": "user", "customer_id": user_id, "offer_inline": inline}), 400,
               "Cannot specify product_inline when calling from client! Please call with a server API key, or use "
               "the product_id parameter.")
    text_error(admin("POST", "/payments/purchases/create-purchase-url",
                     json={"customer_type": "user", "customer_id": user_id}), 400,
               "Must specify either product_id or product_inline!")


def test_payment_methods_and_saved_card(emu, owner):
    admin, user_id = new_project(emu, owner)
    ok(admin("POST", "/internal/payments/setup", json={}))
    configs = ok(admin("GET", "/internal/payments/method-configs"))
    methods = {m["id"]: m for m in configs["methods"]}
    assert configs["config_id"].startswith("pmc_") and methods["card"]["enabled"] is True
    assert methods["card"]["name"] == "Credit/Debit Card" and methods["klarna"]["enabled"] is False
    assert [m["name"] for m in configs["methods"]] == sorted(m["name"] for m in configs["methods"])
    assert ok(admin("PATCH", "/internal/payments/method-configs",
                    json={"config_id": configs["config_id"], "updates": {"card": "off", "klarna": "on"}})) == {
        "success": True}
    methods = {m["id"]: m for m in ok(admin("GET", "/internal/payments/method-configs"))["methods"]}
    assert (methods["card"]["enabled"], methods["klarna"]["enabled"]) == (False, True)
    path = "/internal/payments/method-configs"
    assert schema_error(admin("PATCH", path, json={"config_id": "x", "updates": {"bitcoin": "on"}}), "PATCH",
                        "/api/v1" + path)[0].startswith("body.updates must be one of the following values: card, ")
    assert schema_error(admin("PATCH", path, json={"config_id": "x", "updates": {"card": "yes"}}), "PATCH",
                        "/api/v1" + path) == ["body.updates must be one of the following values: on, off"]

    intent = ok(admin("POST", f"/payments/payment-method/user/{user_id}/setup-intent", json={}))
    assert intent["client_secret"].startswith("seti_") and intent["stripe_account_id"].startswith("acct_")
    assert ok(admin("GET", f"/payments/billing/user/{user_id}")) == {"has_customer": True,
                                                                      "default_payment_method": None}
    saved = ok(admin("POST", f"/payments/payment-method/user/{user_id}/set-default",
                     json={"setup_intent_id": intent["client_secret"].split("_secret_")[0]}))
    card = saved["default_payment_method"]
    assert card["id"].startswith("pm_") and (card["brand"], card["last4"]) == ("visa", "4242")
    assert ok(admin("GET", f"/payments/billing/user/{user_id}"))["default_payment_method"] == card


def test_clients_see_only_their_own_billing(emu, owner):
    admin, user_id = new_project(emu, owner)
    other = ok(admin("POST", "/users", json={}), 201)["id"]
    token = session(admin, user_id)
    own = admin("GET", f"/payments/billing/user/{user_id}", access="client",
                headers={"x-stack-access-token": token})
    assert own.status_code == 200, own.text
    for path in (f"/payments/billing/user/{other}", f"/payments/invoices/user/{other}"):
        text_error(admin("GET", path, access="client", headers={"x-stack-access-token": token}), 403,
                   "Clients can only manage their own billing.")


def signed(payload: dict, secret: str = "mock_stripe_webhook_secret", at: int | None = None) -> dict:
    body = json.dumps(payload)
    t = at or int(time.time())
    signature = hmac.new(secret.encode(), f"{t}.{body}".encode(), hashlib.sha256).hexdigest()
    return {"content": body,
            "headers": {"content-type": "application/json", "stripe-signature": f"t={t},v1={signature}"}}


def test_stripe_webhooks_grant_once_and_mail_a_receipt(emu, owner):
    admin, user_id = new_project(emu, owner)
    ok(admin("POST", "/internal/payments/setup", json={}))
    account = ok(admin("GET", "/internal/payments/stripe/account-info"))["account_id"]
    email = ok(admin("GET", f"/users/{user_id}"))["primary_email"]
    product = LEGACY_CONFIG["payments"]["products"]["pack"]
    event = {"id": "evt_1", "type": "payment_intent.succeeded", "account": account, "data": {"object": {
        "id": f"pi_{uuid.uuid4().hex}", "amount_received": 1000, "currency": "usd",
        "charges": {"data": [{"receipt_url": "https://example.com/r/1"}]},
        "metadata": {"productId": "pack", "product": json.dumps(product), "customerId": user_id,
                     "customerType": "user", "purchaseQuantity": "2", "purchaseKind": "ONE_TIME", "priceId": "one"}}}}
    url = emu.api + "/integrations/stripe/webhooks"
    for _ in range(2):  # Stripe retries: the purchase is recorded once
        r = httpx.post(url, **signed(event))
        assert r.status_code == 200 and r.json() == {"received": True}, r.text
    assert ok(admin("GET", f"/payments/items/user/{user_id}/credits"))["quantity"] == 20
    purchases = [t for t in ok(admin("GET", "/internal/payments/transactions"))["transactions"]
                 if t["type"] == "purchase"]
    assert len(purchases) == 1
    refund = "/internal/payments/transactions/refund"
    assert schema_error(admin("POST", refund, json={"type": "one-time-purchase", "id": purchases[0]["id"],
                                                     "refund_entries": [{"entry_index": 0, "quantity": 1,
                                                                         "amount_usd": "-1"}]}),
                        "POST", "/api/v1" + refund) == [
        "Money amount must be in the format of <number> or <number>.<number>"]
    mails = []  # receipts go through the outbox, which the background loop delivers within a moment
    for _ in range(100):
        mails = httpx.get(emu.api + f"/emulator/inbox/messages?to={quote(email)}").json()["items"]
        if len(mails) >= 2:
            break
        time.sleep(0.1)
    assert [m["subject"].startswith("Your receipt from") for m in mails] == [True, True]
    receipts = [e for e in ok(admin("GET", "/emails/outbox", access="server"))["items"]
                if e.get("subject", "").startswith("Your receipt from")]
    assert [e["variables"] for e in receipts] == [{"productName": "Credit pack", "quantity": 2,
                                                   "amount": "USD 10.00", "receiptLink": "https://example.com/r/1"}] * 2

    text_error(httpx.post(url, **{**signed(event), "headers": {"stripe-signature": "t=1,v1=dead"}}), 400,
               "Invalid stripe-signature header")
    text_error(httpx.post(url, **signed(event, secret="another secret")), 400, "Invalid stripe-signature header")
    text_error(httpx.post(url, **signed(event, at=int(time.time()) - 3600)), 400, "Invalid stripe-signature header")
    known_error(httpx.post(url, json=event), 400, "SCHEMA_ERROR", {"message"})
    r = httpx.post(url, **signed({**event, "type": "mock_event.succeeded"}))
    assert r.status_code == 500 and "Unknown stripe webhook type received: mock_event.succeeded" in r.text
    r = httpx.post(url, **signed({**event, "type": "account.updated"}))
    assert r.status_code == 200, r.text


def test_purchase_urls_point_at_the_dashboard_url(tmp_path):
    emu = start_emulator("--dashboard-url", "http://dashboard.example:8101/")
    try:
        with emu.server() as s:
            user = s.post("/users", json={}).json()["id"]
            r = s.post("/payments/purchases/create-purchase-url",
                       json={"customer_type": "user", "customer_id": user, "product_id": "pro"})
        assert r.status_code == 200, r.text
        assert r.json()["url"].startswith(f"http://dashboard.example:8101/purchase/{emu.project_id}_")
    finally:
        emu.stop()
