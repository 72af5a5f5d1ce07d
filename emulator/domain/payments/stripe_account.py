"""A project's simulated Stripe Connect account, in the states the platform reports.

/internal/payments/setup makes the account (`acct_…`) and answers an onboarding link; until that link is followed
the account is not onboarded (charges, details and payouts all false), as a fresh Connect account is. Projects made
through the API have no account until setup, so purchase URLs answer "Payments are not set up"; the config file's
project gets an onboarded one on first use, so its checkout works out of the box. The account also keeps its
payment-method configuration (which methods checkout offers), edited by the admin API.
"""
from __future__ import annotations

import secrets
import string

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from emulator.clock import now_millis
from emulator.errors import E, StatusError
from emulator.store.models import PaymentAccount, PaymentAccountState, Project

NOT_SET_UP = ("Payments are not set up in this Stack Auth project. Please go to the Stack Auth dashboard and complete "
              "the Payments onboarding.")

# The payment methods the platform knows, in its order, with their display names. The simulated account offers
# all of them; those in ENABLED are on until switched off (what a new Stripe account starts with).
METHOD_NAMES = {
    "card": "Credit/Debit Card", "cartes_bancaires": "Cartes Bancaires", "apple_pay": "Apple Pay",
    "google_pay": "Google Pay", "link": "Link", "amazon_pay": "Amazon Pay", "cashapp": "Cash App",
    "klarna": "Klarna", "affirm": "Affirm", "afterpay_clearpay": "Afterpay / Clearpay", "zip": "Zip",
    "ideal": "iDEAL", "bancontact": "Bancontact", "eps": "EPS", "p24": "Przelewy24", "blik": "BLIK",
    "alipay": "Alipay", "wechat_pay": "WeChat Pay", "sepa_debit": "SEPA Direct Debit",
    "bacs_debit": "Bacs Direct Debit",
    "acss_debit": "ACSS Debit", "us_bank_account": "US Bank Account", "multibanco": "Multibanco",
    "customer_balance": "Customer Balance",
}
ENABLED = ("card", "apple_pay", "google_pay", "link")
# The client secrets of purchase sessions, as the platform's own local emulator answers them (its Stripe is
# stripe-mock, whose payment intent has this secret and whose subscriptions have an empty confirmation secret).
PAYMENT_INTENT_CLIENT_SECRET = "pi_1PgafyB7WZ01zgkWSjxsAJo3_secret_Dm43xiq1k0ywrRRjDoi8y1gkM"
SUBSCRIPTION_CLIENT_SECRET = ""
# The card a customer has on file once it paid through Stripe outside the checkout page (a confirmed setup intent,
# a paid invoice): Stripe's test card.
TEST_CARD = {"brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2030}


def test_card() -> dict:
    return {"id": stripe_id("pm"), **TEST_CARD}


_ALNUM = string.ascii_letters + string.digits


def stripe_id(prefix: str) -> str:
    """A simulated Stripe object id: `acct_…`, `cus_…`, `pi_…`."""
    return prefix + "_" + "".join(secrets.choice(_ALNUM) for _ in range(24))


async def find(db: AsyncSession, project_id: str) -> PaymentAccount | None:
    return await db.get(PaymentAccount, project_id)


async def _state(db: AsyncSession, project_id: str) -> PaymentAccountState:
    row = await db.get(PaymentAccountState, project_id)
    if row is None:
        row = PaymentAccountState(project_id=project_id, onboarded=False, payment_methods={})
        db.add(row)
    return row


async def setup(db: AsyncSession, project_id: str, *, onboarded: bool = False) -> PaymentAccount:
    """The project's account, made now if it has none (not onboarded unless told)."""
    row = await find(db, project_id)
    if row is None:
        row = PaymentAccount(project_id=project_id, stripe_account_id=stripe_id("acct"), created_at_millis=now_millis())
        db.add(row)
        (await _state(db, project_id)).onboarded = onboarded
        await db.flush()
    return row


async def require(db: AsyncSession, project_id: str) -> PaymentAccount:
    """The account purchases go through; the config file's project gets an onboarded one on first use."""
    row = await find(db, project_id)
    if row is None:
        project = await db.get(Project, project_id)
        if project is None or project.config_path is None:
            raise StatusError(400, NOT_SET_UP)
        row = await setup(db, project_id, onboarded=True)
    return row


async def charges_enabled(db: AsyncSession, project_id: str) -> bool:
    return (await _state(db, project_id)).onboarded


async def complete_onboarding(db: AsyncSession, account_id: str) -> PaymentAccount | None:
    """The onboarding link was followed: the account can take charges and pay out from now on."""
    row = (await db.execute(select(PaymentAccount).where(PaymentAccount.stripe_account_id == account_id))
           ).scalar_one_or_none()
    if row is not None:
        (await _state(db, row.project_id)).onboarded = True
    return row


async def info(db: AsyncSession, project_id: str) -> dict:
    """GET /internal/payments/stripe/account-info."""
    row = await find(db, project_id)
    if row is None:
        raise E.stripe_account_info_not_found()
    onboarded = await charges_enabled(db, project_id)
    return {"account_id": row.stripe_account_id, "charges_enabled": onboarded, "details_submitted": onboarded,
            "payouts_enabled": onboarded}


async def method_configs(db: AsyncSession, project_id: str) -> dict:
    """GET /internal/payments/method-configs: every method with its switch, available ones first, then by name."""
    row = await find(db, project_id)
    if row is None:
        raise E.stripe_account_info_not_found()
    chosen = (await _state(db, project_id)).payment_methods or {}
    methods = [{"id": method, "name": name, "enabled": chosen.get(method, "on" if method in ENABLED else "off") == "on",
                "available": True, "overridable": True} for method, name in METHOD_NAMES.items()]
    methods.sort(key=lambda m: m["name"])
    return {"config_id": config_id(row), "methods": methods}


def config_id(account: PaymentAccount) -> str:
    return "pmc_" + account.stripe_account_id.removeprefix("acct_")


async def update_methods(db: AsyncSession, project_id: str, updates: dict[str, str]) -> None:
    """PATCH /internal/payments/method-configs (an empty update changes nothing and needs no account)."""
    if not updates:
        return
    if await find(db, project_id) is None:
        raise E.stripe_account_info_not_found()
    state = await _state(db, project_id)
    state.payment_methods = {**(state.payment_methods or {}), **updates}
