"""The local checkout page that purchase URLs open (the dashboard's /purchase/{code} upstream), paid with Stripe's
test cards and no network:

  GET  /purchase/{full_code}        the product, price choice, quantity (stackable), plan changes and a card form
  POST /purchase/{full_code}        action=pay (a card, with Stripe test mode's outcomes) or action=bypass (test mode)
  POST /purchase/{full_code}/3ds    the simulated 3-D Secure step of 4000 0025 0000 3155: complete or fail
  GET  /purchase/return             "purchase complete", when the purchase URL had no return_url
  GET  /emulator/stripe/onboarding/{account_id}   the onboarding link of /internal/payments/setup
"""
from __future__ import annotations

import hashlib
import hmac
from decimal import Decimal, InvalidOperation
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from emulator import clock
from emulator.domain.payments import stripe_account
from emulator.domain.payments.purchases import complete_purchase, describe_code, report_failed_payment, split_full_code
from emulator.errors import E, StatusError
from emulator.http.routes.oauth_sim import read_form
from emulator.http.routes.pages import static_version, templates

NO_STORE = {"cache-control": "no-store"}
MAX_AMOUNT = Decimal(999_999)  # Stripe's largest charge in USD

# Stripe test mode (https://docs.stripe.com/testing): cards that pay, and cards whose charge the issuer declines.
SUCCEEDING_CARDS = {"4242424242424242", "5555555555554444", "378282246310005"}
DECLINED_CARDS = {
    "4000000000000002": "Your card was declined.",
    "4000000000009995": "Your card has insufficient funds.",
    "4000000000000069": "Your card has expired.",
    "4000000000000127": "Your card's security code is incorrect.",
    "4000000000000119": "An error occurred while processing your card. Try again in a little bit.",
}
THREE_D_SECURE_CARD = "4000002500003155"
LIVE_CARD_DECLINE = ("Your card was declined. Your request was in test mode, but used a non test (live) card. "
                     "For a list of valid test cards, visit: https://stripe.com/docs/testing.")
AUTHENTICATION_FAILED = ("We are unable to authenticate your payment method. Please choose a different payment "
                         "method and try again.")

CODE_PROBLEMS = {  # the known errors of opening a purchase code, as the page explains them
    # As upstream, a used (revoked) or expired code is simply not found.
    "VERIFICATION_CODE_NOT_FOUND": ("Invalid purchase link",
                                    "This purchase link does not exist, was already used, or has expired (links "
                                    "last 24 hours). Create a new one to buy this product."),
    "REDIRECT_URL_NOT_WHITELISTED": ("Untrusted return URL",
                                     "The return_url of this purchase link is not a trusted domain of the project."),
}


# ---- card checks --------------------------------------------------------------------------------------------------

def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def _expiry(text: str) -> tuple[int, int] | None:
    """MM/YY (also MM / YY, MMYY, MM/YYYY) as (month, four-digit year)."""
    digits = "".join(ch for ch in text if ch.isdigit())
    if len(digits) not in (4, 6) or len(digits) != len(text.replace("/", "").replace(" ", "")):
        return None
    month, year = int(digits[:2]), int(digits[2:])
    return month, year + 2000 if year < 100 else year


def _digits(number: str) -> str:
    return number.replace(" ", "").replace("-", "")


def card_problem(number: str, expiry: str, cvc: str) -> str | None:
    """What Stripe's card form says before any charge is attempted (no PaymentIntent exists yet)."""
    digits = _digits(number)
    if not digits:
        return "Your card number is incomplete."
    if not digits.isdigit():
        return "Your card number is invalid."
    if len(digits) < 13 or len(digits) > 19:
        return "Your card number is incomplete." if len(digits) < 13 else "Your card number is invalid."
    if not _luhn_ok(digits):
        return "Your card number is incorrect."
    parsed = _expiry(expiry.strip())
    if parsed is None:
        return "Your card's expiration date is incomplete."
    month, year = parsed
    if not 1 <= month <= 12:
        return "Your card's expiration month is invalid."
    today = clock.now()
    if year < today.year:
        return "Your card's expiration year is in the past."
    if (year, month) < (today.year, today.month):
        return "Your card's expiration date is in the past."
    cvc = cvc.strip()
    cvc_length = 4 if digits[:2] in ("34", "37") else 3  # American Express has four digits
    if (cvc and not cvc.isdigit()) or len(cvc) > cvc_length:
        return "Your card's security code is invalid."
    if len(cvc) < cvc_length:
        return "Your card's security code is incomplete."
    return None


def charge_outcome(number: str) -> str | None:
    """None when the charge succeeds, "3ds" when the card asks for authentication, else Stripe's decline message."""
    digits = _digits(number)
    if digits in SUCCEEDING_CARDS:
        return None
    if digits == THREE_D_SECURE_CARD:
        return "3ds"
    return DECLINED_CARDS.get(digits, LIVE_CARD_DECLINE)


# ---- page helpers -------------------------------------------------------------------------------------------------

def _money(amount: Decimal) -> str:
    return f"${amount:,.2f}"


def _interval_label(interval) -> str:
    if not interval:
        return "One-time"
    count, unit = interval
    if count == 1:
        return {"day": "Daily", "week": "Weekly", "month": "Monthly", "year": "Yearly"}.get(unit, f"Every {unit}")
    return f"Every {count} {unit}s"


def _per(interval) -> str:
    if not interval:
        return ""
    count, unit = interval
    return f"per {unit}" if count == 1 else f"per {count} {unit}s"


def _trial_label(trial) -> str:
    if not trial:
        return ""
    count, unit = trial
    return f"{count}-{unit} free trial"


def _unit_price(price: dict) -> Decimal:
    try:
        return Decimal(str(price.get("USD", "0")))
    except InvalidOperation:
        return Decimal(0)


def _prices(info: dict) -> list[dict]:
    product = info["product"]
    out = []
    for price_id, price in (product.get("prices") or {}).items():
        trial = price.get("free_trial") or product.get("free_trial")
        out.append({"id": price_id, "label": _interval_label(price.get("interval")), "amount": _unit_price(price),
                    "display": _money(_unit_price(price)), "per": _per(price.get("interval")),
                    "interval": price.get("interval"), "trial": _trial_label(trial)})
    return out


def _token(secret: str, full_code: str, price_id: str, quantity: int) -> str:
    """Binds the 3-D Secure step to the purchase whose card asked for it (no skipping the card, no other quantity)."""
    message = f"3ds|{full_code}|{price_id}|{quantity}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def _render(name: str, status: int = 200, **context) -> HTMLResponse:
    page = templates().get_template(name).render(static_version=static_version(), **context)
    return HTMLResponse(page, status, headers=NO_STORE)


def _problem_page(error: StatusError) -> HTMLResponse:
    title, text = CODE_PROBLEMS.get(getattr(error, "code", ""), ("This purchase cannot be completed", error.message))
    return _render("checkout_message.html", error.status, kind="error", title=title, text=text,
                   code=getattr(error, "code", None))


async def _load(request: Request, db, full_code: str, return_url: str | None):
    """The project and the validate-code description of a purchase code; raises the code's known errors."""
    parts = split_full_code(full_code)
    project = parts and await request.app.state.emu.projects.view(db, parts[0])
    if not project:
        raise E.verification_code_not_found()
    return project, await describe_code(db, project, full_code, return_url)


def _done_url(full_code: str, return_url: str | None, bypass: bool) -> str:
    if return_url:
        return return_url
    query = {"purchase_full_code": full_code, **({"bypass": "1"} if bypass else {})}
    return "/purchase/return?" + urlencode(query)


class _Choice:
    """The price and quantity a form asks for, and what the page itself refuses before any charge (as the
    dashboard's page does); the purchase rules proper are complete_purchase's."""

    def __init__(self, info: dict, fields: dict):
        prices = {p["id"]: p for p in _prices(info)}
        self.price_id = str(fields.get("price_id") or next(iter(prices), ""))
        quantity = str(fields.get("quantity") or "1").strip()
        self.quantity = int(quantity) if quantity.isdigit() else 0
        price = prices.get(self.price_id)
        self.total = price["amount"] * self.quantity if price else Decimal(0)
        self.per = price["per"] if price else ""
        self.problem = None
        if info.get("already_bought_non_stackable"):
            self.problem = "You already own this product; it cannot be bought again."
        elif price is None:
            self.problem = "Choose one of the product's prices."
        elif self.quantity < 1:
            self.problem = "Please enter a quantity of at least 1."
        elif self.total > MAX_AMOUNT:
            self.problem = f"The total is over Stripe's limit of {_money(MAX_AMOUNT)}. Please reduce the quantity."


def _checkout_page(project, info: dict, full_code: str, return_url: str | None, *,
                   fields: dict | None = None, error: str | None = None, status: int = 200) -> HTMLResponse:
    fields = fields or {}
    choice = _Choice(info, fields)
    return _render(
        "checkout.html", status, project_name=project.display_name, info=info, product=info["product"],
        prices=_prices(info), choice=choice, total=_money(choice.total), full_code=full_code,
        return_url=return_url or "", error=error, card_name=fields.get("card_name", ""),
        card_number=fields.get("card_number", ""), card_expiry=fields.get("card_expiry", ""),
        blocked=bool(info.get("already_bought_non_stackable")))


# ---- handlers -----------------------------------------------------------------------------------------------------

async def checkout_page(request: Request) -> Response:
    full_code = request.path_params["full_code"]
    return_url = request.query_params.get("return_url") or None
    async with request.app.state.emu.db.session() as db:
        try:
            project, info = await _load(request, db, full_code, return_url)
        except StatusError as error:
            return _problem_page(error)
        return _checkout_page(project, info, full_code, return_url)


async def _purchase(state, db, project, full_code: str, choice: _Choice, *, paid: bool) -> StatusError | None:
    """Grant; None on success (committed), else the StatusError raised by the purchase rules."""
    try:
        await complete_purchase(db, state.mail, project, full_code, choice.price_id, choice.quantity, paid=paid)
    except StatusError as error:
        await db.rollback()
        return error
    await db.commit()
    return None


async def _decline(state, db, project, full_code: str, choice: _Choice, reason: str) -> None:
    await report_failed_payment(db, state.mail, project, full_code, choice.price_id, choice.quantity, reason=reason)
    await db.commit()


async def checkout_submit(request: Request) -> Response:
    full_code = request.path_params["full_code"]
    fields = await read_form(request)
    return_url = str(fields.get("return_url") or "") or None
    action = fields.get("action", "pay")
    state = request.app.state.emu
    async with state.db.session() as db:
        try:
            project, info = await _load(request, db, full_code, return_url)
        except StatusError as error:
            return _problem_page(error)

        def again(message: str, status: int) -> HTMLResponse:
            return _checkout_page(project, info, full_code, return_url, fields=fields, error=message,
                                  status=status)

        choice = _Choice(info, fields)
        if choice.problem:
            return again(choice.problem, 400)
        if action == "bypass":
            error = await _purchase(state, db, project, full_code, choice, paid=False)
            if error:
                return again(error.message, error.status)
            return RedirectResponse(_done_url(full_code, return_url, bypass=True), 303, headers=NO_STORE)
        if action != "pay":
            return again("Unknown action: use the Pay button.", 400)
        number = str(fields.get("card_number") or "")
        problem = card_problem(number, str(fields.get("card_expiry") or ""), str(fields.get("card_cvc") or ""))
        if problem:
            return again(problem, 400)
        outcome = charge_outcome(number)
        if outcome == "3ds":
            return _render("checkout_3ds.html", project_name=project.display_name, product=info["product"],
                           full_code=full_code, price_id=choice.price_id, quantity=choice.quantity,
                           return_url=return_url or "", total=_money(choice.total), last4=_digits(number)[-4:],
                           token=_token(state.signer.secret, full_code, choice.price_id, choice.quantity))
        if outcome:
            await _decline(state, db, project, full_code, choice, outcome)
            return again(outcome, 402)
        error = await _purchase(state, db, project, full_code, choice, paid=True)
        if error:
            return again(error.message, error.status)
    return RedirectResponse(_done_url(full_code, return_url, bypass=False), 303, headers=NO_STORE)


async def three_d_secure(request: Request) -> Response:
    full_code = request.path_params["full_code"]
    fields = await read_form(request)
    return_url = str(fields.get("return_url") or "") or None
    state = request.app.state.emu
    async with state.db.session() as db:
        try:
            project, info = await _load(request, db, full_code, return_url)
        except StatusError as error:
            return _problem_page(error)
        choice = _Choice(info, fields)
        expected = _token(state.signer.secret, full_code, choice.price_id, choice.quantity)
        if not hmac.compare_digest(expected, str(fields.get("token") or "")):
            return _checkout_page(project, info, full_code, return_url, fields=fields, status=400,
                                  error="This authentication step does not belong to this payment; pay again.")
        if fields.get("action") != "complete":
            await _decline(state, db, project, full_code, choice, AUTHENTICATION_FAILED)
            return _checkout_page(project, info, full_code, return_url, fields=fields,
                                  error=AUTHENTICATION_FAILED, status=402)
        error = await _purchase(state, db, project, full_code, choice, paid=True)
        if error:
            return _checkout_page(project, info, full_code, return_url, fields=fields, error=error.message,
                                  status=error.status)
    return RedirectResponse(_done_url(full_code, return_url, bypass=False), 303, headers=NO_STORE)


async def purchase_return(request: Request) -> Response:
    bypass = request.query_params.get("bypass") == "1"
    text = ("Test-mode purchase completed: no payment was processed." if bypass
            else "Payment succeeded. You can close this page.")
    return _render("checkout_message.html", kind="success", title="Purchase complete", text=text, code=None)


async def stripe_onboarding(request: Request) -> Response:
    """The onboarding link of /internal/payments/setup: following it completes the simulated account's onboarding
    (Stripe's hosted onboarding form upstream), so it can take charges and pay out."""
    account_id = request.path_params["account_id"]
    async with request.app.state.emu.db.session() as db:
        account = await stripe_account.complete_onboarding(db, account_id)
        await db.commit()
    if account is None:
        return _render("checkout_message.html", 404, kind="error", title="Unknown Stripe account",
                       text=f"No project has the simulated Stripe account {account_id}.", code=None)
    return _render("checkout_message.html", kind="success", title="Stripe onboarding complete",
                   text=f"The simulated Stripe account {account_id} can now take charges and pay out.", code=None)


routes: list = [
    Route("/emulator/stripe/onboarding/{account_id}", stripe_onboarding, methods=["GET"]),
    Route("/purchase/return", purchase_return, methods=["GET"]),
    Route("/purchase/{full_code}", checkout_page, methods=["GET"]),
    Route("/purchase/{full_code}", checkout_submit, methods=["POST"]),
    Route("/purchase/{full_code}/3ds", three_d_secure, methods=["POST"]),
]
