"""The mail catcher: mail sent to the SMTP port is stored and readable through the inbox API (list, get, raw,
wait, events, delete) and the Inbucket-compatible mailbox API; parsing never fails on malformed mail."""
import asyncio
import hashlib
import json
import smtplib
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from email.message import EmailMessage as MimeMessage

import httpx
import pytest

from support import start_emulator

from emulator.domain.mail import mail


def fresh(local: str = "catch") -> str:
    return f"{local}-{uuid.uuid4().hex[:12]}@example.com"


def smtp(emu) -> smtplib.SMTP:
    return smtplib.SMTP("127.0.0.1", emu.smtp_port, timeout=10)


def inbox(emu) -> httpx.Client:
    return httpx.Client(base_url=emu.api, timeout=20)


def send_raw(emu, to: str, raw: bytes, sender: str = "app@example.com") -> None:
    with smtp(emu) as s:
        s.sendmail(sender, [to], raw)


def only(emu, to: str) -> dict:
    with inbox(emu) as h:
        items = h.get("/emulator/inbox/messages", params={"to": to}).json()["items"]
    assert len(items) == 1, items
    return items[0]


def full(emu, message_id: str) -> dict:
    with inbox(emu) as h:
        r = h.get(f"/emulator/inbox/messages/{message_id}")
    assert r.status_code == 200, r.text
    return r.json()


SUMMARY_KEYS = {"id", "project_id", "source", "created_at_millis", "from", "to", "subject", "preview", "code", "otp",
                "links", "has_html", "attachment_count", "relay"}


# ---- capture over SMTP -------------------------------------------------------------------------------------------

def test_plain_text_message_through_list_get_raw_and_inbucket(emu):
    to = fresh("plain")
    local = to.split("@")[0]
    raw = (f"From: App <app@example.com>\r\nTo: {to}\r\nSubject: Hello there\r\nMessage-ID: <p1@example.com>\r\n"
           "\r\nJust text.\r\nYour code is K7Q2XZ.\r\n").encode()
    with smtp(emu) as s:
        s.login("any-user", "any-password")  # apps often configure credentials: any are accepted
        s.sendmail("bounce@example.com", [to], raw)

    item = only(emu, to)
    assert set(item) == SUMMARY_KEYS
    assert item["source"] == "smtp" and item["project_id"] is None
    assert item["from"] == "App <app@example.com>" and item["to"] == [to]
    assert item["subject"] == "Hello there"
    assert item["preview"] == "Just text. Your code is K7Q2XZ."
    assert item["code"] == "K7Q2XZ" and item["links"] == []
    assert item["has_html"] is False and item["attachment_count"] == 0
    assert item["relay"] is None  # only platform mail is relayed (see test_mail_relay)

    message = full(emu, item["id"])
    assert set(message) == SUMMARY_KEYS | {"cc", "text", "html", "headers", "attachments"}
    assert message["text"] == "Just text.\nYour code is K7Q2XZ.\n" and message["html"] is None
    assert ["Message-ID", "<p1@example.com>"] in message["headers"]
    assert message["attachments"] == []

    with inbox(emu) as h:
        r = h.get(f"/emulator/inbox/messages/{item['id']}/raw")
        assert r.status_code == 200
        assert r.headers["content-type"] == "message/rfc822"
        assert r.headers["content-disposition"] == f'attachment; filename="{item["id"]}.eml"'
        assert r.content.replace(b"\r\n", b"\n") == raw.replace(b"\r\n", b"\n")

        listed = h.get(f"/mailbox/{local}").json()
        assert [m["id"] for m in listed] == [item["id"]]
        head = listed[0]
        assert head == {"mailbox": local, "id": item["id"], "from": "App <app@example.com>", "to": [f"<{to}>"],
                        "subject": "Hello there", "date": head["date"], "posix-millis": item["created_at_millis"],
                        "size": len(r.content), "seen": False}
        assert head["date"].endswith("Z") and "T" in head["date"]

        detail = h.get(f"/mailbox/{local}/{item['id']}").json()
        assert {k: detail[k] for k in head} == head
        assert detail["body"] == {"text": message["text"], "html": ""}
        assert detail["header"]["Subject"] == ["Hello there"]
        assert detail["header"]["Message-Id"] == ["<p1@example.com>"]
        assert detail["attachments"] == []
        assert h.get(f"/mailbox/{local}/{item['id']}/source").content == r.content
        assert h.get(f"/mailbox/someone-else-{uuid.uuid4().hex[:6]}").json() == []
        assert h.get(f"/mailbox/someone-else/{item['id']}").status_code == 404


def test_inbucket_delete_message_and_purge_mailbox(emu):
    tag = uuid.uuid4().hex[:10]
    alice, bob = f"alice-{tag}@example.com", f"bob-{tag}@example.com"
    for n in range(3):
        send_raw(emu, alice, f"To: {alice}\r\nSubject: a{n}\r\n\r\nhi\r\n".encode())
    send_raw(emu, f"alice-{tag}+news@example.com", "Subject: tagged\r\n\r\nhi\r\n".encode())
    send_raw(emu, bob, f"To: {bob}\r\nSubject: b\r\n\r\nhi\r\n".encode())
    with inbox(emu) as h:
        listed = h.get(f"/mailbox/alice-{tag}").json()
        assert [m["subject"] for m in listed] == ["a0", "a1", "a2", "tagged"]
        first = listed[0]["id"]

        r = h.delete(f"/mailbox/alice-{tag}/{first}")
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
        assert r.json() == "OK"
        assert h.get(f"/emulator/inbox/messages/{first}").status_code == 404  # gone from the inbox too
        assert h.delete(f"/mailbox/alice-{tag}/{first}").status_code == 404  # already deleted
        bob_id = h.get(f"/mailbox/bob-{tag}").json()[0]["id"]
        assert h.delete(f"/mailbox/alice-{tag}/{bob_id}").status_code == 404  # not in this mailbox
        assert [m["subject"] for m in h.get(f"/mailbox/alice-{tag}").json()] == ["a1", "a2", "tagged"]

        # A whole address names its mailbox too; the purge answers "OK" even for an empty mailbox.
        r = h.delete(f"/mailbox/ALICE-{tag}@example.com")
        assert r.status_code == 200 and r.json() == "OK"
        assert h.get(f"/mailbox/alice-{tag}").json() == []
        assert h.delete(f"/mailbox/alice-{tag}").json() == "OK"
        assert [m["subject"] for m in h.get(f"/mailbox/bob-{tag}").json()] == ["b"]  # other mailboxes untouched
        # /api/latest serves the same routes
        latest = emu.url + f"/api/latest/mailbox/bob-{tag}"
        assert h.delete(latest).json() == "OK" and h.get(latest).json() == []


def test_unknown_message_is_a_plain_404(emu):
    with inbox(emu) as h:
        for path in ("", "/raw"):
            r = h.get(f"/emulator/inbox/messages/{uuid.uuid4()}{path}")
            assert r.status_code == 404 and r.headers["content-type"].startswith("text/plain")
        assert h.delete(f"/emulator/inbox/messages/{uuid.uuid4()}").status_code == 404


def test_html_and_text_alternative_with_links_and_platform_code(emu):
    to = fresh("multi")
    code = "0123456789abcdefghjkmnpqrstvwxyz0123456789abc"
    link = f"http://localhost:3000/handler/email-verification?code={code}"
    m = MimeMessage()
    m["From"] = '"Stack Dashboard" <noreply@example.com>'
    m["To"] = f"Someone <{to}>"
    m["Subject"] = "Verify your email"
    m.set_content(f"Verify: {link}\nDocs: https://docs.example.com/start.\n")
    m.add_alternative(f'<p>Verify <a href="{link.replace("?", "?")}">here</a> or '
                      f"<a href='https://example.com/help?a=1&amp;b=2'>help</a></p>", subtype="html")
    with smtp(emu) as s:
        s.send_message(m)

    item = only(emu, to)
    assert item["from"] == "Stack Dashboard <noreply@example.com>"
    assert item["has_html"] is True
    assert item["code"] == code
    assert item["links"] == [link, "https://docs.example.com/start", "https://example.com/help?a=1&b=2"]
    message = full(emu, item["id"])
    assert message["text"].startswith("Verify: http://localhost:3000/")
    assert message["html"].startswith("<p>Verify <a href=")
    with inbox(emu) as h:
        detail = h.get(f"/mailbox/{to.split('@')[0]}/{item['id']}").json()
    assert detail["to"] == [f"Someone <{to}>"]
    assert detail["body"]["html"] == message["html"]


def test_attachment(emu):
    to = fresh("attach")
    m = MimeMessage()
    m["From"] = "app@example.com"
    m["To"] = to
    m["Subject"] = "Your invoice"
    m.set_content("See attached.")
    pdf = b"%PDF-1.4\n" + bytes(range(256)) * 8
    m.add_attachment(pdf, maintype="application", subtype="pdf", filename="invoice.pdf")
    m.add_attachment("a,b\n1,2\n", subtype="csv", filename="data.csv")
    with smtp(emu) as s:
        s.send_message(m)

    item = only(emu, to)
    assert item["attachment_count"] == 2
    message = full(emu, item["id"])
    assert message["text"] == "See attached.\n"
    assert message["attachments"] == [
        {"filename": "invoice.pdf", "content_type": "application/pdf", "size": len(pdf)},
        {"filename": "data.csv", "content_type": "text/csv", "size": len(b"a,b\r\n1,2\r\n")},  # text travels with CRLF
    ]
    with inbox(emu) as h:
        detail = h.get(f"/mailbox/{to.split('@')[0]}/{item['id']}").json()
        first = detail["attachments"][0]
        assert first["filename"] == "invoice.pdf" and first["content-type"] == "application/pdf"
        assert first["md5"] == hashlib.md5(pdf).hexdigest()
        download = httpx.get(first["download-link"])
        assert download.status_code == 200 and download.content == pdf
        assert download.headers["content-type"] == "application/pdf"
        assert h.get(f"/emulator/inbox/messages/{item['id']}/attachments/5").status_code == 404


def test_encoded_non_ascii_subject_and_names(emu):
    to = fresh("utf")
    raw = (f"From: =?utf-8?q?Ren=C3=A9e?= <renee@example.com>\r\nTo: {to}\r\n"
           "Subject: =?utf-8?b?R3LDvMOfZSDinJM=?= =?iso-8859-1?q?caf=E9?=\r\n"
           "Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n"
           "\r\nVoil=E0.\r\n").encode()
    send_raw(emu, to, raw)
    item = only(emu, to)
    assert item["subject"] == "Grüße ✓café"  # RFC 2047: blanks between two encoded-words are dropped
    assert item["from"] == "Renée <renee@example.com>"
    assert full(emu, item["id"])["text"] == "Voilà.\n"

    # The stdlib's own encoding (send_message) and an SMTPUTF8 recipient
    to2 = fresh("utf2")
    m = MimeMessage()
    m["From"] = "app@example.com"
    m["To"] = to2
    m["Subject"] = "Привет, 世界 — ünïcödé"
    m.set_content("body")
    with smtp(emu) as s:
        s.send_message(m)
    assert only(emu, to2)["subject"] == "Привет, 世界 — ünïcödé"
    with inbox(emu) as h:  # search is by substring; non-ASCII matches with the same case
        found = h.get("/emulator/inbox/messages", params={"q": "世界"}).json()["items"]
    assert to2 in [r for i in found for r in i["to"]]


def test_8bit_garbage_header_and_malformed_mime_are_stored(emu):
    to = fresh("garbage")
    raw = (b"From: \xe9\xff <odd@example.com>\r\nTo: " + to.encode() + b"\r\n"
           b"Subject: caf\xc3\xa9 \xff\xfe\r\n"
           b"X-Garbage: \xff\xfe bad \xc3\x28 bytes\r\n"
           b"Content-Type: multipart/mixed; boundary=\"never-closed\"\r\n\r\n"
           b"--never-closed\r\nContent-Type: text/plain; charset=no-such-charset\r\n\r\nh\xe9llo w\xc3\xb6rld\r\n"
           b"--never-closed\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n"
           b"Content-Disposition: attachment; filename=\"x.bin\"\r\n\r\n!!!not base64!!!\r\n")
    send_raw(emu, to, raw)
    item = only(emu, to)
    assert item["subject"].startswith("café ")
    assert "\ufffd" in item["subject"]
    message = full(emu, item["id"])
    garbage = [value for name, value in message["headers"] if name == "X-Garbage"]
    assert garbage and "bad" in garbage[0] and "\ufffd" in garbage[0]
    assert message["text"].startswith("h") and "rld" in message["text"]
    assert [a["filename"] for a in message["attachments"]] == ["x.bin"]
    with inbox(emu) as h:
        assert h.get(f"/emulator/inbox/messages/{item['id']}/raw").content.startswith(b"From: \xe9\xff")
        assert h.get(f"/mailbox/{to.split('@')[0]}/{item['id']}").status_code == 200


# ---- waiting and streaming ---------------------------------------------------------------------------------------

def test_wait_returns_a_message_sent_after_the_wait_started(emu):
    to = fresh("wait")
    result = {}

    def waiter():
        with inbox(emu) as h:
            started = time.monotonic()
            result["r"] = h.get("/emulator/inbox/wait", params={"to": to, "subject": "READY", "timeout": 10})
            result["seconds"] = time.monotonic() - started

    thread = threading.Thread(target=waiter)
    thread.start()
    time.sleep(0.3)
    send_raw(emu, to, f"To: {to}\r\nSubject: not this one\r\n\r\nx\r\n".encode())
    send_raw(emu, to, f"To: {to}\r\nSubject: You are ready\r\n\r\nhello\r\n".encode())
    thread.join(15)
    r = result["r"]
    assert r.status_code == 200, r.text
    assert r.json()["subject"] == "You are ready" and r.json()["text"] == "hello\n"
    assert result["seconds"] < 5


def test_wait_times_out_with_408(emu):
    with inbox(emu) as h:
        started = time.monotonic()
        r = h.get("/emulator/inbox/wait", params={"to": fresh("nobody"), "timeout": 0.4})
    assert r.status_code == 408
    assert r.headers["content-type"].startswith("text/plain") and "within 0.4 s" in r.text
    assert 0.35 < time.monotonic() - started < 3


def test_wait_only_counts_new_messages_unless_since_is_given(emu):
    to = fresh("since")
    send_raw(emu, to, f"To: {to}\r\nSubject: first\r\n\r\nx\r\n".encode())
    first = only(emu, to)
    with inbox(emu) as h:
        assert h.get("/emulator/inbox/wait", params={"to": to, "timeout": 0.3}).status_code == 408
        r = h.get("/emulator/inbox/wait", params={"to": to, "since": 0, "timeout": 5})
        assert r.status_code == 200 and r.json()["id"] == first["id"]
        later = first["created_at_millis"] + 60_000
        assert h.get("/emulator/inbox/wait", params={"to": to, "since": later, "timeout": 0.2}).status_code == 408
        r = h.get("/emulator/inbox/wait", params={"to": to, "since": "soon"})
        assert r.status_code == 400


def test_a_pending_wait_does_not_block_other_requests(emu):
    to = fresh("blocker")
    with ThreadPoolExecutor(2) as pool:
        pending = pool.submit(lambda: inbox(emu).get("/emulator/inbox/wait", params={"to": to, "timeout": 8}))
        time.sleep(0.3)
        started = time.monotonic()
        with emu.client() as c:
            r = c.post("/auth/password/sign-up", json={"email": fresh("signup"), "password": "password123"})
        assert r.status_code == 200, r.text
        with inbox(emu) as h:
            assert h.get("/emulator/inbox/messages", params={"limit": 1}).status_code == 200
        assert time.monotonic() - started < 2
        assert not pending.done()
        send_raw(emu, to, f"To: {to}\r\nSubject: unblock\r\n\r\nx\r\n".encode())
        assert pending.result(10).status_code == 200


def test_event_stream_announces_new_messages(emu):
    to = fresh("events")
    events = []
    connected = threading.Event()

    def listen():
        with httpx.Client(base_url=emu.api, timeout=10) as h:
            with h.stream("GET", "/emulator/inbox/events") as r:
                assert r.headers["content-type"].startswith("text/event-stream")
                for line in r.iter_lines():
                    if line.startswith(":"):
                        connected.set()
                    if line.startswith("data: "):
                        event = json.loads(line[len("data: "):])
                        if event["to"] == [to]:
                            events.append(event)
                            return

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    assert connected.wait(5)
    send_raw(emu, to, f"To: {to}\r\nSubject: streamed\r\n\r\nx\r\n".encode())
    thread.join(10)
    assert len(events) == 1 and events[0]["subject"] == "streamed" and set(events[0]) == SUMMARY_KEYS


# ---- search and delete -------------------------------------------------------------------------------------------

def test_search_limit_and_delete(emu):
    tag = uuid.uuid4().hex[:10]
    a, b = fresh("search-a"), fresh("search-b")
    send_raw(emu, a, f"From: Sender {tag} <s@example.com>\r\nTo: {a}\r\nSubject: alpha\r\n\r\nnothing\r\n".encode())
    send_raw(emu, b, f"To: {b}\r\nSubject: Beta {tag.upper()}\r\n\r\nnothing\r\n".encode())
    send_raw(emu, b, f"To: {b}\r\nSubject: gamma\r\n\r\nthe body has {tag}_100%\r\n".encode())
    with inbox(emu) as h:
        def search(**params):
            return [i["subject"] for i in h.get("/emulator/inbox/messages", params=params).json()["items"]]

        assert search(q=tag) == ["gamma", f"Beta {tag.upper()}", "alpha"]  # newest first, case-insensitive
        assert search(q=f"{tag}_100%") == ["gamma"]  # LIKE wildcards are literal
        assert search(q=a.upper()) == ["alpha"]  # recipients
        assert search(to=b.upper()) == ["gamma", f"Beta {tag.upper()}"]
        assert search(q=tag, limit=1) == ["gamma"]
        assert search(q=tag, project_id="no-such-project") == []
        assert h.get("/emulator/inbox/messages", params={"limit": "lots"}).status_code == 400

        gamma = h.get("/emulator/inbox/messages", params={"q": tag, "limit": 1}).json()["items"][0]
        assert h.delete(f"/emulator/inbox/messages/{gamma['id']}").json() == {"success": True}
        assert h.get(f"/emulator/inbox/messages/{gamma['id']}").status_code == 404
        assert search(q=tag) == [f"Beta {tag.upper()}", "alpha"]
        assert h.delete("/emulator/inbox/messages", params={"project_id": "no-such-project"}).json() == {
            "success": True}
        assert len(search(q=tag)) == 2


def test_delete_all_and_oversize_refusal():
    """On an emulator of its own: deleting everything must not disturb other tests."""
    e = start_emulator()
    try:
        to = fresh("big")
        with smtp(e) as s:  # smtplib declares SIZE: refused at MAIL FROM
            with pytest.raises(smtplib.SMTPSenderRefused) as refused:
                s.sendmail("app@example.com", [to], b"Subject: big\r\n\r\n" + b"x" * (10 * 1024 * 1024 + 10))
        assert refused.value.smtp_code == 552 and b"10 MB" in refused.value.smtp_error

        with smtp(e) as s:  # no SIZE declared: refused after DATA
            s.ehlo()
            assert s.mail("app@example.com")[0] == 250
            assert s.rcpt(to)[0] == 250
            line = b"y" * 998 + b"\r\n"
            code, reply = s.data(b"Subject: big\r\n\r\n" + line * (10 * 1024 * 1024 // len(line) + 10))
            assert code == 552 and b"10 MB" in reply
            # the connection and the server are still fine
            assert s.noop()[0] == 250
            s.sendmail("app@example.com", [to], b"Subject: small\r\n\r\nok\r\n")

        with inbox(e) as h:
            items = h.get("/emulator/inbox/messages").json()["items"]
            assert [i["subject"] for i in items] == ["small"]
            with e.client() as c:
                assert c.post("/auth/password/sign-up",
                              json={"email": fresh("after"), "password": "password123"}).status_code == 200
            assert h.delete("/emulator/inbox/messages").json() == {"success": True}
            assert h.get("/emulator/inbox/messages").json() == {"items": []}
    finally:
        e.stop()


# ---- the domain functions, in process ----------------------------------------------------------------------------

def test_parse_never_raises_on_malformed_input():
    samples = [b"", b"\x00\xff\xfe", b"Subject: =?bogus?x?zz?=\r\n\r\n", b"Content-Type: multipart/alternative\r\n\r\n",
               b"Content-Type: text/plain; charset=\"\xff\"\r\nContent-Transfer-Encoding: base64\r\n\r\n@@@",
               b"To: <<<>>>, ,@,\r\nFrom: \r\n\r\nbody", b"\r\n\r\n\r\n", b"Subject: x\r\n" * 5000]
    for raw in samples:
        parsed = mail.parse(raw)
        assert set(parsed) >= {"subject", "from", "to", "cc", "text", "html", "headers", "attachments"}


def test_extract_prefers_link_codes_then_visible_codes():
    code = "abcdefghjkmnpqrstvwxyz0123456789abcdefghjkmnp"
    text = f"Your code is A1B2C3. Or open https://app.example.com/cb?x=1&code={code}."
    assert mail.extract(text, None) == (code, [f"https://app.example.com/cb?x=1&code={code}"])
    assert mail.extract("Your code: 7YH4KD", None)[0] == "7YH4KD"
    assert mail.extract("Please VERIFY your account", None)[0] is None  # a shouted word is no code
    assert mail.extract(None, '<style>a{color:#A1B2C3}</style><p style="x">QWERTY</p>')[0] == "QWERTY"
    assert mail.extract("see https://a.example/x, https://a.example/x and (https://b.example/y_(z))", None)[1] == [
        "https://a.example/x", "https://b.example/y_(z)"]
    assert mail.extract(None, None) == (None, [])


def test_send_builds_mime_and_publishes_only_after_commit():
    from emulator.store.engine import Database, make_engine, prepare_schema

    async def scenario():
        engine = make_engine("sqlite+aiosqlite://")
        await prepare_schema(engine)
        db = Database(engine)
        bus = mail.MailBus()
        heard = []
        queue = bus.subscribe()
        try:
            async with db.session() as s:  # rolled back: nobody hears of it
                await mail.send(s, bus, project_id="p1", to=["x@example.com"], subject="never", html="<p>n</p>",
                                text="n", sender="noreply@example.com")
                await s.rollback()
            waiter = asyncio.ensure_future(bus.wait_for(lambda m: m.subject.startswith("Sign in"), 5))
            async with db.session() as s:
                m = await mail.send(s, bus, project_id="p1", to=["A <a@example.com>"],
                                    subject="Sign in to X: Your code is ABC123", html="<p>ABC123</p>",
                                    text="Code ABC123", sender='"X" <noreply@example.com>')
                await asyncio.sleep(0.05)
                assert not waiter.done() and queue.empty()  # flushed, not committed
                await s.commit()
            got = await waiter
            assert got.id == m.id and queue.get_nowait().id == m.id and queue.empty()
            assert m.recipients == ["a@example.com"] and m.source == "platform" and m.project_id == "p1"
            assert m.code == "ABC123" and m.sender == "X <noreply@example.com>"
            parsed = mail.parse(m.raw)
            assert parsed["text"] == "Code ABC123" and parsed["html"] == "<p>ABC123</p>"
            head = m.raw.split(b"\n\n")[0].split(b"\r\n\r\n")[0]
            assert b"multipart/alternative" in head and b"Message-ID: <" in head and b"Date: " in head
            heard.append(m)

            # What build() makes is proper MIME for the stdlib's strict parser too, non-ASCII names included.
            import email
            from email import policy
            raw = mail.build(to=["Zoë <z@example.com>", "p@example.com"], subject="Grüße ✓" + " long" * 30,
                             html="<p>é</p>" + "x" * 3000, text="héllo\nhttps://x.example/cb?code=abc\n",
                             sender='"Zoë, Dev" <n@example.com>')
            parsed_std = email.message_from_bytes(raw, policy=policy.default)
            assert all(not part.defects for part in parsed_std.walk())
            assert parsed_std.get_content_type() == "multipart/alternative"
            assert parsed_std["Subject"] == "Grüße ✓" + " long" * 30
            assert [a.addr_spec for a in parsed_std["To"].addresses] == ["z@example.com", "p@example.com"]
            assert parsed_std["From"].addresses[0].display_name == "Zoë, Dev"
            plain = parsed_std.get_body(("plain",)).get_content()
            assert plain.replace("\r\n", "\n") == "héllo\nhttps://x.example/cb?code=abc\n"
            assert parsed_std.get_body(("html",)).get_content() == "<p>é</p>" + "x" * 3000
            assert parsed_std["Date"] and parsed_std["Message-ID"]
            with pytest.raises(mail.MessageTooLarge):
                async with db.session() as s:
                    await mail.store(s, bus, raw=b"x" * (mail.MAX_MESSAGE_BYTES + 1), project_id=None,
                                     source="smtp")
            assert await bus.wait_for(lambda m: True, 0.05) is None
            assert bus.listener_count == 1
        finally:
            bus.unsubscribe(queue)
            await engine.dispose()
        return heard

    assert len(asyncio.run(scenario())) == 1


def test_parallel_connections_each_get_their_own_stored_message(emu):
    """Messages arriving over several connections at once are stored together; each sender's 250 names its own
    message, and every message is there with its own recipient and subject."""
    recipients = [fresh(f"parallel{i}") for i in range(4)]

    def send(to: str) -> list[str]:
        with smtp(emu) as s:
            s.ehlo()
            ids = []
            for n in range(15):
                s.mail("app@example.com")
                s.rcpt(to)
                code, reply = s.data(f"To: {to}\r\nSubject: parallel {n}\r\n\r\nbody {n}\r\n".encode())
                assert code == 250, reply
                ids.append(reply.decode().rsplit(" ", 1)[-1])
            return ids

    with ThreadPoolExecutor(4) as pool:
        replies = list(pool.map(send, recipients))
    with inbox(emu) as h:
        for to, ids in zip(recipients, replies):
            listed = h.get("/emulator/inbox/messages", params={"to": to, "limit": 100}).json()["items"]
            assert sorted(m["id"] for m in listed) == sorted(ids)
            assert sorted(m["subject"] for m in listed) == sorted(f"parallel {n}" for n in range(15))


@pytest.mark.parametrize("arg", [
    "<bench@example.com>", "<bench@example.com> SIZE=100", "<a.b+c@ex-ample.co.uk>  BODY=8BITMIME", "<A@X.COM>",
    "<a@x>", "<a@-x.com>", "<a@x.com> SIZE=1 ", "<a@x.com>\tSIZE=1", "<a@x.com> SIZE=1 (c)",
    "<o'neil!#$%&*+/=?^_`{|}~-@x.com> SMTPUTF8", "<>", "<a..b@x.com>", "<.a@x.com>", "<a@[1.2.3.4]>",
    '<"a b"@x.com>', "<a@x.com>x", "< a@x.com >", "<a@x.>", "<@route:a@x.com>", "<a@x.com>   ",
    "<a@x.com> (c) SIZE=1", "<a@x.com>\r\n x", "a@x.com", " <a@x.com>", "", "<a@x.com", "<a@x.com>(c)",
    "<a@x.com> \x0bX", "<ü@x.com>"])
def test_smtp_addresses_are_read_as_aiosmtpd_reads_them(arg):
    from aiosmtpd.smtp import SMTP

    from emulator.mail.smtp import CatcherSMTP

    server = CatcherSMTP(object(), hostname="test")
    assert server._getaddr(arg) == SMTP._getaddr(server, arg)
