"""The local checkout page that purchase URLs open, over plain HTTP (the page works with plain form posts):
Stripe test mode's card outcomes, the simulated 3-D Secure step, quantities of a stackable product, the test-mode
bypass, bad or used or expired codes, plan changes within a line, and the receipt / payment-failed mails.

The fixture catalogue (fixtures/hexclave.config.py) provides `pro`, `credits-pack`, `extra-storage` and `team-pro`.
"""
from __future__ import annotations

import re
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from support import start_emulator
from wire import call, create_user, fresh_email, ok, outbox_settled, raw, unique, write_config

RETURN_URL = "http://localhost:3000/purchase-done"
FUTURE = "12/49"  # far ahead of any clock advance a test makes
DECLINED = "Your card was declined."
INSUFFICIENT = "Your card has insufficient funds."
LIVE_CARD = ("Your card was declined. Your request was in test mode, but used a non test (live) card. "
             "For a list of valid test cards, visit: https://stripe.com/docs/testing.")
AUTH_FAILED = ("We are unable to authenticate your payment method. Please choose a different payment method and "
               "try again.")


# ---- helpers --------------------------------------------------------------------------------------------------------

def new_user(emu) -> dict:
    return create_user(emu, primary_email=fresh_email("buyer"), primary_email_verified=True)


def purchase_path(emu, product_id: str, customer_id: str, customer_type: str = "user",
                  return_url: str | None = None) -> str:
    """create-purchase-url (server) → the page's path (with ?return_url=… when given)."""
    body = {"customer_type": customer_type, "customer_id": customer_id, "product_id": product_id}
    if return_url:
        body["return_url"] = return_url
    url = ok(call(emu, "POST", "/payments/purchases/create-purchase-url", access="server", json=body))["url"]
    assert url.startswith(f"{emu.url}/purchase/{emu.project_id}_"), url
    return url[len(emu.url):]


def code_of(path: str) -> str:
    return urlsplit(path).path.rsplit("/", 1)[1]


def submit(emu, path: str, action: str = "pay", card: str | None = "4242 4242 4242 4242", **fields):
    """POST the page's form (as the browser does: the return URL travels in a hidden field)."""
    query = parse_qs(urlsplit(path).query)
    data = {"action": action, "return_url": query.get("return_url", [""])[0], **fields}
    if card is not None:
        data = {"card_number": card, "card_expiry": FUTURE, "card_cvc": "123", "card_name": "Ada", **data}
    return raw(emu, "POST", urlsplit(path).path, data=data)


def error_text(r) -> str:
    m = re.search(r'id="card-error"[^>]*>(.*?)</p>', r.text, re.S)
    assert m, f"no error on the page ({r.status_code}): {r.text[:600]}"
    return m.group(1).replace("&#39;", "'").replace("&amp;", "&").strip()


def quantity(emu, customer_id: str, item: str = "credits", customer_type: str = "user") -> int:
    return ok(call(emu, "GET", f"/payments/items/{customer_type}/{customer_id}/{item}", access="server"))["quantity"]


def subjects(emu, to: str) -> list[str]:
    outbox_settled(emu)
    items = ok(raw(emu, "GET", f"/api/v1/emulator/inbox/messages?to={quote(to)}"))["items"]
    return [m["subject"] for m in items]


def product_ids(emu, customer_id: str, customer_type: str = "user") -> list[str]:
    listing = ok(call(emu, "GET", f"/payments/products/{customer_type}/{customer_id}", access="server"))
    return [p["id"] for p in listing["items"]]


# ---- the page -------------------------------------------------------------------------------------------------------

def test_page_shows_the_product_prices_and_the_test_mode_form(emu):
    user = new_user(emu)
    r = raw(emu, "GET", purchase_path(emu, "pro", user["id"]))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html"), r.text[:300]
    page = r.text
    assert "Test mode" in page and "hexclave-emulator" in page
    assert "Local Emulator: hexclave.config.py" in page  # the project's name
    assert '<h1 id="product-title">Pro</h1>' in page
    for price_id in ("monthly", "yearly", "monthly-trial"):
        assert f'name="price_id" value="{price_id}"' in page
    assert "14-day free trial" in page and "$200.00" in page and "per year" in page
    assert 'name="quantity" id="quantity"' not in page  # not stackable
    assert 'id="bypass"' in page and 'id="pay"' in page and 'id="already-bought"' not in page
    for field in ("card_number", "card_expiry", "card_cvc", "card_name"):
        assert f'name="{field}"' in page


def test_stackable_product_offers_a_quantity(emu):
    user = new_user(emu)
    page = raw(emu, "GET", purchase_path(emu, "credits-pack", user["id"])).text
    assert 'name="quantity" id="quantity"' in page and "100 credits" in page and "$5.00" in page


@pytest.mark.parametrize("path, status, title", [
    ("/purchase/no-underscore-here", 404, "Invalid purchase link"),
    ("/purchase/00000000-0000-4000-8000-000000000000_abc", 404, "Invalid purchase link"),
    (None, 404, "Invalid purchase link"),  # this project, an unknown code
])
def test_unknown_codes_get_a_clear_page(emu, path, status, title):
    path = path or f"/purchase/{emu.project_id}_{unique('nosuchcode')}"
    for r in (raw(emu, "GET", path), raw(emu, "POST", path, data={"action": "bypass"})):
        assert r.status_code == status, r.text[:300]
        assert title in r.text and "VERIFICATION_CODE_NOT_FOUND" in r.text


def test_untrusted_return_url_is_refused_on_the_page(emu):
    user = new_user(emu)
    path = purchase_path(emu, "credits-pack", user["id"])
    r = raw(emu, "GET", path + "?return_url=" + quote("https://evil.example.com/x"))
    assert r.status_code == 400 and "REDIRECT_URL_NOT_WHITELISTED" in r.text, r.text[:300]
    r = submit(emu, path, return_url="https://evil.example.com/x")
    assert r.status_code == 400 and "REDIRECT_URL_NOT_WHITELISTED" in r.text
    assert quantity(emu, user["id"]) == 0


# ---- card outcomes --------------------------------------------------------------------------------------------------

def test_4242_pays_grants_sends_a_receipt_and_returns(emu):
    user = new_user(emu)
    path = purchase_path(emu, "credits-pack", user["id"], return_url=RETURN_URL)
    assert f"?return_url={quote(RETURN_URL, safe='')}" in path
    r = submit(emu, path, quantity="3")
    assert r.status_code == 303 and r.headers["location"] == RETURN_URL, (r.status_code, r.text[:400])
    assert quantity(emu, user["id"]) == 300
    assert any(s.startswith("Your receipt from") for s in subjects(emu, user["primary_email"]))
    again = raw(emu, "GET", path)  # the code is used up (revoked: not found, as upstream)
    assert again.status_code == 404 and "Invalid purchase link" in again.text


def test_without_a_return_url_the_local_return_page_says_complete(emu):
    user = new_user(emu)
    path = purchase_path(emu, "credits-pack", user["id"])
    r = submit(emu, path, card="4242424242424242")
    assert r.status_code == 303 and r.headers["location"].startswith("/purchase/return?"), r.text[:300]
    done = raw(emu, "GET", r.headers["location"])
    assert done.status_code == 200 and "Purchase complete" in done.text and "Payment succeeded" in done.text


@pytest.mark.parametrize("card, message", [
    ("4000 0000 0000 0002", DECLINED),
    ("4000 0000 0000 9995", INSUFFICIENT),
    ("4111 1111 1111 1111", LIVE_CARD),  # a valid number that is not a Stripe test card
])
def test_declined_cards_show_stripes_message_and_mail_the_customer(emu, card, message):
    user = new_user(emu)
    path = purchase_path(emu, "credits-pack", user["id"], return_url=RETURN_URL)
    r = submit(emu, path, card=card)
    assert r.status_code == 402 and error_text(r) == message
    assert 'name="card_number"' in r.text  # the form again, to try another card
    assert quantity(emu, user["id"]) == 0
    assert any(s.startswith("Payment failed for") for s in subjects(emu, user["primary_email"]))
    retry = submit(emu, path)  # the code stays usable
    assert retry.status_code == 303 and quantity(emu, user["id"]) == 100


def _month_before_this_one(emu) -> str | None:
    """Last month as MM/YY on the emulator's clock (the one the expiry check reads); None in January."""
    year, month = map(int, ok(raw(emu, "GET", "/api/v1/emulator/clock"))["now"][:7].split("-"))
    return None if month == 1 else f"{month - 1:02d}/{year % 100:02d}"


@pytest.mark.parametrize("fields, message", [
    ({"card_number": "4242 4242 4242 4241"}, "Your card number is incorrect."),
    ({"card_number": "4242 4242"}, "Your card number is incomplete."),
    ({"card_number": ""}, "Your card number is incomplete."),
    ({"card_expiry": "01/20"}, "Your card's expiration year is in the past."),
    ({"card_expiry": "past-month"}, "Your card's expiration date is in the past."),
    ({"card_expiry": "13/40"}, "Your card's expiration month is invalid."),
    ({"card_expiry": "12"}, "Your card's expiration date is incomplete."),
    ({"card_cvc": "12"}, "Your card's security code is incomplete."),
    ({"card_cvc": "12a"}, "Your card's security code is invalid."),
    ({"card_number": "3782 822463 10005", "card_cvc": "123"}, "Your card's security code is incomplete."),
])
def test_card_form_errors_are_refused_before_any_charge(emu, fields, message):
    if fields.get("card_expiry") == "past-month":
        expiry = _month_before_this_one(emu)
        if expiry is None:
            pytest.skip("January: no earlier month in this year")
        fields = {"card_expiry": expiry}
    user = new_user(emu)
    path = purchase_path(emu, "credits-pack", user["id"])
    r = submit(emu, path, **fields)
    assert r.status_code == 400 and error_text(r) == message
    assert quantity(emu, user["id"]) == 0
    assert subjects(emu, user["primary_email"]) == []  # Stripe's form stops these: no payment, no mail


def test_other_test_cards_and_spaces_or_dashes(emu):
    user = new_user(emu)
    for card, cvc in (("5555-5555-5555-4444", "123"), ("3782 822463 10005", "1234")):
        r = submit(emu, purchase_path(emu, "credits-pack", user["id"]), card=card, card_cvc=cvc)
        assert r.status_code == 303, error_text(r)
    assert quantity(emu, user["id"]) == 200


# ---- 3-D Secure -----------------------------------------------------------------------------------------------------

def _three_d_secure(emu, path: str, **fields):
    r = submit(emu, path, card="4000 0025 0000 3155", **fields)
    assert r.status_code == 200 and "Confirm your payment" in r.text and "3155" in r.text, r.text[:400]
    hidden = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', r.text))
    assert set(hidden) == {"price_id", "quantity", "return_url", "token"}
    return hidden


def test_3d_secure_complete_pays(emu):
    user = new_user(emu)
    path = purchase_path(emu, "credits-pack", user["id"], return_url=RETURN_URL)
    hidden = _three_d_secure(emu, path, quantity="2")
    assert quantity(emu, user["id"]) == 0  # nothing before the confirmation
    r = raw(emu, "POST", urlsplit(path).path + "/3ds", data={**hidden, "action": "complete"})
    assert r.status_code == 303 and r.headers["location"] == RETURN_URL
    assert quantity(emu, user["id"]) == 200


def test_3d_secure_fail_declines_and_cannot_be_tampered_with(emu):
    user = new_user(emu)
    path = purchase_path(emu, "credits-pack", user["id"])
    hidden = _three_d_secure(emu, path, quantity="1")
    tampered = raw(emu, "POST", urlsplit(path).path + "/3ds", data={**hidden, "quantity": "9", "action": "complete"})
    assert tampered.status_code == 400 and quantity(emu, user["id"]) == 0
    r = raw(emu, "POST", urlsplit(path).path + "/3ds", data={**hidden, "action": "fail"})
    assert r.status_code == 402 and error_text(r) == AUTH_FAILED
    assert quantity(emu, user["id"]) == 0
    assert any(s.startswith("Payment failed for") for s in subjects(emu, user["primary_email"]))


# ---- quantities, bypass, purchase rules -----------------------------------------------------------------------------

def test_quantity_rules(emu):
    user = new_user(emu)
    pack = purchase_path(emu, "credits-pack", user["id"])
    assert error_text(submit(emu, pack, quantity="0")) == "Please enter a quantity of at least 1."
    too_many = submit(emu, pack, quantity="200000")  # $1,000,000
    assert too_many.status_code == 400 and "limit of $999,999.00" in error_text(too_many)
    pro = purchase_path(emu, "pro", user["id"])
    r = submit(emu, pro, quantity="2", price_id="monthly")
    assert r.status_code == 400 and "stackable" in error_text(r)
    assert submit(emu, pack, quantity="4").status_code == 303
    assert quantity(emu, user["id"]) == 400


def test_bypass_grants_without_payment_or_receipt(emu):
    user = new_user(emu)
    path = purchase_path(emu, "pro", user["id"], return_url=RETURN_URL)
    r = submit(emu, path, action="bypass", card=None, price_id="yearly")
    assert r.status_code == 303 and r.headers["location"] == RETURN_URL, r.text[:400]
    assert "pro" in product_ids(emu, user["id"])
    assert quantity(emu, user["id"]) == 1000
    assert not any(s.startswith("Your receipt") for s in subjects(emu, user["primary_email"]))
    no_return = submit(emu, purchase_path(emu, "credits-pack", user["id"]), action="bypass", card=None)
    assert no_return.headers["location"].startswith("/purchase/return?") and "bypass=1" in no_return.headers["location"]
    assert "no payment was processed" in raw(emu, "GET", no_return.headers["location"]).text


def test_already_bought_and_purchase_errors_are_shown_in_words(emu):
    user = new_user(emu)
    first, second = purchase_path(emu, "pro", user["id"]), purchase_path(emu, "pro", user["id"])
    add_on = purchase_path(emu, "extra-storage", user["id"])
    r = submit(emu, add_on)  # its base product `pro` is not owned yet
    assert r.status_code == 400 and error_text(r) and quantity(emu, user["id"]) == 0
    assert submit(emu, first, price_id="monthly").status_code == 303
    page = raw(emu, "GET", second)
    assert page.status_code == 200 and 'id="already-bought"' in page.text
    assert re.search(r'id="pay"\s+disabled', page.text) and re.search(r'id="bypass"\s+disabled', page.text)
    r = submit(emu, second, price_id="monthly")
    assert r.status_code == 400 and "already own" in error_text(r)
    assert submit(emu, add_on).status_code == 303  # with `pro` owned, the add-on can be bought


def test_team_purchase_receipt_goes_to_team_admins(emu):
    admin = new_user(emu)
    team = ok(call(emu, "POST", "/teams", access="server",
                   json={"display_name": unique("Team "), "creator_user_id": admin["id"]}), 201)
    path = purchase_path(emu, "team-pro", team["id"], customer_type="team")
    assert "Team Pro" in raw(emu, "GET", path).text
    assert submit(emu, path).status_code == 303
    assert quantity(emu, team["id"], "seats", "team") == 10
    assert "team-pro" in product_ids(emu, team["id"], "team")
    assert any(s.startswith("Your receipt from") for s in subjects(emu, admin["primary_email"]))


# ---- plan changes and expiry (own emulator: a two-plan catalogue, and a clock moved forward) -----------------------

PLANS = {"payments": {
    "productLines": {"plans": {"displayName": "Plans", "customerType": "user"}},
    "products": {
        "basic": {"displayName": "Basic", "customerType": "user", "productLineId": "plans",
                  "prices": {"monthly": {"USD": "10", "interval": [1, "month"]}}},
        "premium": {"displayName": "Premium", "customerType": "user", "productLineId": "plans",
                    "prices": {"monthly": {"USD": "30", "interval": [1, "month"]}}},
    },
}}


@pytest.fixture(scope="module")
def plans_emu():
    e = start_emulator(config=write_config(PLANS))
    yield e
    e.stop()


def test_plan_change_lists_the_product_it_replaces(plans_emu):
    emu = plans_emu
    user = new_user(emu)
    assert submit(emu, purchase_path(emu, "basic", user["id"]), action="bypass", card=None).status_code == 303
    path = purchase_path(emu, "premium", user["id"])
    page = raw(emu, "GET", path).text
    assert 'id="conflicts"' in page and 'data-product-id="basic">Basic<' in page
    assert submit(emu, path).status_code == 303
    assert product_ids(emu, user["id"]) == ["premium"]


def test_expired_code_page(plans_emu):
    emu = plans_emu
    user = new_user(emu)
    path = purchase_path(emu, "basic", user["id"])
    ok(raw(emu, "POST", "/api/v1/emulator/clock/advance", json={"duration": "25h"}))
    r = raw(emu, "GET", path)
    assert r.status_code == 404 and "VERIFICATION_CODE_NOT_FOUND" in r.text  # as upstream: expired is not found
    assert submit(emu, path).status_code == 404
