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


class Flaky:
    """aiosmtpd handler that answers DATA with the given replies in turn (the last one from then on)."""

    def __init__(self, *replies):
        self.replies = list(replies)
        self.calls = 0
        self.accepted = []

    async def handle_DATA(self, server, session, envelope):
        reply = self.replies[min(self.calls, len(self.replies) - 1)]
        self.calls += 1
        if reply.startswith("250"):
            self.accepted.append(envelope)
        return reply


@pytest.fixture()
def flaky_server():
    servers = []

    def start(*replies):
        handler = Flaky(*replies)
        controller = Controller(handler, hostname="127.0.0.1", port=free_port())
        controller.start()
        servers.append(controller)
        return controller, handler

    yield start
    for controller in servers:
        controller.stop()


def send_to_new_user(emu, email):
    with emu.server() as s:
        user_id = s.post("/users", json={"primary_email": email}).json()["id"]
        r = s.post("/emails/send-email", json={"user_ids": [user_id], "html": "<p>retry me</p>", "subject": "Retry"})
    assert r.status_code == 200, r.text
    return user_id


def outbox_item(emu, user_id):
    with emu.server() as s:
        return next(i for i in s.get("/emails/outbox").json()["items"] if i["to"]["user_id"] == user_id)


def wait_until(read, done, timeout=20.0):
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def advance_clock(emu, seconds):
    with emu.http() as h:
        assert h.post("/emulator/clock/advance", json={"seconds": seconds}).status_code == 200


def test_a_temporary_failure_is_retried_after_a_backoff(setup, flaky_server):
    emu, path = setup
    controller, handler = flaky_server("451 4.3.0 Try again later", "250 OK")
    configure(path, server_config(controller.port, username=None, password=None))
    email = fresh()
    user_id = send_to_new_user(emu, email)
    caught = inbox_message(emu, email)

    item = wait_until(lambda: outbox_item(emu, user_id), lambda i: i["send_retries"] == 1)
    assert item["status"] == "scheduled" and item["simple_status"] == "in-progress", item
    assert item["has_delivered"] is False and "delivered_at_millis" not in item
    # The platform's backoff after the first failure: 20 s x 2, times 0.5..1.5.
    wait = item["next_send_retry_at_millis"] - item["updated_at_millis"]
    assert 20_000 <= wait <= 60_000, wait
    error = item["send_attempt_errors"][0]
    assert error["attempt_number"] == 1 and "451" in error["external_message"]
    assert error["external_details"] == {"errorType": "TRANSIENT_NEGATIVE_COMPLETION_REPLY"}
    with emu.http() as h:
        relay = h.get(f"/emulator/inbox/messages/{caught['id']}").json()["relay"]
    assert relay["status"] == "retrying" and "451" in relay["error"]
    time.sleep(0.5)
    assert handler.calls == 1  # nothing before the retry time

    advance_clock(emu, 61)
    item = wait_until(lambda: outbox_item(emu, user_id), lambda i: i["status"] == "sent")
    assert item["status"] == "sent" and item["simple_status"] == "ok" and item["has_delivered"] is True, item
    assert item["send_retries"] == 1 and item["next_send_retry_at_millis"] is None
    assert len(item["send_attempt_errors"]) == 1
    assert handler.calls == 2 and handler.accepted[0].rcpt_tos == [email]
    assert settled_relay(emu, caught["id"])["status"] == "sent"
    with emu.http() as h:  # retries relay the caught message again; the inbox keeps its one copy
        assert len(h.get("/emulator/inbox/messages", params={"to": email}).json()["items"]) == 1


def test_a_permanent_failure_is_not_retried(setup, flaky_server):
    emu, path = setup
    controller, handler = flaky_server("554 5.7.1 Rejected", "250 OK")
    configure(path, server_config(controller.port, username=None, password=None))
    user_id = send_to_new_user(emu, fresh())
    item = wait_until(lambda: outbox_item(emu, user_id), lambda i: i["status"] == "server-error")
    assert item["status"] == "server-error" and item["send_retries"] == 1, item
    assert item["next_send_retry_at_millis"] is None and "554" in item["server_error"]
    assert item["send_attempt_errors"][0]["external_details"] == {"errorType": "REJECTED"}
    advance_clock(emu, 120)
    time.sleep(1)
    assert handler.calls == 1


def test_temporary_failures_end_after_five_attempts(setup, flaky_server):
    emu, path = setup
    controller, handler = flaky_server("450 4.2.1 Mailbox busy")
    configure(path, server_config(controller.port, username=None, password=None))
    user_id = send_to_new_user(emu, fresh())
    for attempt in range(1, 5):
        item = wait_until(lambda: outbox_item(emu, user_id), lambda i, n=attempt: i["send_retries"] == n)
        assert item["status"] == "scheduled" and item["send_retries"] == attempt, item
        assert item["next_send_retry_at_millis"] > item["updated_at_millis"]
        advance_clock(emu, 20 * 2 ** attempt * 1.5 + 1)
    item = wait_until(lambda: outbox_item(emu, user_id), lambda i: i["status"] == "server-error")
    assert item["status"] == "server-error" and item["send_retries"] == 5, item
    assert [e["attempt_number"] for e in item["send_attempt_errors"]] == [1, 2, 3, 4, 5]
    assert {e["external_details"]["errorType"] for e in item["send_attempt_errors"]} == {"TEMPORARY"}
    assert handler.calls == 5


def test_a_cancelled_email_is_not_retried(setup, flaky_server):
    emu, path = setup
    controller, handler = flaky_server("421 4.3.2 Shutting down", "250 OK")
    configure(path, server_config(controller.port, username=None, password=None))
    user_id = send_to_new_user(emu, fresh())
    item = wait_until(lambda: outbox_item(emu, user_id), lambda i: i["send_retries"] == 1)
    assert item["status"] == "scheduled", item
    with emu.server() as s:
        r = s.patch(f"/emails/outbox/{item['id']}", json={"cancel": True})
    assert r.status_code == 200, r.text
    advance_clock(emu, 61)
    time.sleep(1)
    item = outbox_item(emu, user_id)
    assert item["status"] == "skipped" and item["next_send_retry_at_millis"] is None
    assert handler.calls == 1


def test_platform_mail_outside_the_outbox_is_retried_too(setup, flaky_server):
    emu, path = setup
    controller, handler = flaky_server("452 4.3.1 Insufficient system storage", "250 OK")
    configure(path, server_config(controller.port, username=None, password=None))
    email = fresh()
    send_sign_in_code(emu, email)
    caught = inbox_message(emu, email)

    def relay():
        with emu.http() as h:
            return h.get(f"/emulator/inbox/messages/{caught['id']}").json()["relay"]

    assert wait_until(relay, lambda r: r["status"] == "retrying")["error"].startswith("the server answered 452")
    advance_clock(emu, 61)
    assert wait_until(relay, lambda r: r["status"] == "sent") == {
        "status": "sent", "server": f"127.0.0.1:{controller.port}", "error": None}
    assert handler.calls == 2 and handler.accepted[0].rcpt_tos == [email]


def test_a_retry_waiting_at_a_restart_relays_the_caught_copy_again(tmp_path, flaky_server):
    """Stopped while a relay retry waits: the restarted emulator's outbox worker relays the message it caught,
    when the retry is due, rather than catching the email a second time."""
    controller, handler = flaky_server("451 4.3.0 Try again later", "250 OK")
    path = write_config({})
    configure(path, server_config(controller.port, username=None, password=None))
    data_dir = tmp_path / "data"
    email = fresh()
    emu = start_emulator("--data-dir", str(data_dir), config=path, in_memory=False)
    try:
        user_id = send_to_new_user(emu, email)
        caught = inbox_message(emu, email)
        item = wait_until(lambda: outbox_item(emu, user_id), lambda i: i["send_retries"] == 1)
        assert item["status"] == "scheduled", item
    finally:
        emu.stop()
    emu = start_emulator("--data-dir", str(data_dir), config=path, in_memory=False)
    try:
        time.sleep(0.5)
        assert handler.calls == 1 and outbox_item(emu, user_id)["status"] == "scheduled"  # not before its time
        advance_clock(emu, 61)
        item = wait_until(lambda: outbox_item(emu, user_id), lambda i: i["status"] == "sent")
        assert item["status"] == "sent" and item["send_retries"] == 1 and item["has_delivered"] is True, item
        assert handler.calls == 2 and handler.accepted[0].rcpt_tos == [email]
        assert settled_relay(emu, caught["id"])["status"] == "sent"
        with emu.http() as h:
            assert [m["id"] for m in h.get("/emulator/inbox/messages", params={"to": email}).json()["items"]] == [
                caught["id"]]
    finally:
        emu.stop()


def test_platform_mail_waiting_for_a_retry_at_a_restart_is_relayed_after_it(tmp_path, flaky_server):
    """Outside the outbox (a sign-in code), the retry time lived only in the stopped process: the restarted
    emulator relays the caught copy at once."""
    controller, handler = flaky_server("452 4.3.1 Insufficient system storage", "250 OK")
    path = write_config({})
    configure(path, server_config(controller.port, username=None, password=None))
    data_dir = tmp_path / "data"
    email = fresh()

    def relay(emu, message_id):
        with emu.http() as h:
            return h.get(f"/emulator/inbox/messages/{message_id}").json()["relay"]

    emu = start_emulator("--data-dir", str(data_dir), config=path, in_memory=False)
    try:
        send_sign_in_code(emu, email)
        caught = inbox_message(emu, email)
        assert wait_until(lambda: relay(emu, caught["id"]), lambda r: r["status"] == "retrying")["status"] == "retrying"
    finally:
        emu.stop()
    emu = start_emulator("--data-dir", str(data_dir), config=path, in_memory=False)
    try:
        assert wait_until(lambda: relay(emu, caught["id"]), lambda r: r["status"] == "sent")["status"] == "sent"
        assert handler.calls == 2 and handler.accepted[0].rcpt_tos == [email]
        with emu.http() as h:
            assert len(h.get("/emulator/inbox/messages", params={"to": email}).json()["items"]) == 1
    finally:
        emu.stop()
