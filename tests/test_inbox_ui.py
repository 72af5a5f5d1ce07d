"""The inbox page in headless Chromium, against a real emulator.

Chromium is driven over the DevTools protocol with a tiny WebSocket client on the standard library (no browser
automation package). Proves: the page loads, mail sent over SMTP after the page loaded
appears in the list without a reload, its one-time code is shown, the HTML body renders inside the sandboxed
iframe with its scripts not run, and the keyboard works. Screenshots go to tests/artifacts/.
"""
from __future__ import annotations

import base64
import json
import os
import shutil
import smtplib
import socket
import struct
import subprocess
import time
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from support import REPO, start_emulator

ARTIFACTS = REPO / "tests" / "artifacts"
BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")


def find_chromium() -> str | None:
    explicit = os.environ.get("HEXCLAVE_TEST_CHROMIUM")
    if explicit:
        return explicit
    return next((path for path in map(shutil.which, BROWSER_NAMES) if path), None)


CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no Chromium binary on PATH (tried " + ", ".join(BROWSER_NAMES) + "; CI installs Debian's chromium)")


# ---------------------------------------------------------------- a minimal DevTools protocol client

class CDPError(RuntimeError):
    pass


class DevTools:
    """One WebSocket to the browser endpoint; pages are reached through flattened target sessions."""

    def __init__(self, ws_url: str, timeout: float = 15):
        url = urlsplit(ws_url)
        self.sock = socket.create_connection((url.hostname, url.port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET {url.path} HTTP/1.1\r\nHost: {url.hostname}:{url.port}\r\n"
                           f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                           f"Sec-WebSocket-Version: 13\r\n\r\n").encode())
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            self._fill()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        if not head.startswith(b"HTTP/1.1 101"):
            raise CDPError(f"WebSocket handshake refused: {head.decode(errors='replace')}")
        self.last_id = 0
        self.events: list[dict] = []

    def _fill(self) -> None:
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise ConnectionError("DevTools connection closed")
        self.buffer += chunk

    def _take(self, n: int) -> bytes:
        while len(self.buffer) < n:
            self._fill()
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def _send_frame(self, payload: bytes, opcode: int = 1) -> None:
        n = len(payload)
        if n < 126:
            header = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
        elif n < 1 << 16:
            header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
        mask = os.urandom(4)
        masked = (int.from_bytes(payload, "big") ^ int.from_bytes((mask * (n // 4 + 1))[:n], "big")).to_bytes(n, "big")
        self.sock.sendall(header + mask + masked)

    def _receive(self) -> dict:
        parts = []
        while True:
            first, second = self._take(2)
            length = second & 0x7F
            if length == 126:
                length = struct.unpack("!H", self._take(2))[0]
            elif length == 127:
                length = struct.unpack("!Q", self._take(8))[0]
            if second & 0x80:  # servers do not mask, but be lenient
                mask = self._take(4)
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(self._take(length)))
            else:
                payload = self._take(length)
            opcode = first & 0x0F
            if opcode == 0x8:
                raise ConnectionError("DevTools connection closed by the browser")
            if opcode == 0x9:
                self._send_frame(payload, 0xA)
                continue
            if opcode == 0xA:
                continue
            parts.append(payload)
            if first & 0x80:
                return json.loads(b"".join(parts))

    def call(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        self.last_id += 1
        message: dict = {"id": self.last_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        self._send_frame(json.dumps(message).encode())
        while True:
            reply = self._receive()
            if reply.get("id") == self.last_id:
                if "error" in reply:
                    raise CDPError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            if "method" in reply:
                self.events.append(reply)

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


class Page:
    def __init__(self, devtools: DevTools, target: str, session: str):
        self.devtools = devtools
        self.target = target
        self.session = session

    def call(self, method: str, **params) -> dict:
        return self.devtools.call(method, params, self.session)

    def eval(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise CDPError(f"{expression}: {result['exceptionDetails'].get('exception', result['exceptionDetails'])}")
        return result["result"].get("value")

    def wait_for(self, expression: str, what: str, timeout: float = 10):
        deadline = time.monotonic() + timeout
        problem = None
        while True:
            try:
                value = self.eval(expression)
            except CDPError as exc:  # e.g. the element does not exist yet
                value, problem = None, exc
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout} s waiting for {what}\n  ({expression})\n"
                                     f"last error: {problem}\npage errors: {self.errors()}")
            time.sleep(0.05)

    def press(self, key: str, code: str, key_code: int, text: str | None = None) -> None:
        down = {"type": "keyDown", "key": key, "code": code, "windowsVirtualKeyCode": key_code}
        if text:
            down["text"] = text
        self.call("Input.dispatchKeyEvent", **down)
        self.call("Input.dispatchKeyEvent", type="keyUp", key=key, code=code, windowsVirtualKeyCode=key_code)

    def settle(self) -> None:
        """Waits for finite CSS animations and transitions (the arrival highlight, a theme switch) to end."""
        self.wait_for("document.getAnimations().every(a => a.playState !== 'running'"
                      " || a.effect.getComputedTiming().iterations === Infinity)", "animations to finish")

    def screenshot(self, path: Path) -> None:
        self.settle()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"]))

    def errors(self) -> list[str]:
        found = []
        for event in self.devtools.events:
            if event.get("sessionId") != self.session:
                continue
            if event["method"] == "Runtime.exceptionThrown":
                details = event["params"]["exceptionDetails"]
                found.append(details.get("exception", {}).get("description") or details.get("text"))
            elif event["method"] == "Runtime.consoleAPICalled" and event["params"]["type"] == "error":
                found.append(" ".join(str(a.get("value", a.get("description"))) for a in event["params"]["args"]))
        return found

    def frame_document_text(self) -> tuple[str, dict]:
        """The text and <body> attributes of the document inside the page's iframe, read through the DOM domain:
        the sandboxed frame runs no script and the page itself cannot look inside it. Chromium puts sandboxed
        frames in their own process (a separate target to attach to); in-process frames are reached by piercing."""
        documents = []
        for info in self.devtools.call("Target.getTargets")["targetInfos"]:
            if info["type"] == "iframe" and info.get("parentId") == self.target:
                session = self.devtools.call("Target.attachToTarget",
                                             {"targetId": info["targetId"], "flatten": True})["sessionId"]
                try:
                    documents.append(self.devtools.call("DOM.getDocument", {"depth": -1}, session)["root"])
                finally:
                    self.devtools.call("Target.detachFromTarget", {"sessionId": session})
        if not documents:
            def frames(node):
                if node.get("nodeName") == "IFRAME" and node.get("contentDocument"):
                    yield node["contentDocument"]
                for child in node.get("children", []):
                    yield from frames(child)
            documents = list(frames(self.call("DOM.getDocument", depth=-1, pierce=True)["root"]))
        texts: list[str] = []
        body_attributes: dict = {}

        def walk(node):
            if node.get("nodeType") == 3:
                texts.append(node.get("nodeValue", ""))
            if node.get("nodeName") == "BODY":
                attributes = node.get("attributes", [])
                body_attributes.update(zip(attributes[::2], attributes[1::2]))
            for child in node.get("children", []):
                walk(child)

        for document in documents:
            walk(document)
        return " ".join(texts), body_attributes


def launch_chromium(profile: Path) -> tuple[subprocess.Popen, str]:
    profile.mkdir(parents=True, exist_ok=True)
    log = (profile.parent / "chromium.log").open("wb")
    proc = subprocess.Popen(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--no-default-browser-check", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--disable-extensions", "--disable-dev-shm-usage", "--mute-audio", "--hide-scrollbars",
         "--disable-features=Translate,MediaRouter,OptimizationHints", "--password-store=basic",
         f"--user-data-dir={profile}", "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
         "--window-size=1440,900", "about:blank"],
        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    port_file = profile / "DevToolsActivePort"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("Chromium exited:\n" + (profile.parent / "chromium.log").read_text(errors="replace"))
        lines = port_file.read_text().split("\n") if port_file.exists() else []
        if len(lines) >= 2 and lines[0].strip().isdigit() and lines[1].strip():
            return proc, f"ws://127.0.0.1:{lines[0].strip()}{lines[1].strip()}"
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError("Chromium did not open its DevTools port:\n"
                       + (profile.parent / "chromium.log").read_text(errors="replace"))


# ---------------------------------------------------------------- the test

BASE32 = "abcdefghijklmnopqrstuvwxyz234567"


def magic_link_message(to: str, code: str) -> EmailMessage:
    link = f"http://localhost:3000/handler/magic-link-callback?code={code}"
    message = EmailMessage()
    message["From"] = "Acme Auth <noreply@acme.test>"
    message["To"] = to
    message["Subject"] = "Sign in to Acme"
    message.set_content(f"Hi,\n\nClick the link below to sign in to Acme:\n\n{link}\n\n"
                        "If you did not ask for this, you can ignore this email.\n")
    message.add_alternative(f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Sign in</title></head>
<body style="margin:0;background:#f4f4f7;font-family:Helvetica,Arial,sans-serif;color:#1f2330">
  <table role="presentation" width="100%" cellpadding="0" cellspacing="0"><tr><td align="center" style="padding:40px 12px">
    <table role="presentation" width="480" cellpadding="0" cellspacing="0" style="background:#fff;border-radius:12px;padding:32px">
      <tr><td>
        <h1 id="preview-heading" style="margin:0 0 12px;font-size:22px">Sign in to Acme</h1>
        <p style="margin:0 0 24px;line-height:1.5;color:#4a5060">Click the button below to sign in. The link expires
          in 30 minutes and can be used once.</p>
        <p style="margin:0 0 24px"><a href="{link}" style="display:inline-block;background:#111827;color:#fff;
          padding:12px 20px;border-radius:8px;text-decoration:none;font-weight:600">Sign in</a></p>
        <p style="margin:0;font-size:12px;color:#8a90a0">Sent by Acme &middot; 1 Example Street</p>
      </td></tr>
    </table>
  </td></tr></table>
  <script>document.body.setAttribute("data-script-ran", "yes"); parent.postMessage("script-ran", "*");</script>
</body></html>
""", subtype="html")
    return message


def plain_message(to: str, subject: str, body: str, sender: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    return message


def send(emu, message: EmailMessage) -> None:
    with smtplib.SMTP("127.0.0.1", emu.smtp_port, timeout=10) as smtp:
        smtp.send_message(message)


@pytest.fixture
def emulator():
    e = start_emulator()
    yield e
    e.stop()


@pytest.fixture
def page(tmp_path):
    proc, ws_url = launch_chromium(tmp_path / "profile")
    devtools = None
    try:
        devtools = DevTools(ws_url)
        target = devtools.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = devtools.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        p = Page(devtools, target, session)
        p.call("Emulation.setDeviceMetricsOverride", width=1440, height=900, deviceScaleFactor=1, mobile=False)
        p.call("Page.enable")
        p.call("Runtime.enable")
        p.call("DOM.enable")
        yield p
    finally:
        if devtools is not None:
            devtools.close()
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def test_inbox_page_live_code_and_sandboxed_preview(emulator, page):
    # The inbox loads, connects to the event stream and shows the empty state.
    page.call("Page.navigate", url=emulator.url + "/inbox")
    page.wait_for("location.pathname === '/inbox' && document.readyState === 'complete'", "the inbox page to load")
    page.wait_for("document.getElementById('live').dataset.state === 'live'", "the live-update stream to connect")
    page.wait_for("!document.getElementById('empty').hidden", "the empty state")
    empty_text = page.eval("document.getElementById('empty').innerText")
    assert f"127.0.0.1:{emulator.smtp_port}" in empty_text  # tells the developer where to send mail
    page.screenshot(ARTIFACTS / "inbox-empty.png")

    # Mail sent after the page loaded shows up without a reload.
    page.eval("window.__loadedOnce = 'same document'")
    code = "".join(BASE32[b % 32] for b in os.urandom(45))
    send(emulator, magic_link_message("ada@example.com", code))
    page.wait_for("[...document.querySelectorAll('#list .item[data-id]')]"
                  ".some(li => li.textContent.includes('Sign in to Acme'))",
                  "the new message to appear in the list")
    assert page.eval("window.__loadedOnce") == "same document", "the page reloaded instead of updating live"
    assert page.eval("document.querySelector('#list .item[data-id]').classList.contains('fresh')"), \
        "a message that just arrived is highlighted"
    assert page.eval("document.getElementById('empty').hidden") is True
    assert page.eval("document.querySelector('#list .item .code-badge').textContent") == code

    # Two more, so the list looks like a real inbox; the newest is on top.
    send(emulator, plain_message("grace@example.com", "Your verification code",
                                 "Your Acme verification code is 482913.\nIt expires in 10 minutes.\n",
                                 "Acme <noreply@acme.test>"))
    send(emulator, plain_message("team@example.com", "Weekly digest",
                                 "Three new sign-ups this week. See https://acme.test/dashboard for details.\n",
                                 "Reports <reports@acme.test>"))
    page.wait_for("document.querySelectorAll('#list .item[data-id]').length === 3", "three messages in the list")
    assert page.eval("document.querySelector('#list .item .item-subject').textContent") == "Weekly digest"

    # Keyboard: Home / j / k select; the magic-link mail is the third. Its code is shown big in the message view.
    page.press("Home", "Home", 36)
    page.press("j", "KeyJ", 74, "j")
    page.press("j", "KeyJ", 74, "j")
    page.press("k", "KeyK", 75, "k")
    page.press("j", "KeyJ", 74, "j")
    page.wait_for("document.getElementById('m-subject').textContent === 'Sign in to Acme'", "the message view")
    page.wait_for(f"document.getElementById('m-code').textContent === {json.dumps(code)}", "the code in the view")
    box = page.eval("(() => { const r = document.getElementById('m-code').getBoundingClientRect();"
                    " return {w: r.width, h: r.height, top: r.top}; })()")
    assert box["w"] > 100 and box["h"] > 10 and 0 <= box["top"] < 900, f"code not visible: {box}"
    link_chip = page.eval("document.querySelector('#m-links .chip-link').getAttribute('href')")
    assert link_chip == f"http://localhost:3000/handler/magic-link-callback?code={code}"

    # The HTML part renders inside the sandboxed iframe, and its script does not run.
    assert page.eval("document.getElementById('m-html').getAttribute('sandbox')") == ""
    assert page.eval("document.getElementById('m-html').srcdoc.includes('preview-heading')")
    deadline = time.monotonic() + 10
    text, body = "", {}
    while time.monotonic() < deadline:
        text, body = page.frame_document_text()
        if "Sign in to Acme" in text:
            break
        time.sleep(0.1)
    assert "Sign in to Acme" in text, f"the HTML preview did not render: {text!r}"
    assert "data-script-ran" not in body, "a script inside the mail ran"
    frame = page.eval("(() => { const r = document.getElementById('m-html').getBoundingClientRect();"
                      " return {w: r.width, h: r.height}; })()")
    assert frame["w"] > 400 and frame["h"] > 300, f"the preview iframe is too small: {frame}"

    page.screenshot(ARTIFACTS / "inbox.png")
    page.call("Emulation.setEmulatedMedia", features=[{"name": "prefers-color-scheme", "value": "dark"}])
    page.screenshot(ARTIFACTS / "inbox-dark.png")
    page.call("Emulation.setEmulatedMedia", features=[{"name": "prefers-color-scheme", "value": "light"}])

    # Delete removes the selected message (here and on the server) and selects the next one.
    page.press("Delete", "Delete", 46)
    page.wait_for("document.querySelectorAll('#list .item[data-id]').length === 2", "the message to be deleted")
    with emulator.http() as http:
        subjects = [m["subject"] for m in http.get("/emulator/inbox/messages").json()["items"]]
    assert subjects == ["Weekly digest", "Your verification code"]

    # Platform mail says which template and theme rendered it (headers the emulator adds), in the message view.
    assert page.eval("document.getElementById('m-template').hidden") is True  # none for plain SMTP mail
    with emulator.client() as c:
        r = c.post("/auth/otp/send-sign-in-code", json={"email": "lin@example.com",
                                                         "callback_url": "http://localhost:3000/cb"})
        assert r.status_code == 200, r.text
    page.wait_for("document.querySelectorAll('#list .item[data-id]').length === 3", "the platform mail")
    page.press("Home", "Home", 36)
    page.wait_for("document.getElementById('m-subject').textContent.includes('Your code is')", "the platform mail view")
    template = page.eval("document.getElementById('m-template').textContent")
    assert page.eval("document.getElementById('m-template').hidden") is False
    assert template.startswith("Magic Link/OTP (822687fe-8d0a-4467-a0d1-416b6e639478)"), template
    assert page.eval("document.getElementById('m-theme').textContent").startswith("Default Light (")

    assert page.errors() == []
