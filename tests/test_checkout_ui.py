"""The checkout page in headless Chromium: a purchase URL made over the API opens the emulator's page, a 4242… card
pays, the browser lands on the return URL and the item quantity moved; a declined card shows Stripe's message; a
3-D Secure card shows the confirmation step. Screenshots go to tests/artifacts/checkout*.png."""
from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest

from test_checkout import DECLINED, new_user, purchase_path, quantity
from test_inbox_ui import ARTIFACTS, CHROMIUM, page  # noqa: F401  (the CDP page fixture)

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium binary on PATH")


def fill_card(page, number: str, quantity: int | None = None) -> None:  # noqa: F811
    values = {"card_number": number, "card_expiry": "12 / 49", "card_cvc": "123", "card_name": "Ada Lovelace"}
    if quantity is not None:
        values["quantity"] = str(quantity)
    page.eval(f"Object.entries({json.dumps(values)}).forEach(([id, v]) => {{"
              "  const el = document.getElementById(id); el.value = v;"
              "  el.dispatchEvent(new Event('input', {bubbles: true})); }); true")


def open_checkout(page, emu, path: str) -> None:  # noqa: F811
    page.call("Page.navigate", url=emu.url + path)
    pathname = urlsplit(path).path  # each purchase code has its own path: never mistake the previous page for it
    page.wait_for(f"location.pathname === {pathname!r} && document.readyState === 'complete'"
                  " && !!document.getElementById('card_number')", "the checkout page")


def test_pay_in_a_browser(emu, page):  # noqa: F811
    user = new_user(emu)
    return_url = f"{emu.url}/inbox"  # a page on a trusted (local) origin stands in for the app
    open_checkout(page, emu, purchase_path(emu, "credits-pack", user["id"], return_url=return_url))
    text = page.eval("document.body.innerText")
    assert "100 credits" in text and "Test mode" in text and "Skip payment (test mode)" in text
    fill_card(page, "4242 4242 4242 4242", quantity=2)
    assert page.eval("document.getElementById('pay-total').textContent") == "$10.00"  # the total follows the quantity
    page.screenshot(ARTIFACTS / "checkout.png")
    page.eval("document.getElementById('pay').click(); true")
    page.wait_for(f"location.href === {return_url!r}", "the browser to land on the return URL")
    assert quantity(emu, user["id"]) == 200

    open_checkout(page, emu, purchase_path(emu, "credits-pack", user["id"], return_url=return_url))
    fill_card(page, "4000 0000 0000 0002")
    page.eval("document.getElementById('pay').click(); true")
    shown = page.wait_for("document.getElementById('card-error')?.textContent", "the decline message")
    assert shown == DECLINED
    page.screenshot(ARTIFACTS / "checkout-declined.png")
    assert quantity(emu, user["id"]) == 200


def test_3d_secure_in_a_browser(emu, page):  # noqa: F811
    user = new_user(emu)
    return_url = f"{emu.url}/inbox"
    open_checkout(page, emu, purchase_path(emu, "pro", user["id"], return_url=return_url))
    page.eval("document.querySelector('input[name=price_id][value=yearly]').click(); true")
    fill_card(page, "4000 0025 0000 3155")
    page.eval("document.getElementById('pay').click(); true")
    page.wait_for("!!document.getElementById('complete')", "the 3-D Secure step")
    assert "$200.00" in page.eval("document.body.innerText")
    page.screenshot(ARTIFACTS / "checkout-3ds.png")
    page.eval("document.getElementById('complete').click(); true")
    page.wait_for(f"location.href === {return_url!r}", "the browser to land on the return URL")
    assert quantity(emu, user["id"]) == 1000
