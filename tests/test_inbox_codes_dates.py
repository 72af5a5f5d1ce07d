"""Inbox details a new user trips over: the code the mail shows (the 6-character OTP) apart from its link code,
Cc apart from To, and platform mail dated on the emulator clock — in the API and on the inbox page."""
from __future__ import annotations

import email.utils
import smtplib
import uuid
from datetime import datetime
from email.message import EmailMessage

import httpx
import pytest

from support import start_emulator
from test_inbox_ui import CHROMIUM, page  # noqa: F401  (the browser fixture)

CALLBACK = "http://localhost:3000/handler/magic-link-callback"


@pytest.fixture(scope="module")
def emu():
    e = start_emulator()  # its own: the clock moves forward here
    yield e
    e.stop()


def wait_mail(emu, to: str) -> dict:
    r = httpx.get(emu.api + "/emulator/inbox/wait", params={"to": to, "since": 0, "timeout": 10}, timeout=20)
    assert r.status_code == 200, r.text
    return httpx.get(emu.api + f"/emulator/inbox/messages/{r.json()['id']}").json()


def send_otp(emu, with_nonce: bool = False):
    to = f"otp-{uuid.uuid4().hex[:8]}@example.com"
    r = emu.client().post("/auth/otp/send-sign-in-code", json={"email": to, "callback_url": CALLBACK})
    assert r.status_code == 200, r.text
    return (wait_mail(emu, to), r.json()["nonce"]) if with_nonce else wait_mail(emu, to)


def test_the_otp_is_shown_apart_from_the_link_code(emu):
    message, nonce = send_otp(emu, with_nonce=True)
    assert len(message["code"]) == 45  # the code in the link
    assert len(message["otp"]) == 6 and message["otp"] in message["subject"]  # what the reader sees
    signed_in = emu.client().post("/auth/otp/sign-in", json={"code": message["otp"] + nonce})
    assert signed_in.status_code == 200, signed_in.text  # and it is the code that signs in


def test_cc_is_listed_apart(emu):
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Cc"], mail["Subject"] = ("app@example.com", "main@example.com",
                                                            "Copy <copy@example.com>", "With a copy")
    mail.set_content("hello")
    with smtplib.SMTP("127.0.0.1", emu.smtp_port, timeout=10) as smtp:
        smtp.send_message(mail)
    message = wait_mail(emu, "copy@example.com")
    assert message["cc"] == ["copy@example.com"]
    assert sorted(message["to"]) == ["copy@example.com", "main@example.com"]  # every recipient, as before
    assert message["otp"] is None and message["code"] is None


def test_platform_mail_is_dated_on_the_emulator_clock(emu):
    advanced = httpx.post(emu.api + "/emulator/clock/advance", json={"duration": "400d"}).json()
    message = send_otp(emu)
    date = dict((n.lower(), v) for n, v in message["headers"])["date"]
    sent = email.utils.parsedate_to_datetime(date).timestamp() * 1000
    assert abs(sent - advanced["now_millis"]) < 60_000
    assert abs(message["created_at_millis"] - sent) < 60_000


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium binary on PATH")
def test_inbox_page_shows_otp_cc_and_emulator_dates(page):  # noqa: F811
    emu = start_emulator()
    try:
        advanced = httpx.post(emu.api + "/emulator/clock/advance", json={"duration": "30d"}).json()
        message = send_otp(emu)
        page.call("Page.navigate", url=emu.url + "/inbox")
        page.wait_for("document.querySelectorAll('#list .item[data-id]').length === 1", "the message in the list")
        page.eval("document.querySelector('#list .item[data-id]').click()")
        page.wait_for("!document.getElementById('message').hidden", "the message view")
        assert page.eval("document.getElementById('m-code').textContent") == message["otp"]
        assert page.eval("document.getElementById('m-link-code-value').textContent") == message["code"]
        date_text = page.eval("document.getElementById('m-date').textContent")
        assert "just now" in date_text  # dated on the emulator clock, 30 days ahead, and not "in the future"
        iso = page.eval("document.getElementById('m-date').getAttribute('datetime')")
        shown = datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000
        assert abs(shown - advanced["now_millis"]) < 60_000
        assert page.errors() == []
    finally:
        emu.stop()
