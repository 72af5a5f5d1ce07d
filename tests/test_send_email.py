"""Send-email, the outbox, delivery info, capacity boost, notification preferences and unsubscribe links."""
import re
import time
import uuid

TRANSACTIONAL = "7bb82d33-2f54-4a3d-9d23-82739e0d66ef"
MARKETING = "4f6f8873-3d04-46bd-8bef-18338b1a1b4c"
MAGIC_LINK_TEMPLATE = "822687fe-8d0a-4467-a0d1-416b6e639478"
DARK_THEME = "a0172b5d-cff0-463b-83bb-85124697373a"


def fresh_email():
    return f"send-{uuid.uuid4().hex[:12]}@example.com"


def make_user(emu, email=None, **fields):
    body = {"display_name": "Mail Tester", **fields}
    if email:
        body.update(primary_email=email, primary_email_verified=True)
    with emu.server() as s:
        r = s.post("/users", json=body)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def wait_mail(emu, to, subject=""):
    with emu.http() as h:
        r = h.get("/emulator/inbox/wait", params={"to": to, "subject": subject, "since": 0, "timeout": 10})
    assert r.status_code == 200, r.text
    return r.json()


def ke(r, status, code):
    assert r.status_code == status, r.text
    assert r.headers["x-stack-known-error"] == code
    return r.json()


def outbox_items(emu, **params):
    with emu.server() as s:
        r = s.get("/emails/outbox", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def item_for(emu, user_id, timeout=10.0):
    """The user's outbox email once the outbox worker has rendered and sent (or skipped) it."""
    deadline = time.monotonic() + timeout
    while True:
        item = next(i for i in outbox_items(emu)["items"] if i["to"]["user_id"] == user_id)
        due = item["status"] == "scheduled" and item["scheduled_at_millis"] <= time.time() * 1000
        if (item["status"] not in ("preparing", "rendering") and not due) or time.monotonic() > deadline:
            return item
        time.sleep(0.05)


# ---- notification preferences -----------------------------------------------------------------------------------

def test_preferences_default_list_and_update(emu):
    user_id = make_user(emu, fresh_email())
    with emu.server() as s:
        r = s.get(f"/emails/notification-preference/{user_id}")
        assert r.status_code == 200, r.text
        assert r.json() == {"is_paginated": False, "items": [
            {"notification_category_id": TRANSACTIONAL, "notification_category_name": "Transactional",
             "enabled": True, "can_disable": False},
            {"notification_category_id": MARKETING, "notification_category_name": "Marketing",
             "enabled": True, "can_disable": True}]}
        r = s.patch(f"/emails/notification-preference/{user_id}/{MARKETING}", json={"enabled": False})
        assert r.status_code == 200, r.text
        assert r.json() == {"notification_category_id": MARKETING, "notification_category_name": "Marketing",
                            "enabled": False, "can_disable": True}
        assert s.get(f"/emails/notification-preference/{user_id}").json()["items"][1]["enabled"] is False

        r = s.patch(f"/emails/notification-preference/{user_id}/{uuid.uuid4()}", json={"enabled": False})
        assert r.status_code == 404 and r.text == "Notification category not found"
        r = s.patch(f"/emails/notification-preference/{user_id}/{TRANSACTIONAL}", json={"enabled": False})
        assert r.status_code == 400 and "cannot be disabled" in r.text
        r = s.patch(f"/emails/notification-preference/{user_id}/{MARKETING}", json={"enabled": "maybe"})
        assert r.json()["code"] == "SCHEMA_ERROR"
        r = s.patch(f"/emails/notification-preference/{user_id}/not-a-uuid", json={"enabled": True})
        assert r.json()["code"] == "SCHEMA_ERROR"


def test_preferences_client_only_for_itself(emu):
    email = fresh_email()
    other = make_user(emu, fresh_email())
    with emu.client() as c:
        tokens = c.post("/auth/password/sign-up", json={"email": email, "password": "password123"}).json()
    with emu.client(access_token=tokens["access_token"]) as me:
        r = me.get("/emails/notification-preference/me")
        assert r.status_code == 200 and len(r.json()["items"]) == 2
        r = me.patch(f"/emails/notification-preference/me/{MARKETING}", json={"enabled": False})
        assert r.status_code == 200 and r.json()["enabled"] is False
        r = me.get(f"/emails/notification-preference/{other}")
        assert r.status_code == 403
        assert me.patch(f"/emails/notification-preference/{other}/{MARKETING}",
                        json={"enabled": False}).status_code == 403
    with emu.client() as c:
        ke(c.get("/emails/notification-preference/me"), 400, "CANNOT_GET_OWN_USER_WITHOUT_USER")


# ---- send-email ---------------------------------------------------------------------------------------------------

def test_send_html_is_delivered_in_theme_and_recorded(emu):
    email = fresh_email()
    user_id = make_user(emu, email)
    with emu.server() as s:
        r = s.post("/emails/send-email", json={"user_ids": [user_id], "subject": "Hello there",
                                              "html": '<p>Hi! <a href="https://example.com/x">go</a></p>'})
    assert r.status_code == 200, r.text
    assert r.json() == {"results": [{"user_id": user_id}]}
    message = wait_mail(emu, email, "Hello there")
    assert message["subject"] == "Hello there"
    assert "<p>Hi! <a href=\"https://example.com/x\">go</a></p>" in message["html"]
    assert "<!DOCTYPE html" in message["html"] and "max-width:600px" in message["html"]  # in the theme
    assert "https://example.com/x" in message["text"]
    assert "unsubscribe" not in message["html"].lower()  # transactional by default: no unsubscribe link

    item = item_for(emu, user_id)
    assert item["status"] == "sent" and item["simple_status"] == "ok"
    assert item["has_rendered"] and item["has_delivered"] and item["is_transactional"]
    assert item["notification_category_id"] == TRANSACTIONAL
    assert item["to"] == {"type": "user-primary-email", "user_id": user_id}
    assert item["created_with"] == "programmatic-call" and item["subject"] == "Hello there"
    with emu.server() as s:
        single = s.get(f"/emails/outbox/{item['id']}")
        assert single.status_code == 200 and single.json() == item
        assert s.get(f"/emails/outbox/{uuid.uuid4()}").status_code == 404
        assert s.get("/emails/outbox/nope").json()["code"] == "SCHEMA_ERROR"


def test_send_builtin_template_with_variables_and_theme(emu):
    email = fresh_email()
    user_id = make_user(emu, email)
    with emu.server() as s:
        r = s.post("/emails/send-email", json={
            "user_ids": [user_id], "template_id": MAGIC_LINK_TEMPLATE, "theme_id": DARK_THEME,
            "variables": {"otp": "ABC123", "magicLink": "https://example.com/magic?code=abc"}})
    assert r.status_code == 200, r.text
    message = wait_mail(emu, email, "Your code is ABC123")
    assert ">ABC123</p>" in message["html"]
    assert "https://example.com/magic?code=abc" in message["text"]
    item = item_for(emu, user_id)
    assert item["email_programmatic_call_template_id"] == MAGIC_LINK_TEMPLATE and item["theme_id"] == DARK_THEME


def test_send_template_with_missing_variables_is_a_render_error(emu):
    user_id = make_user(emu, fresh_email())
    with emu.server() as s:
        r = s.post("/emails/send-email", json={"user_ids": [user_id], "template_id": MAGIC_LINK_TEMPLATE})
    assert r.status_code == 200, r.text
    item = item_for(emu, user_id)
    assert item["status"] == "render-error" and item["simple_status"] == "error" and item["render_error"]


def test_send_email_errors(emu):
    user_id = make_user(emu, fresh_email())
    missing = str(uuid.uuid4())
    with emu.server() as s:
        ke(s.post("/emails/send-email", json={"user_ids": [user_id, missing], "html": "<p>x</p>"}),
           400, "USER_ID_DOES_NOT_EXIST")
        r = s.post("/emails/send-email", json={"user_ids": [user_id], "template_id": str(uuid.uuid4())})
        assert r.status_code == 400 and r.text == "No template found with given template_id"
        r = s.post("/emails/send-email", json={"user_ids": [user_id], "html": "<p>x</p>",
                                              "notification_category_name": "Newsletter"})
        assert r.status_code == 400 and r.text == "Notification category not found with given name"
        for body in ({"html": "<p>x</p>"},  # neither user_ids nor all_users
                     {"user_ids": [user_id], "all_users": True, "html": "<p>x</p>"},
                     {"user_ids": [user_id]},  # no content
                     {"user_ids": [user_id], "html": "<p>x</p>", "template_id": MAGIC_LINK_TEMPLATE},
                     {"user_ids": [user_id], "html": "<p>x</p>", "variables": {}},
                     {"user_ids": [user_id], "html": "<p>x</p>", "theme_id": 5},
                     {"user_ids": [user_id], "html": 5, "unknown": 1}):
            ke(s.post("/emails/send-email", json=body), 400, "SCHEMA_ERROR")
        ke(s.post("/emails/send-email", content=b"{", headers={"content-type": "application/json"}),
           400, "BODY_PARSING_ERROR")
        r = s.post("/emails/send-email", json={"user_ids": [user_id], "all_users": True, "html": "<p>x</p>"})
        assert ke(r, 400, "SCHEMA_ERROR")["details"] == {"message": "Exactly one of user_ids or all_users must be provided"}
        r = s.post("/emails/send-email", json={"user_ids": [user_id], "html": "<p>x</p>", "theme_id": "nope"})
        assert ke(r, 400, "SCHEMA_ERROR")["details"]["message"].endswith(
            "    Schema 2:\n      body.draft_id must be defined\n      body.theme_id is invalid\n"
            "      body contains unknown properties: html\n      body contains unknown properties: html")
        r = s.post("/emails/send-email", json={"user_ids": [user_id], "draft_id": str(uuid.uuid4())})
        assert r.status_code == 400 and r.text == "No draft found with given draft_id"
    with emu.client() as c:
        ke(c.post("/emails/send-email", json={"user_ids": [user_id], "html": "<p>x</p>"}),
           401, "INSUFFICIENT_ACCESS_TYPE")


def test_send_email_needs_the_projects_own_email_server():
    from support import start_emulator
    from wire import write_config

    e = start_emulator(config=write_config({"auth": {"allowSignUp": True}}))  # the shared server, by default
    try:
        with e.server() as s:
            r = s.post("/emails/send-email", json={"all_users": True, "html": "<p>x</p>"})
        ke(r, 400, "REQUIRES_CUSTOM_EMAIL_SERVER")
    finally:
        e.stop()


def test_user_without_primary_email_is_skipped(emu):
    user_id = make_user(emu)
    with emu.server() as s:
        r = s.post("/emails/send-email", json={"user_ids": [user_id], "html": "<p>x</p>", "subject": "s"})
    assert r.status_code == 200 and r.json() == {"results": [{"user_id": user_id}]}
    item = item_for(emu, user_id)
    assert item["status"] == "skipped" and item["simple_status"] == "ok"
    assert item["skipped_reason"] == "USER_HAS_NO_PRIMARY_EMAIL" and item["has_delivered"] is False


def test_marketing_email_unsubscribe_link_then_skipped(emu):
    email = fresh_email()
    user_id = make_user(emu, email)
    with emu.server() as s:
        r = s.post("/emails/send-email", json={"user_ids": [user_id], "html": "<p>Big sale</p>",
                                              "subject": "Sale!", "notification_category_name": "Marketing"})
    assert r.status_code == 200, r.text
    message = wait_mail(emu, email, "Sale!")
    assert "to unsubscribe from these emails" in message["html"]
    link = re.search(r"(http://[^\s\"]+/api/v1/emails/unsubscribe-link\?code=([0-9a-z]{45}))", message["text"])
    assert link, message["text"]
    assert link.group(1).startswith(emu.url)
    assert item_for(emu, user_id)["is_transactional"] is False

    with emu.http() as h:  # no project headers: opened from the email
        first = h.get("/emails/unsubscribe-link", params={"code": link.group(2)})
        assert first.status_code == 200 and first.headers["content-type"].startswith("text/html")
        assert first.text == "<p>Successfully unsubscribed from notification group</p>"
        again = h.get("/emails/unsubscribe-link", params={"code": link.group(2)})
        assert again.text == "<p>You have already unsubscribed from this notification group</p>"
        bad = h.get("/emails/unsubscribe-link", params={"code": "short"})
        assert bad.status_code == 400 and bad.text == "Invalid code"
        assert h.get("/emails/unsubscribe-link").json()["code"] == "SCHEMA_ERROR"
        ke(h.get("/emails/unsubscribe-link", params={"code": "0" * 45}), 404, "VERIFICATION_CODE_NOT_FOUND")
    with emu.server() as s:
        assert s.get(f"/emails/notification-preference/{user_id}").json()["items"][1]["enabled"] is False
        s.post("/emails/send-email", json={"user_ids": [user_id], "html": "<p>Another sale</p>",
                                          "notification_category_name": "Marketing"})
        # transactional mail still arrives
        s.post("/emails/send-email", json={"user_ids": [user_id], "html": "<p>Receipt</p>", "subject": "Receipt"})
    wait_mail(emu, email, "Receipt")
    rows = [i for i in outbox_items(emu)["items"] if i["to"]["user_id"] == user_id]
    assert [r["status"] for r in rows] == ["sent", "skipped", "sent"]
    assert rows[1]["skipped_reason"] == "USER_UNSUBSCRIBED"


def test_all_users_sends_to_every_user(emu):
    email = fresh_email()
    user_id = make_user(emu, email)
    with emu.server() as s:
        r = s.post("/emails/send-email", json={"all_users": True, "html": "<p>All</p>", "subject": "Everyone"})
    assert r.status_code == 200, r.text
    assert {"user_id": user_id} in r.json()["results"]
    wait_mail(emu, email, "Everyone")


# ---- outbox list ----------------------------------------------------------------------------------------------------

def test_outbox_pagination_and_filters(emu):
    ids = [make_user(emu, fresh_email()) for _ in range(3)]
    with emu.server() as s:
        assert s.post("/emails/send-email", json={"user_ids": ids, "html": "<p>p</p>"}).status_code == 200
    everything = outbox_items(emu)
    assert everything["is_paginated"] is True
    created = [i["created_at_millis"] for i in everything["items"]]
    assert created == sorted(created, reverse=True)
    page = outbox_items(emu, limit=2)
    assert len(page["items"]) == 2 and page["pagination"]["next_cursor"]
    second = outbox_items(emu, limit=2, cursor=page["pagination"]["next_cursor"])
    assert second["items"][0]["id"] == page["pagination"]["next_cursor"]
    assert {i["id"] for i in page["items"]}.isdisjoint(i["id"] for i in second["items"])
    assert all(i["status"] == "sent" for i in outbox_items(emu, status="sent")["items"])
    assert all(i["simple_status"] == "ok" for i in outbox_items(emu, simple_status="ok")["items"])
    with emu.server() as s:
        for params in ({"limit": 101}, {"limit": 0}, {"status": "bogus"}, {"simple_status": "bogus"}):
            ke(s.get("/emails/outbox", params=params), 400, "SCHEMA_ERROR")
        assert s.get("/emails/outbox", params={"cursor": str(uuid.uuid4())}).status_code == 400
    with emu.client() as c:
        ke(c.get("/emails/outbox"), 401, "INSUFFICIENT_ACCESS_TYPE")


# ---- delivery info and capacity boost ---------------------------------------------------------------------------

def test_delivery_info_and_capacity_boost(emu):
    email = fresh_email()
    user_id = make_user(emu, email)
    with emu.server() as s:
        before = s.get("/emails/delivery-info").json()
        s.post("/emails/send-email", json={"user_ids": [user_id], "html": "<p>count me</p>"})
        item_for(emu, user_id)  # sent by the outbox worker
        info = s.get("/emails/delivery-info")
        assert info.status_code == 200, info.text
        info = info.json()
        for span in ("hour", "day", "week", "month"):
            assert info["stats"][span]["sent"] == before["stats"][span]["sent"] + 1
            assert info["stats"][span]["bounced"] == 0 and info["stats"][span]["marked_as_spam"] == 0
        capacity = info["capacity"]
        if not capacity["is_boost_active"]:
            assert capacity["boost_multiplier"] == 1 and capacity["boost_expires_at"] is None
            boost = s.post("/emails/capacity-boost")
            assert boost.status_code == 200, boost.text
            expires_at = boost.json()["expires_at"]
            after = s.get("/emails/delivery-info").json()["capacity"]
            assert after["is_boost_active"] and after["boost_multiplier"] == 4
            assert after["rate_per_second"] == capacity["rate_per_second"] * 4
            assert after["boost_expires_at"] == expires_at
        again = ke(s.post("/emails/capacity-boost"), 409, "EMAIL_CAPACITY_BOOST_ALREADY_ACTIVE")
        assert again["details"]["expires_at"]
    with emu.client() as c:
        ke(c.get("/emails/delivery-info"), 401, "INSUFFICIENT_ACCESS_TYPE")


def test_theme_choices(emu):
    email = fresh_email()
    user_id = make_user(emu, email)
    with emu.server() as s:
        r = s.post("/emails/send-email", json={"user_ids": [user_id], "html": "<p>bare</p>", "subject": "Bare",
                                              "theme_id": False})
        assert r.status_code == 200, r.text
        # An unknown theme falls back to the project's theme, as upstream (no error).
        r = s.post("/emails/send-email", json={"user_ids": [user_id], "html": "<p>x</p>", "subject": "Fallback",
                                              "theme_id": str(uuid.uuid4())})
        assert r.status_code == 200, r.text
        r = s.post("/emails/send-email", json={"user_ids": [user_id], "template_id": MAGIC_LINK_TEMPLATE,
                                              "theme_id": False,
                                              "variables": {"otp": "XYZ789", "magicLink": "https://e.x/m"}})
        assert r.status_code == 200, r.text
    bare = wait_mail(emu, email, "Bare")["html"]
    assert "<p>bare</p>" in bare and "max-width:600px" not in bare  # no theme around it
    assert "max-width:600px" in wait_mail(emu, email, "Fallback")["html"]  # Default Light
    assert ">XYZ789</p>" in wait_mail(emu, email, "XYZ789")["html"]


# ---- scheduled sending and outbox edits ------------------------------------------------------------------------------

def _scheduled(emu, delay_ms=3000):
    import time as _time
    email = f"sched-{uuid.uuid4().hex[:10]}@example.com"
    with emu.server() as s:
        user = s.post("/users", json={"primary_email": email}).json()
        r = s.post("/emails/send-email", json={"user_ids": [user["id"]], "html": "<p>later</p>", "subject": "Later",
                                               "scheduled_at_millis": int(_time.time() * 1000) + delay_ms})
        assert r.status_code == 200, r.text
    return email, item_for(emu, user["id"])  # rendered by the outbox worker, then scheduled


def test_scheduled_email_waits_then_goes_out(emu):
    email, item = _scheduled(emu)
    assert item["status"] == "scheduled" and item["simple_status"] == "in-progress"
    with emu.http() as h:
        assert h.get("/emulator/inbox/messages", params={"to": email}).json()["items"] == []
        r = h.get("/emulator/inbox/wait", params={"to": email, "since": 0, "timeout": 10})
    assert r.status_code == 200 and r.json()["subject"] == "Later"
    with emu.server() as s:
        after = s.get(f"/emails/outbox/{item['id']}").json()
    assert after["status"] == "sent" and after["has_delivered"] is True


def test_outbox_pause_resume_cancel_and_not_editable(emu):
    email, item = _scheduled(emu, delay_ms=60_000)
    with emu.server() as s:
        path = f"/emails/outbox/{item['id']}"
        assert s.patch(path, json={"is_paused": True}).json()["status"] == "paused"
        assert s.patch(path, json={"is_paused": False}).json()["status"] == "scheduled"
        cancelled = s.patch(path, json={"cancel": True}).json()
        assert cancelled["status"] == "skipped" and cancelled["skipped_reason"] == "MANUALLY_CANCELLED"
        r = s.patch(path, json={"is_paused": True})
        assert r.status_code == 400 and r.headers["x-stack-known-error"] == "EMAIL_NOT_EDITABLE"
        assert r.json()["details"] == {"email_id": item["id"], "status": "skipped"}
        assert s.patch(path, json={"cancel": False}).json()["code"] == "SCHEMA_ERROR"
        assert s.patch("/emails/outbox/00000000-0000-0000-0000-000000000000", json={}).status_code == 404
    with emu.client() as c:
        assert c.patch(f"/emails/outbox/{item['id']}", json={}).status_code == 401


# ---- custom templates and themes from hexclave.config.py -----------------------------------------------------------

CUSTOM_TEMPLATE = "5b7e2c1a-0f3d-4c8e-9a6b-2d1e3f4a5b6c"
CUSTOM_THEME = "9c4d1e2f-3a5b-4c6d-8e7f-0a1b2c3d4e5f"
TEMPLATE_TSX = "export function EmailTemplate({ variables }) { return <p>Hi {variables.name}</p>; }"


def test_without_node_custom_template_and_theme_are_delivered_unrendered():
    from support import start_emulator
    from wire import write_config

    e = start_emulator(env={"HEXCLAVE_NODE": "off"}, config=write_config({"emails": {
        "server": {"isShared": False},
        "selectedThemeId": CUSTOM_THEME,
        "themes": {CUSTOM_THEME: {"displayName": "Brand", "tsxSource": "export function EmailTheme() {}"}},
        "templates": {CUSTOM_TEMPLATE: {"displayName": "Weekly digest", "tsxSource": TEMPLATE_TSX}}}}))
    try:
        email = fresh_email()
        user_id = make_user(e, email)
        with e.server() as s:
            r = s.post("/emails/send-email", json={
                "user_ids": [user_id], "template_id": CUSTOM_TEMPLATE, "notification_category_name": "Marketing",
                "variables": {"name": "<b>Zoë</b>", "count": 3, "link": "https://app.example/x?code=abc"}})
            assert r.status_code == 200, r.text
            r = s.post("/emails/send-email", json={"user_ids": [user_id], "template_id": CUSTOM_TEMPLATE,
                                                  "subject": "Your digest"})
            assert r.status_code == 200, r.text
            r = s.post("/emails/send-email", json={"user_ids": [user_id], "template_id": str(uuid.uuid4())})
            assert r.status_code == 400 and r.text == "No template found with given template_id"
            r = s.post("/emails/send-email", json={  # built-in ids still render, in Default Light
                "user_ids": [user_id], "template_id": MAGIC_LINK_TEMPLATE,
                "variables": {"otp": "QRS456", "magicLink": "https://example.com/m?code=q"}})
            assert r.status_code == 200, r.text

        message = wait_mail(e, email, "Weekly digest")  # the template's displayName
        headers = message["headers"]
        assert ["X-Hexclave-Emulator-Template",
                f"Weekly digest ({CUSTOM_TEMPLATE}); NOT rendered: Node.js is not installed"] in headers
        assert ["X-Hexclave-Emulator-Theme", f"Brand ({CUSTOM_THEME}); NOT rendered: Node.js is not installed; "
                                             f"Default Light was used instead"] in headers
        for part in (message["html"], message["text"]):
            assert "renders TSX email templates with Node.js, which it cannot use here" in part
            assert CUSTOM_TEMPLATE in part
        assert "&lt;b&gt;Zoë&lt;/b&gt;" in message["html"] and "<b>Zoë</b>" not in message["html"]  # escaped
        assert 'name: "<b>Zoë</b>"' in message["text"] and "count: 3" in message["text"]
        assert "https://app.example/x?code=abc" in message["links"]
        assert "Click here to unsubscribe from these emails" in message["html"]  # a Marketing email
        assert "/api/v1/emails/unsubscribe-link?code=" in message["text"]

        overridden = wait_mail(e, email, "Your digest")
        assert "No variables were passed to the template." in overridden["text"]
        assert "unsubscribe" not in overridden["html"].lower()  # transactional
        builtin = wait_mail(e, email, "Your code is QRS456")
        assert ">QRS456</p>" in builtin["html"]
        assert ["X-Hexclave-Emulator-Template",
                f"Magic Link/OTP ({MAGIC_LINK_TEMPLATE}); built-in, rendered by the Jinja2 port"] in builtin["headers"]

        items = [i for i in outbox_items(e)["items"] if i["email_programmatic_call_template_id"] == CUSTOM_TEMPLATE]
        assert len(items) == 2 and all(i["status"] == "sent" for i in items)
        assert all(i["tsx_source"] == TEMPLATE_TSX for i in items)
    finally:
        e.stop()
