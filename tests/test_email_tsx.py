"""TSX email templates and themes rendered for real by node (emulator/mail/tsx), the dashboard's email endpoints
(themes, templates, drafts, render-email, /internal/emails), and the fallback without node.

The node tests need node and npm (the renderer's packages are installed on first use, from the npm registry);
they are skipped without them. The first render in a fresh cache folder takes ~15 s (npm ci)."""
import json
import shutil
import time
import uuid

import pytest

from support import start_emulator
from wire import write_config

needs_node = pytest.mark.skipif(shutil.which("node") is None or shutil.which("npm") is None,
                                reason="node/npm not installed: the TSX renderer cannot run")

MAGIC_LINK = "822687fe-8d0a-4467-a0d1-416b6e639478"
LIGHT = "1df07ae6-abf3-4a40-83a5-a1a2cbe336ac"
CALLBACK = "http://localhost:3000/handler/callback"
FIRST_RENDER_TIMEOUT = 240  # npm ci into an empty cache folder

THEME = """import { Html, Body } from '@react-email/components';
export function EmailTheme({ children, unsubscribeLink }) {
  return <Html><Body><main className="brand">{children}</main>{unsubscribeLink ? <a href={unsubscribeLink}>stop</a> : null}</Body></Html>;
}"""


def otp_template(marker: str) -> str:
    return f"""import {{ Subject, NotificationCategory }} from '@stackframe/emails';
export const variablesSchema = (v) => v;
export function EmailTemplate({{ project, variables }}) {{
  return <>
    <Subject value={{"{marker} " + variables.otp}} />
    <NotificationCategory value="Transactional" />
    <p>{marker} for {{project.displayName}}: <b>{{variables.otp}}</b> <a href={{variables.magicLink}}>sign in</a></p>
  </>;
}}"""


def wait_mail(emu, to, subject="", timeout=10):
    with emu.http() as h:
        r = h.get("/emulator/inbox/wait", params={"to": to, "subject": subject, "since": 0, "timeout": timeout},
                  timeout=timeout + 5)
    assert r.status_code == 200, r.text
    return r.json()


def send_otp(emu, email):
    with emu.client() as c:
        r = c.post("/auth/otp/send-sign-in-code", json={"email": email, "callback_url": CALLBACK},
                   timeout=FIRST_RENDER_TIMEOUT)
    assert r.status_code == 200, r.text


def header(message, name):
    return next((value for key, value in message["headers"] if key == name), None)


def admin(emu):
    return emu.http("admin", project_id="internal")


def server(emu):
    return emu.http("server", project_id="internal")


def own_email_server(emu):
    """Custom emails need the project's own email server (an unreachable one: the inbox still catches the mail)."""
    with admin(emu) as a:
        r = a.patch("/internal/config/override/environment", json={"config_override_string": json.dumps(
            {"emails.server": {"isShared": False, "host": "127.0.0.1", "port": 9, "username": "u", "password": "p",
                               "senderEmail": "app@example.com", "senderName": "App"}})})
    assert r.status_code == 200, r.text


def fresh_email():
    return f"tsx-{uuid.uuid4().hex[:12]}@example.com"


@needs_node
def test_template_edited_in_the_config_file_changes_the_next_mail_and_a_broken_one_keeps_the_server_up():
    def config(template_source):
        return {"auth": {"otp": {"allowSignIn": True}}, "emails": {
            "templates": {MAGIC_LINK: {"displayName": "Sign-in code", "tsxSource": template_source}},
            "themes": {"0b6f3d2a-1c4e-4f5a-8b7c-9d0e1f2a3b4c": {"displayName": "Brand",
                                                                                "tsxSource": THEME}},
                           "selectedThemeId": "0b6f3d2a-1c4e-4f5a-8b7c-9d0e1f2a3b4c"}}

    path = write_config(config(otp_template("First edition")))
    emu = start_emulator(config=path)
    try:
        email = fresh_email()
        send_otp(emu, email)
        first = wait_mail(emu, email, "First edition")
        assert '<main class="brand"><p>First edition for ' in first["html"]  # rendered by react-email, in the theme
        assert first["code"] and first["code"][:6].upper() in first["subject"]  # the variables reached the TSX
        assert "Sign-in code (822687fe" in header(first, "X-Hexclave-Emulator-Template")
        assert "TSX rendered by node" in header(first, "X-Hexclave-Emulator-Template")
        assert header(first, "X-Hexclave-Emulator-Theme").startswith("Brand (0b6f3d2a")

        path.write_text(f"config = {config(otp_template('Second edition'))!r}\n")  # no restart
        email = fresh_email()
        send_otp(emu, email)
        assert "Second edition for " in wait_mail(emu, email, "Second edition")["html"]

        broken = "export function EmailTemplate() {\n  return <div><span>unclosed\n}\n"
        path.write_text(f"config = {config(broken)!r}\n")
        email = fresh_email()
        send_otp(emu, email)  # sign-in still works: the built-in template stands in, and the mail says why
        fallback = wait_mail(emu, email, "Your code is")
        assert "NOT rendered" in header(fallback, "X-Hexclave-Emulator-Template")
        assert "virtual:/template.tsx:3:0: ERROR" in header(fallback, "X-Hexclave-Emulator-Template")
        assert any("could not be rendered" in line for line in emu.output)
        assert emu.proc.poll() is None  # still serving
    finally:
        emu.stop()


@needs_node
def test_render_email_previews_tsx_and_reports_build_errors(emu):
    template = """import { Subject, NotificationCategory } from '@stackframe/emails';
export const variablesSchema = (v) => v;
export function EmailTemplate({ user, project }) {
  return <><Subject value={`Hi ${user.displayName}`} /><NotificationCategory value="Marketing" />
    <p>Welcome to {project.displayName}</p></>;
}"""
    with admin(emu) as a:
        r = a.post("/emails/render-email", json={"template_tsx_source": template, "theme_tsx_source": THEME},
                   timeout=FIRST_RENDER_TIMEOUT)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["subject"] == "Hi John Doe" and body["notification_category"] == "Marketing"
        assert body["html"].startswith("<!DOCTYPE html") and "Welcome to " in body["html"]

        r = a.post("/emails/render-email", json={"template_tsx_source": template, "theme_id": LIGHT})
        assert r.status_code == 200 and "Click here" in r.json()["html"]  # Default Light's preview unsubscribe link

        r = a.post("/emails/render-email", json={"template_tsx_source": template,
                                                 "theme_tsx_source": "export function Other() { return null; }"})
        assert r.status_code == 400 and r.json()["code"] == "EMAIL_RENDERING_ERROR"
        assert r.json()["details"]["error"] == ('Build failed with 1 error:\nvirtual:/render.tsx:9:9: ERROR: No matching '
                                                'export in "virtual:/theme.tsx" for import "EmailTheme"')
        r = a.post("/emails/render-email", json={
            "template_tsx_source": "export function EmailTemplate() { throw new Error('boom in template'); }",
            "theme_id": False})
        assert r.status_code == 400 and "boom in template" in r.json()["details"]["error"]

        r = a.post("/emails/render-email", json={"template_tsx_source": template, "theme_id": str(uuid.uuid4())})
        assert r.status_code == 400 and r.text == "No theme found with given id"
        r = a.post("/emails/render-email", json={"template_tsx_source": template, "theme_id": LIGHT,
                                                 "theme_tsx_source": THEME})
        assert r.status_code == 400 and r.json()["code"] == "SCHEMA_ERROR"
        assert "body is not matched by any of the provided schemas:\n    Schema 0:" in r.json()["details"]["message"]


@needs_node
def test_themes_list_create_update_and_reject_broken_tsx(emu):
    with admin(emu) as a:
        names = [t["display_name"] for t in a.get("/internal/email-themes").json()["themes"]]
        assert names[:3] == ["Default Light", "Default Dark", "Default Colorful"]
        theme_id = a.post("/internal/email-themes", json={"display_name": "Ocean"}).json()["id"]
        assert a.get(f"/internal/email-themes/{theme_id}").json()["display_name"] == "Ocean"
        r = a.patch(f"/internal/email-themes/{theme_id}", json={"tsx_source": THEME}, timeout=FIRST_RENDER_TIMEOUT)
        assert r.status_code == 200 and r.json() == {"display_name": "Ocean"}
        assert a.get(f"/internal/email-themes/{theme_id}").json()["tsx_source"] == THEME
        r = a.patch(f"/internal/email-themes/{theme_id}", json={"tsx_source": "export function EmailTheme( {"})
        assert r.status_code == 400 and r.json()["code"] == "EMAIL_RENDERING_ERROR"
        assert a.get(f"/internal/email-themes/{theme_id}").json()["tsx_source"] == THEME  # unchanged
        r = a.get(f"/internal/email-themes/{uuid.uuid4()}")
        assert r.status_code == 404 and r.text == "No theme found with given id"
    with server(emu) as s:
        assert s.get("/internal/email-themes").json()["code"] == "INSUFFICIENT_ACCESS_TYPE"


@needs_node
def test_templates_need_a_custom_server_then_create_update_and_delete(emu):
    with admin(emu) as a:
        a.post("/internal/config/override/environment/reset-keys", json={"keys": ["emails.server"]})
        r = a.post("/internal/email-templates", json={"display_name": "Digest"})
        assert r.status_code == 400 and r.json()["code"] == "REQUIRES_CUSTOM_EMAIL_SERVER"
    own_email_server(emu)
    with admin(emu) as a:
        ids = [t["id"] for t in a.get("/internal/email-templates").json()["templates"]]
        assert MAGIC_LINK in ids
        template_id = a.post("/internal/email-templates", json={"display_name": "Digest"}).json()["id"]
        r = a.patch(f"/internal/email-templates/{template_id}", json={"tsx_source": otp_template("Digest")},
                    timeout=FIRST_RENDER_TIMEOUT)
        assert r.status_code == 200 and "Digest for " in r.json()["rendered_html"]
        no_subject = "export const variablesSchema = v => v;\nexport function EmailTemplate() { return <p>x</p>; }"
        r = a.patch(f"/internal/email-templates/{template_id}", json={"tsx_source": no_subject})
        assert r.status_code == 400 and r.json()["code"] == "EMAIL_RENDERING_ERROR"
        listed = {t["id"]: t for t in a.get("/internal/email-templates").json()["templates"]}
        assert listed[template_id]["tsx_source"] == otp_template("Digest")
        assert a.delete(f"/internal/email-templates/{template_id}").json() == {}
        assert template_id not in [t["id"] for t in a.get("/internal/email-templates").json()["templates"]]
        r = a.delete(f"/internal/email-templates/{template_id}")
        assert r.status_code == 404 and r.text == "No template found with given id"
        a.post("/internal/config/override/environment/reset-keys", json={"keys": ["emails.server"]})


@needs_node
def test_drafts_crud_and_send_with_draft_id(emu):
    source = """import { Subject, NotificationCategory } from '@stackframe/emails';
export function EmailTemplate({ user }) {
  return <><Subject value="Draft news" /><NotificationCategory value="Marketing" /><p>Hello {user.displayName}</p></>;
}"""
    own_email_server(emu)
    email = fresh_email()
    with server(emu) as s:
        user_id = s.post("/users", json={"display_name": "Dora", "primary_email": email,
                                         "primary_email_verified": True}).json()["id"]
    with admin(emu) as a:
        draft_id = a.post("/internal/email-drafts", json={"display_name": "News", "theme_id": False,
                                                          "tsx_source": source}).json()["id"]
        assert a.get(f"/internal/email-drafts/{draft_id}").json() == {
            "id": draft_id, "display_name": "News", "tsx_source": source, "theme_id": False, "sent_at_millis": None}
        assert a.patch(f"/internal/email-drafts/{draft_id}", json={"display_name": "News!", "theme_id": False}
                       ).json() == {"ok": "ok"}
        r = a.patch(f"/internal/email-drafts/{draft_id}", json={"theme_id": 123})
        assert r.json()["details"]["message"].endswith("  - body.theme_id is invalid")
        r = a.post("/emails/send-email", json={"user_ids": [user_id], "draft_id": draft_id},
                   timeout=FIRST_RENDER_TIMEOUT)
        assert r.status_code == 200, r.text
        message = wait_mail(emu, email, "Draft news")
        assert "Hello <!-- -->Dora" in message["html"]
        with server(emu) as s:
            item = next(i for i in s.get("/emails/outbox").json()["items"] if i["to"]["user_id"] == user_id)
        assert item["created_with"] == "draft" and item["email_draft_id"] == draft_id
        assert item["is_transactional"] is False  # the template's <NotificationCategory value="Marketing" />
        draft = a.get(f"/internal/email-drafts/{draft_id}").json()
        assert draft["display_name"] == "News!" and isinstance(draft["sent_at_millis"], int)
        sent = a.get("/internal/emails").json()
        assert any(item["subject"] == "Draft news" and item["to"] == [email] for item in sent["items"])
        assert a.delete(f"/internal/email-drafts/{draft_id}").json() == {"ok": "ok"}
        assert a.get(f"/internal/email-drafts/{draft_id}").status_code == 404


@needs_node
def test_outbox_edit_of_content_renders_again(emu):
    own_email_server(emu)
    email = fresh_email()

    def settled(s, outbox_id):  # once the outbox worker has rendered it
        deadline = time.monotonic() + FIRST_RENDER_TIMEOUT
        while True:
            item = s.get(f"/emails/outbox/{outbox_id}").json()
            if item["status"] not in ("preparing", "rendering") or time.monotonic() > deadline:
                return item
            time.sleep(0.05)

    with server(emu) as s:
        user_id = s.post("/users", json={"primary_email": email, "primary_email_verified": True}).json()["id"]
        later = int(time.time() * 1000) + 3_600_000
        r = s.post("/emails/send-email", json={"user_ids": [user_id], "html": "<p>old</p>", "subject": "Later",
                                               "scheduled_at_millis": later})
        assert r.status_code == 200, r.text
        outbox_id = next(i for i in s.get("/emails/outbox").json()["items"] if i["to"]["user_id"] == user_id)["id"]
        assert "<p>old</p>" in settled(s, outbox_id)["html"]
        r = s.patch(f"/emails/outbox/{outbox_id}", json={"tsx_source": otp_template("Edited"),
                                                         "variables": {"otp": "ABC123"}})
        assert r.status_code == 200 and r.json()["status"] == "preparing" and "html" not in r.json()
        item = settled(s, outbox_id)
        assert item["status"] == "scheduled" and "Edited for " in item["html"] and "ABC123" in item["html"]
        r = s.patch(f"/emails/outbox/{outbox_id}", json={"tsx_source": "export function EmailTemplate( {"})
        assert r.status_code == 200
        item = settled(s, outbox_id)
        assert item["status"] == "render-error" and "Build failed" in item["render_error"]


@needs_node
def test_outbox_email_is_queued_and_can_be_paused_while_it_renders(emu):
    own_email_server(emu)
    email = fresh_email()
    slow = f"""// {uuid.uuid4()}: a new source, so it is compiled (and its top level run) for this test
import {{ Subject, NotificationCategory }} from '@stackframe/emails';
const start = Date.now();
while (Date.now() - start < 1500) {{}}
export function EmailTemplate() {{
  return <><Subject value="Slow" /><NotificationCategory value="Transactional" /><p>slow</p></>;
}}"""
    with server(emu) as s:
        user_id = s.post("/users", json={"primary_email": email, "primary_email_verified": True}).json()["id"]
    with admin(emu) as a:
        draft_id = a.post("/internal/email-drafts", json={"display_name": "Slow", "tsx_source": slow}).json()["id"]
    with server(emu) as s:
        r = s.post("/emails/send-email", json={"user_ids": [user_id], "draft_id": draft_id})
        assert r.status_code == 200, r.text
        item = next(i for i in s.get("/emails/outbox").json()["items"] if i["to"]["user_id"] == user_id)
        assert item["status"] in ("preparing", "rendering") and "subject" not in item
        paused = s.patch(f"/emails/outbox/{item['id']}", json={"is_paused": True}, timeout=FIRST_RENDER_TIMEOUT)
        assert paused.json()["status"] == "paused", paused.text
        time.sleep(2.5)  # the render (if it had begun) ends, and the outbox worker comes round: nothing is sent
        held = s.get(f"/emails/outbox/{item['id']}").json()
        assert held["status"] == "paused" and held["has_delivered"] is False
        with emu.http() as h:
            assert h.get("/emulator/inbox/messages", params={"to": email}).json()["items"] == []
        resumed = s.patch(f"/emails/outbox/{item['id']}", json={"is_paused": False}).json()
        assert resumed["status"] == ("scheduled" if held["has_rendered"] else "preparing")
    assert "<p>slow</p>" in wait_mail(emu, email, "Slow")["html"]


def test_without_node_render_requests_answer_a_clear_error():
    edited = {"auth": {"otp": {"allowSignIn": True}}, "emails": {"templates": {
        MAGIC_LINK: {"displayName": "Sign-in code", "tsxSource": otp_template("Edited")}}}}
    emu = start_emulator(env={"HEXCLAVE_NODE": "off"}, config=write_config(edited))
    try:
        with admin(emu) as a:
            r = a.post("/emails/render-email", json={"template_id": MAGIC_LINK})
            assert r.status_code == 400 and r.json()["code"] == "EMAIL_RENDERING_ERROR"
            assert "Node.js" in r.json()["details"]["error"]
        email = fresh_email()
        send_otp(emu, email)  # platform mail still goes out: the edited template falls back to the Jinja2 port
        message = wait_mail(emu, email, "Your code is")
        assert header(message, "X-Hexclave-Emulator-Template") == (
            f"Sign-in code ({MAGIC_LINK}); NOT rendered: Node.js is not installed; the built-in Jinja2 port was "
            "used instead")
        assert "Edited" not in message["html"]
    finally:
        emu.stop()


@needs_node
def test_themes_get_the_projects_logos():
    emu = start_emulator()
    try:
        with admin(emu) as a:
            r = a.patch("/internal/projects/current", json={"logo_url": "https://cdn.example/logo.png"})
            assert r.status_code == 200, r.text
            theme = """import { ProjectLogo } from "@stackframe/emails";
export function EmailTheme({ children, projectLogos }) {
  return <div><ProjectLogo data={projectLogos} mode="light" />{children}</div>;
}"""
            r = a.post("/emails/render-email", json={"theme_tsx_source": theme, "template_tsx_source":
                                                     "export function EmailTemplate() { return <p>hi</p>; }"},
                       timeout=FIRST_RENDER_TIMEOUT)
        assert r.status_code == 200, r.text
        assert 'src="https://cdn.example/logo.png"' in r.json()["html"]
    finally:
        emu.stop()
