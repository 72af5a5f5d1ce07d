"""Payments core over HTTP: purchase URLs and codes, test-mode purchases, grants, items ledger, subscriptions on the
emulator clock, transactions and refunds, receipts. Paid purchases go through the local checkout page's form.

These tests move the clock, so they run on an emulator of their own (the session one must keep its time)."""
from __future__ import annotations

import time
import uuid
from urllib.parse import quote, urlsplit

import httpx
import pytest

from support import start_emulator, wait_for
from wire import known_error, outbox_settled

MONTH = 30 * 86400


@pytest.fixture(scope="module")
def pay():
    emu = start_emulator()
    yield emu
    emu.stop()


def new_user(emu) -> dict:
    email = f"buyer-{uuid.uuid4().hex[:10]}@example.com"
    with emu.server() as s:
        r = s.post("/users", json={"primary_email": email})
    assert r.status_code == 201, r.text
    return {"id": r.json()["id"], "email": email}


def as_user(emu, user) -> httpx.Client:
    """Client access as the user, with a fresh access token (the clock may have moved past older ones)."""
    with emu.server() as s:
        token = s.post("/auth/sessions", json={"user_id": user["id"]}).json()["access_token"]
    return emu.client(access_token=token)


def purchase_url(emu, customer_id, product_id, customer_type="user", **extra) -> str:
    with emu.server() as s:
        r = s.post("/payments/purchases/create-purchase-url",
                   json={"customer_type": customer_type, "customer_id": customer_id, "product_id": product_id, **extra})
    assert r.status_code == 200, r.text
    return r.json()["url"]


def full_code(url: str) -> str:
    return urlsplit(url).path.rsplit("/", 1)[1]


def bypass_buy(emu, customer_id, product_id, price_id, customer_type="user", quantity=1) -> httpx.Response:
    code = full_code(purchase_url(emu, customer_id, product_id, customer_type))
    return httpx.post(emu.api + "/internal/payments/test-mode-purchase-session",
                      json={"full_code": code, "price_id": price_id, "quantity": quantity})


def card_buy(emu, customer_id, product_id, price_id, card="4242 4242 4242 4242", customer_type="user") -> httpx.Response:
    """Pays on the local checkout page, as a browser would post its form."""
    path = urlsplit(purchase_url(emu, customer_id, product_id, customer_type)).path
    return httpx.post(emu.url + path, data={"action": "pay", "price_id": price_id, "quantity": "1",
                                            "card_number": card, "card_expiry": "12/34", "card_cvc": "123",
                                            "card_name": "Test Buyer"})


def quantity(emu, customer_id, item="credits", customer_type="user"):
    with emu.server() as s:
        r = s.get(f"/payments/items/{customer_type}/{customer_id}/{item}")
    assert r.status_code == 200, r.text
    return r.json()["quantity"]


def products(emu, customer_id, customer_type="user", client=None) -> list[dict]:
    if client is not None:
        r = client.get(f"/payments/products/{customer_type}/{customer_id}")
    else:
        with emu.server() as s:
            r = s.get(f"/payments/products/{customer_type}/{customer_id}")
    assert r.status_code == 200, r.text
    return r.json()["items"]


def change(emu, customer_id, delta, allow_negative="false", item="credits", customer_type="user", **body):
    with emu.server() as s:
        return s.post(f"/payments/items/{customer_type}/{customer_id}/{item}/update-quantity",
                      params={"allow_negative": allow_negative}, json={"delta": delta, **body})


def advance(emu, seconds: float) -> None:
    r = httpx.post(emu.api + "/emulator/clock/advance", json={"seconds": seconds})
    assert r.status_code == 200, r.text


def subjects(emu, to: str) -> list[str]:
    outbox_settled(emu)
    r = httpx.get(emu.api + f"/emulator/inbox/messages?to={quote(to)}")
    return [m["subject"] for m in r.json()["items"]]


def admin(emu) -> httpx.Client:
    """Admin access to the config-file project through the seeded dashboard user's access token."""
    with emu.http("client", project_id="internal") as c:
        r = c.post("/auth/password/sign-in", json={"email": "local-emulator@stack-auth.com",
                                                   "password": "LocalEmulatorPassword"})
    assert r.status_code == 200, r.text
    return httpx.Client(base_url=emu.api, timeout=10, headers={
        "x-stack-access-type": "admin", "x-stack-project-id": emu.project_id,
        "x-stack-admin-access-token": r.json()["access_token"]})


# ---- create-purchase-url and validate-code -------------------------------------------------------------------------

def test_create_purchase_url_and_validate_code(pay):
    user = new_user(pay)
    url = purchase_url(pay, user["id"], "pro", return_url="http://localhost:3000/thanks")
    assert url.startswith(f"{pay.url}/purchase/{pay.project_id}_")
    assert url.endswith("?return_url=http%3A%2F%2Flocalhost%3A3000%2Fthanks")
    code = full_code(url)
    r = httpx.post(pay.api + "/payments/purchases/validate-code", json={"full_code": code})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"product", "stripe_account_id", "project_id", "project_logo_url",
                         "already_bought_non_stackable", "conflicting_products", "test_mode", "charges_enabled"}
    assert body["stripe_account_id"].startswith("acct_") and body["project_id"] == pay.project_id
    assert body["test_mode"] is True and body["charges_enabled"] is True
    assert body["already_bought_non_stackable"] is False and body["conflicting_products"] == []
    assert body["product"]["prices"]["monthly-trial"] == {"USD": "20", "interval": [1, "month"], "free_trial": [14, "day"]}
    assert body["product"]["included_items"] == {"credits": {"quantity": 1000, "repeat": [1, "month"],
                                                             "expires": "when-repeated"}}
    r = httpx.get(pay.api + "/payments/purchases/validate-code", params={"full_code": code})
    assert r.json() == {"valid": True}
    for bad in ("nope", f"{pay.project_id}_{'a' * 45}", f"{uuid.uuid4()}_{code.split('_')[1]}"):
        known_error(httpx.post(pay.api + "/payments/purchases/validate-code", json={"full_code": bad}),
                    404, "VERIFICATION_CODE_NOT_FOUND")
    known_error(httpx.post(pay.api + "/payments/purchases/validate-code",
                           json={"full_code": code, "return_url": "https://evil.example.com/"}),
                400, "REDIRECT_URL_NOT_WHITELISTED")


def test_create_purchase_url_errors_in_order(pay):
    user = new_user(pay)
    with pay.server() as s:
        def create(**body):
            return s.post("/payments/purchases/create-purchase-url",
                          json={"customer_type": "user", "customer_id": user["id"], **body})
        known_error(create(product_id="nope"), 400, "PRODUCT_DOES_NOT_EXIST", {"product_id": "nope", "context": None})
        known_error(create(product_id="credits"), 400, "PRODUCT_DOES_NOT_EXIST",
                    {"product_id": "credits", "context": "item_exists"})
        known_error(create(product_id="team-pro"), 400, "PRODUCT_CUSTOMER_TYPE_DOES_NOT_MATCH", {
            "product_id": "team-pro", "customer_id": user["id"], "product_customer_type": "team",
            "actual_customer_type": "user"})
        known_error(create(product_id="pro", return_url="https://evil.example.com/"), 400,
                    "REDIRECT_URL_NOT_WHITELISTED")
        assert create().status_code == 400 and "product_id" in create().text
        inline = {"display_name": "Gift", "customer_type": "user", "prices": {"p": {"USD": "1"}}, "included_items": {}}
        assert create(product_id="pro", product_inline=inline).status_code == 400
        assert create(product_inline=inline).status_code == 200
        r = create(product_inline={**inline, "prices": {"p": {"interval": [1, "month"]}}})
        assert r.status_code == 400 and "body.product_inline.prices.p: a price needs at least one currency" in r.text
        assert bypass_buy(pay, user["id"], "pro", "monthly").status_code == 200
        known_error(create(product_id="pro"), 400, "PRODUCT_ALREADY_GRANTED",
                    {"product_id": "pro", "customer_id": user["id"]})
        assert create(product_id="credits-pack").status_code == 200  # stackable: buy again any time
    with pay.client() as c:
        r = c.post("/payments/purchases/create-purchase-url",
                   json={"customer_type": "user", "customer_id": user["id"], "product_inline": inline})
        known_error(r, 401, "USER_AUTHENTICATION_REQUIRED")


def test_client_rules(pay):
    alice, bob = new_user(pay), new_user(pay)
    with as_user(pay, alice) as c:
        def create(customer_type, customer_id, product_id):
            return c.post("/payments/purchases/create-purchase-url", json={
                "customer_type": customer_type, "customer_id": customer_id, "product_id": product_id})
        assert create("user", alice["id"], "pro").status_code == 200
        r = create("user", bob["id"], "pro")  # buying for another user
        assert r.status_code == 403 and "own user" in r.text
        assert create("custom", "org-1", "pro").status_code == 403
        known_error(create("user", alice["id"], "internal-grant"), 400, "PRODUCT_DOES_NOT_EXIST",
                    {"product_id": "internal-grant", "context": "server_only"})
        team = c.post("/teams", json={"display_name": "Alice's team"}).json()
        assert create("team", team["id"], "team-pro").status_code == 200  # the creator is team_admin
        r = c.post("/payments/purchases/create-purchase-url", json={
            "customer_type": "user", "customer_id": alice["id"], "product_id": "pro",
            "product_inline": {"display_name": "x", "customer_type": "user", "prices": {}, "included_items": {}}})
        assert r.status_code == 400
    with pay.server() as s:
        assert s.post("/team-memberships/{}/{}".format(team["id"], bob["id"]), json={}).status_code == 201
    with as_user(pay, bob) as c:
        r = c.post("/payments/purchases/create-purchase-url", json={
            "customer_type": "team", "customer_id": team["id"], "product_id": "team-pro"})
        known_error(r, 401, "TEAM_PERMISSION_REQUIRED",
                    {"team_id": team["id"], "user_id": bob["id"], "permission_id": "team_admin"})
        assert c.get(f"/payments/items/user/{alice['id']}/credits").status_code == 403


# ---- purchases, items, products -----------------------------------------------------------------------------------------

def test_test_mode_purchase_grants_items_and_lists_products(pay):
    user = new_user(pay)
    code = full_code(purchase_url(pay, user["id"], "credits-pack"))
    r = httpx.post(pay.api + "/internal/payments/test-mode-purchase-session",
                   json={"full_code": code, "price_id": "once", "quantity": 3})
    assert r.status_code == 200 and r.json() == {"success": True}
    known_error(httpx.post(pay.api + "/internal/payments/test-mode-purchase-session",
                           json={"full_code": code, "price_id": "once"}), 404, "VERIFICATION_CODE_NOT_FOUND")
    assert quantity(pay, user["id"]) == 300
    with as_user(pay, user) as c:
        items = products(pay, user["id"], client=c)
        assert c.get(f"/payments/items/user/{user['id']}/credits").json() == {
            "id": "credits", "display_name": "Credits", "quantity": 300}
    assert [(i["id"], i["quantity"], i["type"], i["subscription"]) for i in items] == [
        ("credits-pack", 3, "one_time", None)]
    r = bypass_buy(pay, user["id"], "pro", "nope")
    assert r.status_code == 400 and r.text == "Price not found on product associated with this purchase code"
    r = bypass_buy(pay, user["id"], "pro", "monthly", quantity=2)
    assert r.status_code == 400 and "not stackable" in r.text
    assert bypass_buy(pay, user["id"], "pro", "monthly").status_code == 200
    pro = next(i for i in products(pay, user["id"]) if i["id"] == "pro")
    assert pro["type"] == "subscription" and pro["subscription"]["cancel_at_period_end"] is False
    assert pro["switch_options"] == []  # `free` is include-by-default, never a switch target
    assert quantity(pay, user["id"]) == 1300
    assert subjects(pay, user["email"]) == []  # test mode: no money, no receipt


def test_items_errors_and_debt(pay):
    user = new_user(pay)
    with pay.server() as s:
        known_error(s.get(f"/payments/items/user/{user['id']}/nope"), 404, "ITEM_NOT_FOUND", {"item_id": "nope"})
        known_error(s.get(f"/payments/items/team/{user['id']}/credits"), 400, "ITEM_CUSTOMER_TYPE_DOES_NOT_MATCH", {
            "item_id": "credits", "customer_id": user["id"], "item_customer_type": "user",
            "actual_customer_type": "team"})
        known_error(s.get(f"/payments/items/user/{uuid.uuid4()}/credits"), 404, "USER_NOT_FOUND")
        assert s.get("/payments/items/custom/any-org/api-calls").json()["quantity"] == 0
        r = s.post(f"/payments/items/user/{user['id']}/credits/update-quantity", json={"delta": 1})
        assert r.status_code == 400 and "allow_negative" in r.text
    with as_user(pay, user) as c:
        r = c.post(f"/payments/items/user/{user['id']}/credits/update-quantity?allow_negative=true", json={"delta": 1})
        known_error(r, 401, "INSUFFICIENT_ACCESS_TYPE", {"actual_access_type": "client",
                                                         "allowed_access_types": ["server", "admin"]})
    known_error(change(pay, user["id"], -5), 400, "ITEM_QUANTITY_INSUFFICIENT_AMOUNT",
                {"item_id": "credits", "customer_id": user["id"], "quantity": -5})
    assert change(pay, user["id"], -30, "true").json() == {}
    assert quantity(pay, user["id"]) == -30
    assert bypass_buy(pay, user["id"], "credits-pack", "once").status_code == 200  # +100 pays the debt first
    assert quantity(pay, user["id"]) == 70
    assert change(pay, "any-org", 7, item="api-calls", customer_type="custom").status_code == 200
    assert quantity(pay, "any-org", "api-calls", "custom") == 7


def test_expiring_grants_are_consumed_first(pay):
    user = new_user(pay)
    now_s = httpx.get(f"{pay.api}/emulator/clock").json()["now_millis"] / 1000  # other tests move this clock
    soon = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now_s + 3 * 86400 + 3600))
    assert change(pay, user["id"], 50).status_code == 200
    assert change(pay, user["id"], 20, expires_at=soon).status_code == 200
    assert change(pay, user["id"], -15).status_code == 200  # taken from the grant that expires
    assert quantity(pay, user["id"]) == 55
    advance(pay, 4 * 86400)
    assert quantity(pay, user["id"]) == 50  # the 5 left of the expiring grant are gone; the 50 untouched


def test_server_grants_and_inline_products(pay):
    user = new_user(pay)
    with pay.server() as s:
        r = s.post(f"/payments/products/user/{user['id']}", json={"product_id": "internal-grant"})
        assert r.json() == {"success": True}
        r = s.post(f"/payments/products/user/{user['id']}", json={"product_id": "pro"})
        assert r.status_code == 200 and set(r.json()) == {"success", "subscription_id"}
        inline = {"display_name": "Bonus", "customer_type": "user", "prices": {"gift": {"USD": "0"}},
                  "included_items": {"credits": {"quantity": 5}}}
        assert s.post(f"/payments/products/user/{user['id']}", json={"product_inline": inline}).status_code == 200
        known_error(s.post(f"/payments/products/user/{user['id']}", json={"product_id": "pro"}), 400,
                    "PRODUCT_ALREADY_GRANTED", {"product_id": "pro", "customer_id": user["id"]})
        missing = str(uuid.uuid4())
        known_error(s.post(f"/payments/products/team/{missing}", json={"product_id": "team-pro"}), 404,
                    "TEAM_NOT_FOUND", {"team_id": missing})
    assert quantity(pay, user["id"]) == 1005
    listed = products(pay, user["id"])
    assert [i["id"] for i in listed] == [None, "internal-grant", "pro"]
    with as_user(pay, user) as c:
        assert [i["id"] for i in products(pay, user["id"], client=c)] == ["pro"]  # server-only ones are hidden
        known_error(c.post(f"/payments/products/user/{user['id']}", json={"product_id": "pro"}), 401,
                    "INSUFFICIENT_ACCESS_TYPE", {"actual_access_type", "allowed_access_types"})


def test_add_on_needs_its_base_and_line_rules(pay):
    user = new_user(pay)
    r = bypass_buy(pay, user["id"], "extra-storage", "monthly")
    assert r.status_code == 400 and r.text == "This product is an add-on to a product that the customer does not have"
    assert bypass_buy(pay, user["id"], "pro", "monthly").status_code == 200
    assert bypass_buy(pay, user["id"], "extra-storage", "monthly").status_code == 200
    assert sorted(i["id"] for i in products(pay, user["id"])) == ["extra-storage", "pro"]


def test_team_customer(pay):
    admin_user, member = new_user(pay), new_user(pay)
    with as_user(pay, admin_user) as c:
        team = c.post("/teams", json={"display_name": "Buyers"}).json()
    with pay.server() as s:
        assert s.post(f"/team-memberships/{team['id']}/{member['id']}", json={}).status_code == 201
    assert card_buy(pay, team["id"], "team-pro", "monthly", customer_type="team").status_code == 303
    assert quantity(pay, team["id"], "seats", "team") == 10
    assert subjects(pay, admin_user["email"]) == ["Your receipt from Local Emulator: hexclave.config.py"]
    assert subjects(pay, member["email"]) == []  # receipts go to team admins only
    with as_user(pay, admin_user) as c:
        assert [i["id"] for i in products(pay, team["id"], "team", client=c)] == ["team-pro"]
        assert c.delete(f"/payments/products/team/{team['id']}/team-pro").json() == {"success": True}
    # A paid (Stripe) subscription is cancelled at once; `when-purchase-expires` seats go with it.
    assert quantity(pay, team["id"], "seats", "team") == 0
    assert products(pay, team["id"], "team") == []


def test_buying_another_plan_of_the_line_ends_the_current_one(tmp_path):
    """A second subscription product in `plans` (written into a config copy) replaces `pro` at once."""
    from support import FIXTURE_CONFIG
    path = tmp_path / "hexclave.config.py"
    text = FIXTURE_CONFIG.read_text().replace(
        '"credits-pack": {',
        '"business": {"displayName": "Business", "customerType": "user", "productLineId": "plans",\n'
        '             "prices": {"monthly": {"USD": "99", "interval": [1, "month"]}},\n'
        '             "includedItems": {"credits": {"quantity": 5000, "repeat": [1, "month"]}}},\n'
        '            "credits-pack": {', 1)
    path.write_text(text)
    emu = start_emulator(config=path)
    try:
        user = new_user(emu)
        assert bypass_buy(emu, user["id"], "pro", "monthly").status_code == 200
        code = full_code(purchase_url(emu, user["id"], "business"))
        info = httpx.post(emu.api + "/payments/purchases/validate-code", json={"full_code": code}).json()
        assert info["conflicting_products"] == [{"product_id": "pro", "display_name": "Pro"}]
        assert httpx.post(emu.api + "/internal/payments/test-mode-purchase-session",
                          json={"full_code": code, "price_id": "monthly"}).status_code == 200
        listed = products(emu, user["id"])
        assert [i["id"] for i in listed] == ["business"]
        assert [o["product_id"] for o in listed[0]["switch_options"]] == ["pro"]
        assert quantity(emu, user["id"]) == 5000  # pro's when-repeated credits ended with it
        assert bypass_buy(emu, user["id"], "credits-pack", "once").status_code == 200
    finally:
        emu.stop()


def test_cancel(pay):
    user = new_user(pay)
    assert bypass_buy(pay, user["id"], "pro", "monthly").status_code == 200
    assert bypass_buy(pay, user["id"], "credits-pack", "once").status_code == 200
    with as_user(pay, user) as c:
        r = c.delete(f"/payments/products/user/{user['id']}/credits-pack")
        assert r.status_code == 400 and r.text == "This product is a one time purchase and cannot be canceled."
        r = c.delete(f"/payments/products/user/{user['id']}/extra-storage")
        assert r.status_code == 400 and r.text == "Customer does not have this product."
        assert c.delete(f"/payments/products/user/{user['id']}/pro").json() == {"success": True}
    # A test-mode subscription runs to the end of its period, then the plan and its credits are gone.
    pro = next(i for i in products(pay, user["id"]) if i["id"] == "pro")
    assert pro["type"] == "one_time" and pro["subscription"] is None
    assert quantity(pay, user["id"]) == 1100
    advance(pay, 32 * 86400)
    assert [i["id"] for i in products(pay, user["id"])] == ["credits-pack"]
    assert quantity(pay, user["id"]) == 100


# ---- subscriptions on the clock, paid purchases, receipts, transactions -------------------------------------------------

def test_paid_subscription_renews_twelve_times_with_repeating_grants(pay):
    user = new_user(pay)
    r = card_buy(pay, user["id"], "pro", "monthly")
    assert r.status_code == 303, r.text
    assert subjects(pay, user["email"]) == ["Your receipt from Local Emulator: hexclave.config.py"]
    sub = next(i for i in products(pay, user["id"]) if i["id"] == "pro")["subscription"]
    assert change(pay, user["id"], -400).status_code == 200
    assert quantity(pay, user["id"]) == 600
    advance(pay, 366 * 86400)  # one call, a year
    assert quantity(pay, user["id"]) == 1000  # each repeat replaced the month's credits (when-repeated)
    renewed = next(i for i in products(pay, user["id"]) if i["id"] == "pro")["subscription"]
    assert renewed["subscription_id"] == sub["subscription_id"]
    assert renewed["current_period_end"][:10] > sub["current_period_end"][:10]
    assert len(subjects(pay, user["email"])) == 13  # the purchase, then twelve renewals
    with admin(pay) as a:
        txns = a.get("/internal/payments/transactions", params={"type": "subscription-renewal"}).json()["transactions"]
        mine = [t for t in txns if t["entries"][0]["customer_id"] == user["id"]]
        assert len(mine) == 12
        assert mine[0]["entries"] == [{"type": "money_transfer", "adjusted_transaction_id": None,
                                       "adjusted_entry_index": None, "customer_type": "user",
                                       "customer_id": user["id"], "charged_amount": {"USD": "20"},
                                       "net_amount": {"USD": "20"}}]
        assert all(t["test_mode"] is False for t in mine)


def test_trial_ends_then_the_subscription_is_charged(pay):
    user = new_user(pay)
    assert card_buy(pay, user["id"], "pro", "monthly-trial").status_code == 303
    assert quantity(pay, user["id"]) == 1000  # items are granted during the trial
    assert subjects(pay, user["email"]) == ["Your receipt from Local Emulator: hexclave.config.py"]  # a $0 receipt

    def renewals():
        with admin(pay) as a:
            txns = a.get("/internal/payments/transactions", params={"type": "subscription-renewal"}).json()
        return [t for t in txns["transactions"] if t["entries"][0]["customer_id"] == user["id"]]
    assert renewals() == []
    advance(pay, 15 * 86400)  # the 14-day trial is over: the first charge
    assert len(renewals()) == 1
    assert len(subjects(pay, user["email"])) == 2


def test_declined_card_sends_payment_failed_and_keeps_the_code(pay):
    user = new_user(pay)
    path = urlsplit(purchase_url(pay, user["id"], "credits-pack")).path
    fields = {"action": "pay", "price_id": "once", "quantity": "1", "card_expiry": "12/34", "card_cvc": "123",
              "card_name": "T"}
    r = httpx.post(pay.url + path, data={**fields, "card_number": "4000 0000 0000 0002"})
    assert r.status_code == 402
    assert subjects(pay, user["email"]) == ["Payment failed for Local Emulator: hexclave.config.py"]
    assert httpx.post(pay.url + path, data={**fields, "card_number": "4242424242424242"}).status_code == 303
    assert quantity(pay, user["id"]) == 100


def test_transactions_and_refunds(pay):
    user = new_user(pay)
    assert bypass_buy(pay, user["id"], "credits-pack", "once").status_code == 200
    assert card_buy(pay, user["id"], "credits-pack", "once").status_code == 303
    assert bypass_buy(pay, user["id"], "pro", "monthly").status_code == 200
    assert change(pay, user["id"], 3).status_code == 200
    with admin(pay) as a:
        r = a.get("/internal/payments/transactions", params={"customer_type": "user", "limit": "200"})
        assert r.status_code == 200
        mine = [t for t in r.json()["transactions"] if t["entries"][0]["customer_id"] == user["id"]]
        assert [(t["type"], t["test_mode"]) for t in mine] == [
            ("manual-item-quantity-change", False), ("purchase", True), ("purchase", False), ("purchase", True)]
        paid, test_otp, test_sub = mine[2], mine[3], mine[1]
        assert [e["type"] for e in paid["entries"]] == ["product_grant", "money_transfer", "item_quantity_change"]
        assert paid["entries"][1]["charged_amount"] == {"USD": "5"}
        assert paid["entries"][0]["one_time_purchase_id"] == paid["id"]
        assert [e["type"] for e in test_otp["entries"]] == ["product_grant", "item_quantity_change"]

        def refund(kind, txn, amount="5", qty=1):
            return a.post("/internal/payments/transactions/refund", json={
                "type": kind, "id": txn["id"], "refund_entries": [
                    {"entry_index": 0, "quantity": qty, "amount_usd": amount}]})
        known_error(refund("one-time-purchase", test_otp), 400, "TEST_MODE_PURCHASE_NON_REFUNDABLE")
        known_error(refund("subscription", test_sub, "20"), 404, "SUBSCRIPTION_INVOICE_NOT_FOUND",
                    {"subscription_invoice_id": test_sub["id"]})
        known_error(refund("one-time-purchase", {"id": "nope"}), 404, "ONE_TIME_PURCHASE_NOT_FOUND",
                    {"one_time_purchase_id": "nope"})
        known_error(refund("one-time-purchase", paid, "6"), 400, "SCHEMA_ERROR",
                    {"message": "Refund amount cannot exceed the charged amount."})
        assert refund("one-time-purchase", paid).json() == {"success": True}
        known_error(refund("one-time-purchase", paid), 400, "ONE_TIME_PURCHASE_ALREADY_REFUNDED",
                    {"one_time_purchase_id": paid["id"]})
        after = a.get("/internal/payments/transactions", params={"type": "purchase"}).json()["transactions"]
        assert next(t for t in after if t["id"] == paid["id"])["adjusted_by"] == [
            {"transaction_id": f"{paid['id']}:refund", "entry_index": 0}]
        page = a.get("/internal/payments/transactions", params={"limit": "1"}).json()
        assert len(page["transactions"]) == 1 and page["next_cursor"]
        second = a.get("/internal/payments/transactions", params={"limit": "1", "cursor": page["next_cursor"]}).json()
        assert second["transactions"][0]["id"] != page["transactions"][0]["id"]
        assert a.get("/internal/payments/transactions", params={"cursor": "bad"}).status_code == 400
    assert [i["id"] for i in products(pay, user["id"])] == ["credits-pack", "pro"]  # the test-mode pack stays
    with pay.server() as s:
        known_error(s.get("/internal/payments/transactions"), 401, "INSUFFICIENT_ACCESS_TYPE",
                    {"actual_access_type", "allowed_access_types"})


def test_switch_a_paid_plan(tmp_path):
    from support import FIXTURE_CONFIG
    path = tmp_path / "hexclave.config.py"
    path.write_text(FIXTURE_CONFIG.read_text().replace(
        '"credits-pack": {',
        '"business": {"displayName": "Business", "customerType": "user", "productLineId": "plans",\n'
        '             "prices": {"monthly": {"USD": "99", "interval": [1, "month"]}}},\n'
        '            "credits-pack": {', 1))
    emu = start_emulator(config=path)
    try:
        user = new_user(emu)
        assert bypass_buy(emu, user["id"], "pro", "monthly").status_code == 200
        with as_user(emu, user) as c:
            body = {"from_product_id": "pro", "to_product_id": "business"}
            r = c.post(f"/payments/products/user/{user['id']}/switch", json=body)
            assert r.status_code == 400 and r.text == "This subscription cannot be switched."  # not a Stripe one
            c.delete(f"/payments/products/user/{user['id']}/pro")
        advance(emu, 32 * 86400)
        assert card_buy(emu, user["id"], "pro", "monthly").status_code == 303
        with as_user(emu, user) as c:
            r = c.post(f"/payments/products/user/{user['id']}/switch", json={**body, "to_product_id": "free"})
            assert r.text == "Include-by-default products cannot be selected for plan switching."
            assert c.post(f"/payments/products/user/{user['id']}/switch", json=body).json() == {"success": True}
        assert [i["id"] for i in products(emu, user["id"])] == ["business"]
    finally:
        emu.stop()


def test_webhooks_and_setup(pay):
    r = httpx.post(pay.api + "/integrations/stripe/webhooks", json={"type": "payment_intent.succeeded"})
    known_error(r, 400, "SCHEMA_ERROR", {"message"})  # unsigned (signed events: test_payments_admin.py)
    with admin(pay) as a:
        r = a.post("/internal/payments/setup", json={})
        assert r.status_code == 200 and "acct_" in r.json()["url"]


# ---- catalogue from hexclave.config.py -----------------------------------------------------------------------------------

GOOD = '''config = {"payments": {
    "productLines": {"plans": {"customerType": "user"}},
    "items": {"credits": {"customerType": "user"}},
    "products": {"pro": {"customerType": "user", "productLineId": "plans",
                         "prices": {"m": {"USD": "9.99", "interval": [1, "month"]}},
                         "includedItems": {"credits": {"quantity": 10}}}}}}
'''


@pytest.mark.parametrize("broken, expected", [
    (GOOD.replace('"productLineId": "plans"', '"productLineId": "gone"'),
     "payments.products.pro.productLineId: product 'pro' is in product line 'gone', which does not exist"),
    (GOOD.replace('"plans": {"customerType": "user"}', '"plans": {"customerType": "team"}'),
     "payments.products.pro.customerType: product 'pro' is for user customers but its product line 'plans' is "
     "for team customers"),
    (GOOD.replace('"USD": "9.99", ', ''), "payments.products.pro.prices.m: a price needs at least one currency"),
    (GOOD.replace('[1, "month"]', '[1, "fortnight"]'), "payments.products.pro.prices.m.interval: expected [count, unit]"),
    (GOOD.replace('"9.99"', '9.99'), "payments.products.pro.prices.m.USD: expected an amount as a string"),
    (GOOD.replace('"quantity": 10', '"quantity": 10, "expires": "later"'),
     "payments.products.pro.includedItems.credits.expires: must be one of never, when-purchase-expires"),
])
def test_invalid_catalogue_is_refused_with_its_path(tmp_path, broken, expected):
    path = tmp_path / "hexclave.config.py"
    path.write_text(GOOD)
    emu = start_emulator(config=path)
    try:
        user = new_user(emu)
        assert purchase_url(emu, user["id"], "pro")
        path.write_text(broken)
        assert wait_for(lambda: any(expected in line and str(path) in line for line in emu.output)), "".join(emu.output)
        assert purchase_url(emu, user["id"], "pro")  # the last good catalogue is kept
    finally:
        emu.stop()


def test_legacy_names_and_blocked_purchases(tmp_path):
    path = tmp_path / "hexclave.config.py"
    path.write_text('''config = {"payments": {
    "groups": {"plans": {"displayName": "Plans"}},
    "offers": {"gold": {"customerType": "user", "groupId": "plans", "prices": {"m": {"USD": "1"}}}}}}
''')
    emu = start_emulator(config=path)
    try:
        user = new_user(emu)
        code = full_code(purchase_url(emu, user["id"], "gold"))
        product = httpx.post(emu.api + "/payments/purchases/validate-code", json={"full_code": code}).json()["product"]
        assert product["prices"] == {"m": {"USD": "1"}}
        path.write_text(path.read_text().replace('"payments": {', '"payments": {"blockNewPurchases": True,'))
        with emu.server() as s:
            r = s.post("/payments/purchases/create-purchase-url",
                       json={"customer_type": "user", "customer_id": user["id"], "product_id": "gold"})
        known_error(r, 403, "NEW_PURCHASES_BLOCKED")
        known_error(httpx.post(emu.api + "/internal/payments/test-mode-purchase-session",
                               json={"full_code": code, "price_id": "m"}), 403, "NEW_PURCHASES_BLOCKED")
    finally:
        emu.stop()
