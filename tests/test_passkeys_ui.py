"""Passkeys in headless Chromium with its virtual authenticator (DevTools WebAuthn domain): a page on a trusted
local origin registers a passkey through navigator.credentials.create() and signs in with
navigator.credentials.get(), talking to the emulator the way the SDK does (the placeholder RP id replaced with the
page's host, options and credentials in @simplewebauthn's JSON encoding)."""
from __future__ import annotations

import json

import pytest

from support import start_emulator
from test_inbox_ui import CHROMIUM, page  # noqa: F401  (the CDP page fixture)
from wire import call, ok, sign_up, write_config

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium binary on PATH")

CEREMONIES = """
(async () => {
  const b64 = (buffer) => btoa(String.fromCharCode(...new Uint8Array(buffer)))
    .replace(/\\+/g, "-").replace(/\\//g, "_").replace(/=+$/, "");
  const bytes = (text) => Uint8Array.from(atob(text.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));
  const api = async (path, body, token) => {
    const headers = {"content-type": "application/json", "x-stack-access-type": "client",
                     "x-stack-project-id": PROJECT, "x-stack-publishable-client-key": KEY};
    if (token) headers["x-stack-access-token"] = token;
    const r = await fetch("/api/v1" + path, {method: "POST", headers, body: JSON.stringify(body)});
    return {status: r.status, body: await r.json()};
  };

  const reg = await api("/auth/passkey/initiate-passkey-registration", {}, TOKEN);
  const o = reg.body.options_json;
  const created = await navigator.credentials.create({publicKey: {
    ...o, challenge: bytes(o.challenge), rp: {...o.rp, id: location.hostname},
    user: {...o.user, id: bytes(o.user.id)}, excludeCredentials: []}});
  const registered = await api("/auth/passkey/register", {code: reg.body.code, credential: {
    id: created.id, rawId: b64(created.rawId), type: created.type,
    authenticatorAttachment: created.authenticatorAttachment, clientExtensionResults: created.getClientExtensionResults(),
    response: {clientDataJSON: b64(created.response.clientDataJSON),
               attestationObject: b64(created.response.attestationObject),
               transports: created.response.getTransports()}}}, TOKEN);

  const auth = await api("/auth/passkey/initiate-passkey-authentication", {});
  const a = auth.body.options_json;
  const got = await navigator.credentials.get({publicKey: {
    challenge: bytes(a.challenge), rpId: location.hostname, allowCredentials: [], userVerification: a.userVerification,
    timeout: a.timeout}});
  const signedIn = await api("/auth/passkey/sign-in", {code: auth.body.code, authentication_response: {
    id: got.id, rawId: b64(got.rawId), type: got.type, clientExtensionResults: got.getClientExtensionResults(),
    response: {clientDataJSON: b64(got.response.clientDataJSON),
               authenticatorData: b64(got.response.authenticatorData), signature: b64(got.response.signature),
               userHandle: got.response.userHandle ? b64(got.response.userHandle) : undefined}}});
  return JSON.stringify({registered, signedIn, credentialId: created.id,
                         userHandle: new TextDecoder().decode(got.response.userHandle)});
})()
"""


@pytest.fixture
def emulator():
    e = start_emulator(config=write_config({"auth": {"password": {"allowSignIn": True},
                                                     "passkey": {"allowSignIn": True}}}),
                       env={"HEXCLAVE_ENABLE_HARDCODED_PASSKEY_CHALLENGE_FOR_TESTING": "no"})
    yield e
    e.stop()


def test_passkey_with_chromium_virtual_authenticator(emulator, page):  # noqa: F811
    user = sign_up(emulator)
    page.call("WebAuthn.enable")
    page.call("WebAuthn.addVirtualAuthenticator", options={
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": True, "hasUserVerification": True,
        "isUserVerified": True, "automaticPresenceSimulation": True})
    # WebAuthn needs a domain as RP id (not an IP address): the page is on localhost, a trusted origin by default.
    page.call("Page.navigate", url=f"http://localhost:{emulator.port}/inbox")
    page.wait_for("document.readyState === 'complete' && location.hostname === 'localhost'", "the page")
    script = (CEREMONIES.replace("PROJECT", json.dumps(emulator.project_id)).replace("KEY", json.dumps(emulator.pck))
              .replace("TOKEN", json.dumps(user["access_token"])))
    result = json.loads(page.eval(script))

    assert result["registered"] == {"status": 200, "body": {"user_handle": result["credentialId"]}}
    signed_in = result["signedIn"]
    assert signed_in["status"] == 200, signed_in
    assert signed_in["body"]["user_id"] == user["user_id"] and signed_in["body"]["is_new_user"] is False
    assert result["userHandle"] == user["user_id"]  # the discoverable credential carries the user's id
    me = ok(call(emulator, "GET", "/users/me", token=signed_in["body"]["access_token"]))
    assert me["id"] == user["user_id"] and me["passkey_auth_enabled"] is True
