"""Relaying platform mail to the project's own SMTP server (`emails.server`): a second, real SMTP server (aiosmtpd)
runs in the test on a free loopback port; the emulator keeps its inbox copy whatever the relay does."""
import threading
import time
import uuid

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from support import free_port, start_emulator
from wire import write_config

CALLBACK = "http://localhost:3000/handler/callback"
USERNAME, PASSWORD = "relay-user", "relay-secret"


class Received:
    """aiosmtpd handler of the test's own SMTP server: keeps every envelope, with who logged in."""

    def __init__(self):
        self.envelopes = []
        self.logins = []
        self.arrived = threading.Condition()

    async def handle_DATA(self, server, session, envelope):
        with self.arrived:
            self.envelopes.append(envelope)
            self.arrived.notify_all()
        return "250 OK relayed"

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
            USERNAME.encode(), PASSWORD.encode())
        self.logins.append((auth_data.login.decode(), ok))
        return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535 itself

    def wait_for(self, recipient, timeout=10.0):
        deadline = time.monotonic() + timeout
        with self.arrived:
            while True:
                found = [e for e in self.envelopes if recipient in e.rcpt_tos]
                if found:
                    return found[-1]
                if not self.arrived.wait(max(0.0, deadline - time.monotonic())):
                    raise AssertionError(f"nothing relayed to {recipient}")


@pytest.fixture(scope="module")
def relay_server():
    handler = Received()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(), authenticator=handler.authenticate,
                            auth_require_tls=False)
    controller.start()
    yield controller, handler
    controller.stop()


@pytest.fixture(scope="module")
def setup(relay_server):
    """One emulator whose config file each test rewrites (the emulator applies it to the next request)."""
    path = write_config({})
    emu = start_emulator(config=path)
    yield emu, path
    emu.stop()


def configure(path, server):
    path.write_text(f"config = {{'auth': {{'otp': {{'allowSignIn': True}}}}, 'emails': {{'server': {server!r}}}}}\n")
    time.sleep(0.02)  # a distinct modification time, so the next request sees the new file


def fresh():
    return f"relay-{uuid.uuid4().hex[:12]}@example.com"


def send_sign_in_code(emu, email):
    with emu.client() as c:
        r = c.post("/auth/otp/send-sign-in-code", json={"email": email, "callback_url": CALLBACK})
    assert r.status_code == 200, r.text


def inbox_message(emu, email):
    with emu.http() as h:
        r = h.get("/emulator/inbox/wait", params={"to": email, "since": 0, "timeout": 10})
    assert r.status_code == 200, r.text
    return r.json()


def settled_relay(emu, message_id, timeout=20.0):
    """The message's relay once it is no longer `sending`."""
    deadline = time.monotonic() + timeout
    with emu.http() as h:
        while True:
            relay = h.get(f"/emulator/inbox/messages/{message_id}").json()["relay"]
            if relay["status"] != "sending" or time.monotonic() > deadline:
                return relay
            time.sleep(0.05)


def server_config(port, **over):
    return {"isShared": False, "host": "127.0.0.1", "port": port, "username": USERNAME, "password": PASSWORD,
            "senderName": "Acme Mail", "senderEmail": "mail@acme.test", **over}


def test_platform_mail_is_caught_and_relayed(setup, relay_server):
    emu, path = setup
    controller, handler = relay_server
    configure(path, server_config(controller.port))
    email = fresh()
    send_sign_in_code(emu, email)

    caught = inbox_message(emu, email)
    assert caught["from"] == "Acme Mail <mail@acme.test>"  # the project's own sender, as upstream
    assert caught["relay"]["server"] == f"127.0.0.1:{controller.port}"
    envelope = handler.wait_for(email)
    assert envelope.mail_from == "mail@acme.test" and envelope.rcpt_tos == [email]
    assert (USERNAME, True) in handler.logins
    with emu.http() as h:
        raw = h.get(f"/emulator/inbox/messages/{caught['id']}/raw").content
    assert envelope.original_content.replace(b"\r\n", b"\n") == raw.replace(b"\r\n", b"\n")  # the same message
    assert settled_relay(emu, caught["id"]) == {"status": "sent", "server": f"127.0.0.1:{controller.port}",
                                                "error": None}
    with emu.http() as h:
        listed = h.get("/emulator/inbox/messages", params={"to": email}).json()["items"]
    assert listed[0]["relay"]["status"] == "sent"


def test_shared_server_means_no_relay(setup, relay_server):
    emu, path = setup
    controller, handler = relay_server
    configure(path, {**server_config(controller.port), "isShared": True})
    email = fresh()
    send_sign_in_code(emu, email)
    caught = inbox_message(emu, email)
    assert caught["relay"] is None and caught["from"].endswith("<noreply@example.com>")
    configure(path, {"isShared": False})  # own server without a host: nothing to relay to either
    other = fresh()
    send_sign_in_code(emu, other)
    assert inbox_message(emu, other)["relay"] is None
    assert not [e for e in handler.envelopes if {email, other} & set(e.rcpt_tos)]


def test_send_email_outbox_item_is_sent_and_relayed(setup, relay_server):
    emu, path = setup
    controller, handler = relay_server
    configure(path, server_config(controller.port))
    email = fresh()
    with emu.server() as s:
        user_id = s.post("/users", json={"primary_email": email}).json()["id"]
        r = s.post("/emails/send-email", json={"user_ids": [user_id], "html": "<p>relay me</p>", "subject": "Relayed"})
        assert r.status_code == 200, r.text
    caught = inbox_message(emu, email)
    assert settled_relay(emu, caught["id"])["status"] == "sent"
    assert handler.wait_for(email).rcpt_tos == [email]
    with emu.server() as s:
        item = next(i for i in s.get("/emails/outbox").json()["items"] if i["to"]["user_id"] == user_id)
    assert item["status"] == "sent" and item["simple_status"] == "ok" and item["has_delivered"] is True


@pytest.mark.parametrize("case", ["refused", "bad-password", "own-port"])
def test_failed_relay_keeps_the_inbox_copy_and_is_recorded(setup, relay_server, case):
    emu, path = setup
    controller, _ = relay_server
    server, expected = {
        "refused": (server_config(free_port()), "connection refused"),
        "bad-password": (server_config(controller.port, password="wrong"), "authentication failed (535"),
        "own-port": (server_config(emu.smtp_port, host="localhost"), "hexclave-emulator's own SMTP port"),
    }[case]
    configure(path, server)
    email = fresh()
    with emu.server() as s:
        user_id = s.post("/users", json={"primary_email": email}).json()["id"]
        r = s.post("/emails/send-email", json={"user_ids": [user_id], "html": "<p>x</p>", "subject": "Doomed"})
    assert r.status_code == 200, r.text  # a relay failure is never the request's failure

    caught = inbox_message(emu, email)
    relay = settled_relay(emu, caught["id"])
    assert relay["status"] == "failed" and expected in relay["error"], relay
    with emu.server() as s:
        item = next(i for i in s.get("/emails/outbox").json()["items"] if i["to"]["user_id"] == user_id)
    assert item["status"] == "server-error" and item["simple_status"] == "error" and item["has_delivered"] is False
    assert expected in item["server_error"] and item["error_at_millis"] >= item["created_at_millis"]
    assert item["send_attempt_errors"][0]["attempt_number"] == 1
    with emu.http() as h:  # exactly one copy, also when the target was the emulator itself
        assert len(h.get("/emulator/inbox/messages", params={"to": email}).json()["items"]) == 1
        assert h.delete(f"/emulator/inbox/messages/{caught['id']}").json() == {"success": True}


def test_server_config_is_validated():
    server = {"isShared": False, "hots": "smtp.example.com", "port": "587", "provider": "carrier-pigeon"}
    with pytest.raises(RuntimeError) as failed:
        start_emulator(config=write_config({"emails": {"server": server}}))
    for reason in ("emails.server.hots: unknown key", "emails.server.port: expected an integer",
                   "emails.server.provider: must be one of"):
        assert reason in str(failed.value)


def test_send_test_email_tries_a_server_configuration(setup, relay_server):
    emu, _ = setup
    controller, handler = relay_server
    config = {"host": "127.0.0.1", "port": controller.port, "username": USERNAME, "password": PASSWORD,
              "sender_name": "Acme", "sender_email": "no-reply@acme.test"}
    recipient = fresh()
    with emu.http("admin", project_id="internal") as admin:
        r = admin.post("/internal/send-test-email", json={"recipient_email": recipient, "email_config": config})
        assert r.status_code == 200 and r.json() == {"success": True}, r.text
        assert handler.wait_for(recipient).rcpt_tos == [recipient]
        r = admin.post("/internal/send-test-email", json={"recipient_email": recipient,
                                                          "email_config": {**config, "password": "wrong"}})
        assert r.json()["success"] is False and "authentication failed (535" in r.json()["error_message"]
        r = admin.post("/internal/send-test-email", json={"recipient_email": recipient})
        assert r.status_code == 400 and r.json()["code"] == "SCHEMA_ERROR"
    with emu.http() as h:  # straight to the server: the inbox does not catch it
        assert h.get("/emulator/inbox/messages", params={"to": recipient}).json()["items"] == []
