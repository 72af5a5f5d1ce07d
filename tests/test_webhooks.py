"""Webhooks, against a real emulator and a real receiver: every delivery is verified with the official `svix`
package, the endpoints are managed with the official Svix client (custom server URL), retries run on the emulator
clock, an endpoint failing for 5 days is disabled, endpoints declared in hexclave.config.py use the secret the
banner prints, and the deliveries API long-polls.

Reference: apps/backend/src/lib/webhooks.tsx and the CRUD handlers that call it (users, teams, team-memberships,
team-permissions, project-permissions), internal/send-test-webhook, webhooks/svix-token; the suite's
Webhook helpers (backend-helpers.ts) read deliveries back through the Svix API.
"""
from __future__ import annotations

import json
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from svix.api import EndpointIn, EndpointPatch, EndpointSecretRotateIn, MessageAttemptListByEndpointOptions, MessageGetOptions, Svix, SvixOptions
from svix.webhooks import Webhook, WebhookVerificationError

from support import start_emulator, wait_for
from test_config_api import key_set
from wire import SERVER_USER_KEYS, fresh_email

CONFIG_SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


class Receiver:
    """An HTTP server that records every POST and answers with `status` (changeable while it runs)."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.status = 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                receiver.requests.append({"path": self.path, "headers": dict(self.headers), "body": body,
                                          "at": time.monotonic()})
                self.send_response(receiver.status)
                self.end_headers()
                self.wfile.write(b"received" if receiver.status < 300 else b"nope")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_port}{path}"

    def at(self, path: str) -> list[dict]:
        return [r for r in self.requests if r["path"] == path]

    def events(self, path: str, secret: str) -> list[dict]:
        """The verified payloads received on `path` (a forged or garbled one fails the test)."""
        return [verified(r, secret) for r in self.at(path)]


def verified(request: dict, secret: str) -> dict:
    Webhook(secret).verify(request["body"], request["headers"])
    return json.loads(request["body"])


@pytest.fixture(scope="module")
def receiver():
    r = Receiver()
    yield r
    r.server.shutdown()


@pytest.fixture(scope="module")
def emu(receiver):
    """An emulator of its own (the tests move its clock), with an endpoint declared in its config file."""
    folder = Path(tempfile.mkdtemp(prefix="hexclave-webhooks-"))
    config = {"rbac": {"permissions": {"read_reports": {"scope": "project"}}},
              "emulatorWebhookEndpoints": {"my-app": {"url": receiver.url("/declared"),
                                                      "eventTypes": {"user.created": True}}}}
    (folder / "hexclave.config.py").write_text(f"config = {config!r}\n")
    e = start_emulator("--data-dir", str(folder / "data"), "--svix-port", "0", config=folder / "hexclave.config.py",
                       in_memory=False, env={"HEXCLAVE_WEBHOOK_SECRET": CONFIG_SECRET})
    e.admin_key, e.server_key = key_set(folder / "data", e.project_id)
    yield e
    e.stop()


def api(emu, access: str) -> httpx.Client:
    key = {"admin": ("super-secret-admin-key", emu.admin_key), "server": ("secret-server-key", emu.server_key)}[access]
    return httpx.Client(base_url=emu.api, timeout=30, headers={
        "x-stack-project-id": emu.project_id, "x-stack-access-type": access, f"x-stack-{key[0]}": key[1]})


def svix_token(emu) -> str:
    r = api(emu, "admin").post("/webhooks/svix-token", json={})
    assert r.status_code == 201 and set(r.json()) == {"token"}
    return r.json()["token"]


def svix_client(emu) -> Svix:
    return Svix(svix_token(emu), SvixOptions(server_url=emu.url))


def new_endpoint(emu, receiver: Receiver, path: str, **fields):
    svix = svix_client(emu)
    ep = svix.endpoint.create(emu.project_id, EndpointIn(url=receiver.url(path), **fields))
    return svix, ep, svix.endpoint.get_secret(emu.project_id, ep.id).key


def advance(emu, seconds: float) -> None:
    r = httpx.post(emu.api + "/emulator/clock/advance", json={"seconds": seconds}, timeout=120)
    assert r.status_code == 200, r.text


def test_banner_prints_the_config_endpoint_secret(emu):
    assert emu.env["HEXCLAVE_WEBHOOK_SECRET"] == emu.env["STACK_WEBHOOK_SECRET"] == CONFIG_SECRET


def test_every_delivery_is_signed_and_shaped_like_the_platforms(emu, receiver):
    svix, ep, secret = new_endpoint(emu, receiver, "/all")
    assert ep.id.startswith("ep_") and ep.url == receiver.url("/all") and not ep.disabled
    server = api(emu, "server")
    email = fresh_email()
    user = server.post("/users", json={"primary_email": email}).json()
    team = server.post("/teams", json={"display_name": "Ops"}).json()
    assert server.patch(f"/teams/{team['id']}", json={"display_name": "Ops 2"}).status_code == 200
    assert server.post(f"/team-memberships/{team['id']}/{user['id']}", json={}).status_code == 201
    assert server.post(f"/team-permissions/{team['id']}/{user['id']}/team_admin", json={}).status_code == 201
    assert server.delete(f"/team-permissions/{team['id']}/{user['id']}/team_admin").status_code == 200
    assert server.post(f"/project-permissions/{user['id']}/read_reports", json={}).status_code == 201
    assert server.delete(f"/project-permissions/{user['id']}/read_reports").status_code == 200
    assert server.patch(f"/users/{user['id']}", json={"display_name": "Ada"}).status_code == 200
    assert server.delete(f"/team-memberships/{team['id']}/{user['id']}").status_code == 200
    assert server.post(f"/team-memberships/{team['id']}/{user['id']}", json={}).status_code == 201
    assert server.delete(f"/users/{user['id']}").status_code == 200
    assert server.delete(f"/teams/{team['id']}").status_code == 200

    expected = ["user.created", "team.created", "team.updated", "team_membership.created", "team_permission.created",
                "team_permission.created", "team_permission.deleted", "project_permission.created",
                "project_permission.deleted", "user.updated", "team_membership.deleted", "team_membership.created",
                "team_permission.created", "team_membership.deleted", "user.deleted", "team.deleted"]
    assert wait_for(lambda: len(receiver.at("/all")) >= len(expected), 10)
    events = receiver.events("/all", secret)
    assert sorted(e["type"] for e in events) == sorted(expected)  # each POST runs on its own: order may vary
    by_type = {}
    for e in events:
        by_type.setdefault(e["type"], []).append(e["data"])
    created = by_type["user.created"][0]
    assert set(created) == SERVER_USER_KEYS and created["id"] == user["id"] and created["primary_email"] == email
    assert by_type["user.updated"][0]["display_name"] == "Ada"
    assert by_type["user.deleted"] == [{"id": user["id"], "teams": [{"id": team["id"]}]}]
    assert by_type["team.updated"][0] == {**team, "display_name": "Ops 2"}
    assert by_type["team.deleted"] == [{"id": team["id"]}]
    assert {"id": "team_member", "team_id": team["id"], "user_id": user["id"]} in by_type["team_permission.created"]
    assert by_type["project_permission.created"] == [{"id": "read_reports", "user_id": user["id"]}]
    first = receiver.at("/all")[0]["headers"]
    assert first["svix-id"].startswith("msg_") and len(first["svix-id"]) == 31
    assert abs(int(first["svix-timestamp"]) - time.time()) < 60  # wall-clock time: what receivers check
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "A" * 32).verify(receiver.at("/all")[0]["body"], first)

    # The Svix API gives the same messages and attempts back, as the platform's suite reads them. An attempt is
    # stored once the receiver has answered, so the last ones may land just after the receiver saw the requests.
    def attempts_now():
        return svix.message_attempt.list_by_endpoint(emu.project_id, ep.id,
                                                     MessageAttemptListByEndpointOptions(limit=100)).data

    assert wait_for(lambda: len(attempts_now()) >= len(expected), 10)
    attempts = attempts_now()
    assert len(attempts) == len(expected) and all(a.status == 0 and a.response_status_code == 200 for a in attempts)
    assert svix.message.get(emu.project_id, attempts[0].msg_id).payload == {}  # v2 SDKs ask for no content
    msg = svix.message.get(emu.project_id, attempts[0].msg_id, MessageGetOptions(with_content=True))
    assert msg.event_type == msg.payload["type"] and msg.id == attempts[0].msg_id
    raw = httpx.get(f"{emu.api}/app/{emu.project_id}/msg/{msg.id}?with_content=true",
                    headers={"authorization": f"Bearer {svix_token(emu)}"}).json()
    assert set(raw) == {"channels", "eventId", "eventType", "id", "payload", "timestamp"}
    svix.endpoint.delete(emu.project_id, ep.id)


def test_a_rolled_back_write_announces_nothing(emu, receiver):
    svix, ep, secret = new_endpoint(emu, receiver, "/rollback")
    server = api(emu, "server")
    bad = server.post("/users", json={"primary_email": fresh_email(),
                                      "oauth_providers": [{"id": "nope", "account_id": "1"}]})
    assert bad.status_code == 400
    good = server.post("/teams", json={"display_name": "After"}).json()
    assert wait_for(lambda: receiver.at("/rollback"), 5)
    time.sleep(0.3)
    assert [e["data"]["id"] for e in receiver.events("/rollback", secret)] == [good["id"]]
    svix.endpoint.delete(emu.project_id, ep.id)


def test_endpoint_filters_update_and_secret_rotation(emu, receiver):
    svix, ep, old_secret = new_endpoint(emu, receiver, "/teams-only", event_types=["team.created"], uid="teams-only")
    assert svix.endpoint.get(emu.project_id, "teams-only").id == ep.id  # by uid, as Svix allows
    server = api(emu, "server")
    server.post("/users", json={"primary_email": fresh_email()})
    team = server.post("/teams", json={"display_name": "Filtered"}).json()
    assert wait_for(lambda: receiver.at("/teams-only"), 5)
    assert [e["data"]["id"] for e in receiver.events("/teams-only", old_secret)] == [team["id"]]

    svix.endpoint.rotate_secret(emu.project_id, ep.id, EndpointSecretRotateIn())
    new_secret = svix.endpoint.get_secret(emu.project_id, ep.id).key
    assert new_secret != old_secret and new_secret.startswith("whsec_")
    server.post("/teams", json={"display_name": "Rotated"})
    assert wait_for(lambda: len(receiver.at("/teams-only")) == 2, 5)
    last = receiver.at("/teams-only")[-1]
    verified(last, new_secret)
    verified(last, old_secret)  # the old secret still signs during the grace period
    assert len(last["headers"]["svix-signature"].split(" ")) == 2

    patched = svix.endpoint.patch(emu.project_id, ep.id, EndpointPatch(description="teams"))
    assert patched.description == "teams" and patched.url == ep.url
    svix.endpoint.delete(emu.project_id, ep.id)
    r = httpx.get(f"{emu.api}/app/{emu.project_id}/endpoint/{ep.id}",
                  headers={"authorization": f"Bearer {svix_token(emu)}"})
    assert r.status_code == 404 and r.json()["code"] == "not_found"


def test_management_api_errors(emu):
    base = f"{emu.api}/app/{emu.project_id}/endpoint"
    assert httpx.get(base).status_code == 401
    assert httpx.get(base, headers={"authorization": "Bearer forged"}).json()["code"] == "authentication_failed"
    token = {"authorization": f"Bearer {svix_token(emu)}"}
    bad = httpx.post(base, json={"url": "not a url"}, headers=token)
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "url"]
    assert httpx.get(f"{emu.api}/app/internal/endpoint", headers=token).status_code == 403


def test_svix_port_serves_the_same_api(emu):
    port = int(next(line for line in emu.banner if "Svix API:" in line).rsplit(":", 1)[1].split("/")[0])
    r = httpx.get(f"http://127.0.0.1:{port}/api/v1/app/{emu.project_id}/endpoint",
                  headers={"authorization": f"Bearer {svix_token(emu)}"})
    assert r.status_code == 200 and r.json()["done"] is True and isinstance(r.json()["data"], list)


def test_config_declared_endpoint_uses_the_printed_secret(emu, receiver):
    listed = svix_client(emu).endpoint.list(emu.project_id).data
    declared = next(ep for ep in listed if ep.uid == "my-app")
    assert declared.url == receiver.url("/declared") and declared.event_types == ["user.created"]
    user = api(emu, "server").post("/users", json={"primary_email": fresh_email()}).json()
    assert wait_for(lambda: any(e["data"]["id"] == user["id"] for e in receiver.events("/declared", CONFIG_SECRET)), 5)
    assert {e["type"] for e in receiver.events("/declared", CONFIG_SECRET)} == {"user.created"}


def test_send_test_webhook(emu, receiver):
    svix, ep, secret = new_endpoint(emu, receiver, "/test")
    admin = api(emu, "admin")
    assert admin.post("/internal/send-test-webhook", json={"endpoint_id": ep.id}).json() == {"success": True}
    [event] = receiver.events("/test", secret)
    assert event["type"] == "stack.test" and event["data"]["endpointUrl"] == receiver.url("/test")
    missing = admin.post("/internal/send-test-webhook", json={"endpoint_id": "ep_missing"}).json()
    assert missing["success"] is False and missing["error_message"]
    receiver.status = 500
    try:
        assert admin.post("/internal/send-test-webhook", json={"endpoint_id": ep.id}).json()["success"] is False
    finally:
        receiver.status = 200
    svix.endpoint.delete(emu.project_id, ep.id)


def test_deliveries_api_long_polls(emu, receiver):
    svix, ep, _ = new_endpoint(emu, receiver, "/poll")
    since = httpx.get(emu.api + "/emulator/clock").json()["now_millis"]
    results = {}

    def poll():
        results["r"] = httpx.get(emu.api + "/emulator/webhooks/deliveries",
                                 params={"since": since, "endpoint_id": ep.id, "wait": 10}, timeout=20)

    waiter = threading.Thread(target=poll)
    waiter.start()
    time.sleep(0.3)
    assert waiter.is_alive()  # nothing delivered yet: still waiting
    team = api(emu, "server").post("/teams", json={"display_name": "Polled"}).json()
    waiter.join(10)
    [item] = results["r"].json()["items"]
    assert item["event_type"] == "team.created" and item["payload"]["data"]["id"] == team["id"]
    assert item["status"] == "success" and item["response_status_code"] == 200 and item["response"] == "received"
    empty = httpx.get(emu.api + "/emulator/webhooks/deliveries", params={"since": 10 ** 15, "wait": 0.2})
    assert empty.json()["items"] == []
    assert httpx.get(emu.api + "/emulator/webhooks/deliveries", params={"wait": "soon"}).status_code == 400
    svix.endpoint.delete(emu.project_id, ep.id)


def test_failing_receiver_gets_svix_retries_on_the_clock_then_is_disabled(emu, receiver):
    svix, ep, secret = new_endpoint(emu, receiver, "/failing")
    receiver.status = 503
    try:
        team = api(emu, "server").post("/teams", json={"display_name": "Retried"}).json()
        assert wait_for(lambda: len(receiver.at("/failing")) == 1, 5)
        time.sleep(0.3)
        assert len(receiver.at("/failing")) == 1  # the next try waits 5 s on the emulator clock
        advance(emu, 5)
        assert len(receiver.at("/failing")) == 2
        advance(emu, 3600)  # 5 min and 30 min fall due: both go out
        assert len(receiver.at("/failing")) == 4
        advance(emu, 2 * 86400)  # the rest of the schedule: 8 attempts in all, then the message has failed
        assert len(receiver.at("/failing")) == 8
        advance(emu, 86400)
        assert len(receiver.at("/failing")) == 8
        assert all(verified(r, secret)["data"]["id"] == team["id"] for r in receiver.at("/failing"))
        attempts = svix.message_attempt.list_by_endpoint(emu.project_id, ep.id).data
        assert len(attempts) == 8 and {a.status for a in attempts} == {2} and attempts[0].response_status_code == 503
        assert not svix.endpoint.get(emu.project_id, ep.id).disabled  # failing for 3 days so far

        # Still failing two days on: disabled, and later events no longer go there.
        advance(emu, 2 * 86400)
        api(emu, "server").post("/teams", json={"display_name": "Still failing"})
        assert wait_for(lambda: len(receiver.at("/failing")) == 9, 5)
        assert wait_for(lambda: svix.endpoint.get(emu.project_id, ep.id).disabled, 5)
        api(emu, "server").post("/teams", json={"display_name": "Not sent"})
        time.sleep(0.5)
        assert len(receiver.at("/failing")) == 9
    finally:
        receiver.status = 200

    # Resend (the Replay button) after the receiver is fixed: a manual attempt that succeeds.
    msg_id = attempts[0].msg_id
    svix.message_attempt.resend(emu.project_id, msg_id, ep.id)
    assert wait_for(lambda: len(receiver.at("/failing")) == 10, 5)
    assert wait_for(lambda: any(a.trigger_type == 1 and a.status == 0 for a in
                                svix.message_attempt.list_by_msg(emu.project_id, msg_id).data), 5)
    svix.endpoint.delete(emu.project_id, ep.id)


def test_a_retry_survives_a_restart(receiver, tmp_path):
    """Deliveries live in the data file: one that failed before a stop is retried by the next run, on time."""
    folder = tmp_path / "data"
    first = start_emulator("--data-dir", str(folder), in_memory=False)
    try:
        first.admin_key, first.server_key = key_set(folder, first.project_id)
        svix, ep, secret = new_endpoint(first, receiver, "/restart")
        receiver.status = 500
        api(first, "server").post("/teams", json={"display_name": "Before the stop"})
        assert wait_for(lambda: len(receiver.at("/restart")) == 1, 5)
        time.sleep(0.3)  # the failure is recorded, with its retry 5 s later
    finally:
        first.stop()
        receiver.status = 200
    second = start_emulator("--data-dir", str(folder), in_memory=False)
    try:
        advance(second, 5)
        assert len(receiver.at("/restart")) == 2
        assert verified(receiver.at("/restart")[1], secret)["data"]["display_name"] == "Before the stop"
    finally:
        second.stop()


def test_joining_through_an_invitation_is_announced(emu, receiver):
    """Accepting an invitation joins through the platform's membership create: announced with its permission."""
    svix, ep, secret = new_endpoint(emu, receiver, "/invited", event_types=["team_membership.created",
                                                                            "team_permission.created"])
    server = api(emu, "server")
    email = fresh_email()
    user = server.post("/users", json={"primary_email": email, "primary_email_verified": True}).json()
    team = server.post("/teams", json={"display_name": "Inviting"}).json()
    sent = server.post("/team-invitations/send-code", json={"team_id": team["id"], "email": email,
                                                            "callback_url": "http://localhost:3000/invite"})
    assert sent.status_code == 200, sent.text
    [invitation] = server.get("/team-invitations", params={"user_id": user["id"]}).json()["items"]
    accepted = server.post(f"/team-invitations/{invitation['id']}/accept", params={"user_id": user["id"]}, json={})
    assert accepted.status_code == 200, accepted.text
    assert wait_for(lambda: len(receiver.at("/invited")) == 2, 5)
    assert sorted((e["type"], e["data"].get("id")) for e in receiver.events("/invited", secret)) == [
        ("team_membership.created", None), ("team_permission.created", "team_member")]
    svix.endpoint.delete(emu.project_id, ep.id)


def test_an_endpoint_added_after_events_without_any_gets_the_next_ones(receiver):
    """Events of a project without endpoints skip the endpoint query until the endpoints table changes: an endpoint
    created afterwards (and one restored from a snapshot) receives the very next event."""
    folder = Path(tempfile.mkdtemp(prefix="hexclave-webhooks-none-"))
    (folder / "hexclave.config.py").write_text("config = {}\n")
    e = start_emulator("--data-dir", str(folder / "data"), config=folder / "hexclave.config.py", in_memory=False)
    try:
        e.admin_key, e.server_key = key_set(folder / "data", e.project_id)
        server = api(e, "server")
        for _ in range(2):  # announced to no endpoint
            assert server.post("/users", json={"primary_email": fresh_email()}).status_code == 201
        svix, ep, secret = new_endpoint(e, receiver, "/added-later")
        user = server.post("/users", json={"primary_email": fresh_email()}).json()
        assert wait_for(lambda: receiver.at("/added-later"), 10)
        assert receiver.events("/added-later", secret)[0]["data"]["id"] == user["id"]
        assert httpx.post(e.api + "/emulator/snapshots", json={"name": "with-endpoint"}).status_code == 201
        svix.endpoint.delete(e.project_id, ep.id)
        assert server.post("/users", json={"primary_email": fresh_email()}).status_code == 201  # to no endpoint
        assert httpx.post(e.api + "/emulator/snapshots/with-endpoint/restore").status_code == 200
        user = server.post("/users", json={"primary_email": fresh_email()}).json()
        assert wait_for(lambda: len(receiver.at("/added-later")) >= 2, 10)
        assert receiver.events("/added-later", secret)[1]["data"]["id"] == user["id"]
    finally:
        e.stop()
