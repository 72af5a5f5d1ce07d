"""Email-driven flows end to end: codes are read from the inbox API, never guessed."""
import re
import uuid


CALLBACK = "http://localhost:3000/handler/callback?keep=1"
PROJECT_NAME = "Local Emulator: hexclave.config.py"


def fresh_email():
    return f"flow-{uuid.uuid4().hex[:12]}@example.com"


def wait_mail(emu, to, subject=""):
    with emu.http() as h:
        r = h.get("/emulator/inbox/wait", params={"to": to, "subject": subject, "since": 0, "timeout": 10})
    assert r.status_code == 200, r.text
    return r.json()


def code_of(message):
    return re.search(r"[?&]code=([0-9a-z]{45})", message["text"]).group(1)


def ke(r, status, code):
    assert r.status_code == status, r.text
    assert r.headers["x-stack-known-error"] == code
    return r.json()


# ---- OTP / magic link --------------------------------------------------------------------------------------------

def test_otp_sign_up_then_sign_in_with_otp_and_nonce(emu):
    email = fresh_email()
    with emu.client() as c:
        r = c.post("/auth/otp/send-sign-in-code", json={"email": email, "callback_url": CALLBACK})
        assert r.status_code == 200, r.text
        nonce = r.json()["nonce"]
        assert len(nonce) == 39
        message = wait_mail(emu, email)
        code = code_of(message)
        otp = code[:6].upper()
        assert message["subject"] == f"Sign in to {PROJECT_NAME}: Your code is {otp}"
        assert f">{otp}</p>" in message["html"]
        assert f"http://localhost:3000/handler/callback?keep=1&code={code}" in message["text"]
        assert code.endswith(nonce)

        assert c.post("/auth/otp/sign-in/check-code", json={"code": code}).json() == {"is_code_valid": True}
        first = c.post("/auth/otp/sign-in", json={"code": code})
        assert first.status_code == 200, first.text
        assert first.json()["is_new_user"] is True
        ke(c.post("/auth/otp/sign-in", json={"code": code}), 409, "VERIFICATION_CODE_ALREADY_USED")

    with emu.client(access_token=first.json()["access_token"]) as me:
        user = me.get("/users/me").json()
    assert user["primary_email"] == email and user["primary_email_verified"] and user["otp_auth_enabled"]

    with emu.client() as c:  # second time: the 6-character OTP typed by the user, plus the nonce
        nonce = c.post("/auth/otp/send-sign-in-code", json={"email": email, "callback_url": CALLBACK}).json()["nonce"]
        message = wait_mail(emu, email, subject="Your code is")
        otp = re.search(r"Your code is ([0-9A-Z]{6})", message["subject"]).group(1)
        second = c.post("/auth/otp/sign-in", json={"code": otp + nonce})
        assert second.status_code == 200 and second.json()["is_new_user"] is False
        assert second.json()["user_id"] == user["id"]


def test_otp_sign_up_takes_the_country_of_the_send_code_request(emu):
    email = fresh_email()
    with emu.client() as c:
        r = c.post("/auth/otp/send-sign-in-code", json={"email": email, "callback_url": CALLBACK},
                   headers={"cf-ipcountry": "CA"})
        assert r.status_code == 200, r.text
        code = code_of(wait_mail(emu, email))
        user_id = c.post("/auth/otp/sign-in", json={"code": code}, headers={"cf-ipcountry": "US"}).json()["user_id"]
    with emu.server() as s:
        assert s.get(f"/users/{user_id}").json()["country_code"] == "CA"


def test_otp_wrong_codes_and_attempt_limit(emu):
    email = fresh_email()
    with emu.client() as c:
        nonce = c.post("/auth/otp/send-sign-in-code", json={"email": email, "callback_url": CALLBACK}).json()["nonce"]
        code = code_of(wait_mail(emu, email))
        ke(c.post("/auth/otp/sign-in", json={"code": "0" * 45}), 404, "VERIFICATION_CODE_NOT_FOUND")
        wrong = ("zzzzzz" if not code.startswith("zzzzzz") else "yyyyyy") + nonce
        for _ in range(20):
            ke(c.post("/auth/otp/sign-in", json={"code": wrong}), 404, "VERIFICATION_CODE_NOT_FOUND")
        ke(c.post("/auth/otp/sign-in", json={"code": code}), 400, "VERIFICATION_CODE_MAX_ATTEMPTS_REACHED")
        r = c.post("/auth/otp/sign-in", json={"code": "short"})
        assert r.json()["code"] == "SCHEMA_ERROR" and "must be exactly 45 characters" in r.text


def test_otp_refuses_untrusted_callback_and_unverified_account(emu):
    with emu.client() as c:
        r = c.post("/auth/otp/send-sign-in-code", json={"email": fresh_email(), "callback_url": "https://evil.example/cb"})
        ke(r, 400, "REDIRECT_URL_NOT_WHITELISTED")
        email = fresh_email()
        c.post("/auth/password/sign-up", json={"email": email, "password": "password123"})
        r = c.post("/auth/otp/send-sign-in-code", json={"email": email, "callback_url": CALLBACK})
        ke(r, 409, "USER_EMAIL_ALREADY_EXISTS")


# ---- password reset ------------------------------------------------------------------------------------------------

def test_trusted_domain_wildcards_follow_the_platform():
    """`*` stays within one label, `**` crosses dots, a pattern without a port needs the default port, and
    localhost means localhost, *.localhost and 127.x.x.x."""
    from support import start_emulator
    from wire import write_config

    domains = {"allowLocalhost": True, "trustedDomains": {
        "one": {"baseUrl": "https://*.one.example"}, "deep": {"baseUrl": "https://**.deep.example"},
        "port": {"baseUrl": "https://*.port.example:8443"}, "plain": {"baseUrl": "https://plain.example"}}}
    e = start_emulator(config=write_config({"domains": domains, "auth": {"otp": {"allowSignIn": True}}}))
    try:
        with e.client() as c:
            def status(url):
                r = c.post("/auth/otp/send-sign-in-code", json={"email": fresh_email(), "callback_url": url})
                return r.status_code
            for url in ("https://a.one.example/cb", "https://a.b.deep.example/cb", "https://a.port.example:8443/cb",
                        "https://plain.example:443/cb", "http://127.0.0.7:3000/cb", "http://app.localhost/cb"):
                assert status(url) == 200, url
            for url in ("https://a.b.one.example/cb", "https://one.example/cb", "https://deep.example/cb",
                        "https://a.one.example:444/cb", "https://a.port.example/cb", "http://plain.example/cb",
                        "https://plain.example:8443/cb"):
                assert status(url) == 400, url
    finally:
        e.stop()


def test_password_reset_end_to_end(emu):
    email = fresh_email()
    with emu.client() as c:
        c.post("/auth/password/sign-up", json={"email": email, "password": "password123"})
        r = c.post("/auth/password/send-reset-code", json={"email": email, "callback_url": CALLBACK})
        assert r.json() == {"success": "maybe, only if user with e-mail exists"}
        message = wait_mail(emu, email, subject="Reset your password")
        assert message["subject"] == f"Reset your password at {PROJECT_NAME}"
        code = code_of(message)
        assert c.post("/auth/password/reset/check-code", json={"code": code}).json() == {"is_code_valid": True}
        ke(c.post("/auth/password/reset", json={"code": code, "password": "short"}), 400, "PASSWORD_TOO_SHORT")
        assert c.post("/auth/password/reset", json={"code": code, "password": "brand-new-pass"}).json() == {"success": True}
        ke(c.post("/auth/password/reset", json={"code": code, "password": "another-pass1"}), 409,
           "VERIFICATION_CODE_ALREADY_USED")
        ke(c.post("/auth/password/sign-in", json={"email": email, "password": "password123"}), 400,
           "EMAIL_PASSWORD_MISMATCH")
        assert c.post("/auth/password/sign-in", json={"email": email, "password": "brand-new-pass"}).status_code == 200


def test_password_reset_for_unknown_email_answers_the_same_and_sends_nothing(emu):
    email = fresh_email()
    with emu.client() as c:
        r = c.post("/auth/password/send-reset-code", json={"email": email, "callback_url": CALLBACK})
    assert r.json() == {"success": "maybe, only if user with e-mail exists"}
    with emu.http() as h:
        assert h.get("/emulator/inbox/messages", params={"to": email}).json()["items"] == []


# ---- contact channels and email verification -----------------------------------------------------------------------

def signed_up(emu, **extra):
    email = fresh_email()
    with emu.client() as c:
        tokens = c.post("/auth/password/sign-up", json={"email": email, "password": "password123", **extra}).json()
    return email, tokens


def test_sign_up_with_callback_sends_verification_and_verify_marks_email(emu):
    email, tokens = signed_up(emu, verification_callback_url=CALLBACK)
    message = wait_mail(emu, email, subject="Verify your email")
    assert message["subject"] == f"Verify your email at {PROJECT_NAME}"
    code = code_of(message)
    with emu.client(access_token=tokens["access_token"]) as c:
        assert c.get("/users/me").json()["primary_email_verified"] is False
        assert c.post("/contact-channels/verify/check-code", json={"code": code}).json() == {"is_code_valid": True}
        assert c.post("/contact-channels/verify", json={"code": code}).json() == {"success": True}
        assert c.get("/users/me").json()["primary_email_verified"] is True
        ke(c.post("/contact-channels/verify", json={"code": code}), 409, "VERIFICATION_CODE_ALREADY_USED")


def test_contact_channel_crud_and_rules(emu):
    email, tokens = signed_up(emu)
    other_email, other = signed_up(emu)
    with emu.client(access_token=tokens["access_token"]) as c:
        listed = c.get("/contact-channels", params={"user_id": "me"}).json()
        assert listed["is_paginated"] is False
        assert [ch["value"] for ch in listed["items"]] == [email]
        assert listed["items"][0]["is_primary"] and listed["items"][0]["used_for_auth"]

        second = fresh_email()
        r = c.post("/contact-channels", json={"user_id": "me", "value": second.upper(), "type": "email",
                                              "used_for_auth": False})
        assert r.status_code == 201, r.text
        channel = r.json()
        assert channel["value"] == second and channel["is_verified"] is False and channel["is_primary"] is False
        r = c.post("/contact-channels", json={"user_id": "me", "value": second, "type": "email", "used_for_auth": False})
        assert r.status_code == 400 and r.text == "Contact channel already exists"
        r = c.post("/contact-channels", json={"user_id": "me", "value": other_email, "type": "email",
                                              "used_for_auth": True})
        body = ke(r, 409, "CONTACT_CHANNEL_ALREADY_USED_FOR_AUTH_BY_SOMEONE_ELSE")
        assert set(body["details"]) == {"type", "contact_channel_value", "would_work_if_email_was_verified"}
        r = c.post("/contact-channels", json={"user_id": "me", "value": fresh_email(), "type": "email",
                                              "used_for_auth": False, "is_verified": True})
        assert r.json()["code"] == "SCHEMA_ERROR"  # clients cannot mark their own emails verified

        path = f"/contact-channels/me/{channel['id']}"
        assert c.get(path).json() == channel
        patched = c.patch(path, json={"is_primary": True}).json()
        assert patched["is_primary"] is True
        assert [ch["is_primary"] for ch in c.get("/contact-channels", params={"user_id": "me"}).json()["items"]] \
            == [False, True]
        assert c.get("/users/me").json()["primary_email"] == second

        r = c.post(f"{path}/send-verification-code", json={"callback_url": CALLBACK})
        assert r.json() == {"success": True}
        code = code_of(wait_mail(emu, second, subject="Verify your email"))
        c.post("/contact-channels/verify", json={"code": code})
        assert c.get(path).json()["is_verified"] is True
        ke(c.post(f"{path}/send-verification-code", json={"callback_url": CALLBACK}), 409, "EMAIL_ALREADY_VERIFIED")

        assert c.delete(path).json() == {"success": True}
        assert c.get(path).status_code == 404
        assert c.delete(path).status_code == 400 and c.patch(path, json={"is_primary": True}).status_code == 400

        r = c.get("/contact-channels", params={"user_id": other["user_id"]})
        assert r.status_code == 403
    with emu.server() as s:
        r = s.post("/contact-channels", json={"user_id": other["user_id"], "value": fresh_email(), "type": "email",
                                              "used_for_auth": False, "is_verified": True})
        assert r.status_code == 201 and r.json()["is_verified"] is True


def test_a_verified_secondary_auth_email_signs_in_to_its_user_with_otp(emu):
    email, tokens = signed_up(emu)
    second = fresh_email()
    with emu.client(access_token=tokens["access_token"]) as c:
        channel = c.post("/contact-channels", json={"user_id": "me", "value": second, "type": "email",
                                                    "used_for_auth": True}).json()
        path = f"/contact-channels/{tokens['user_id']}/{channel['id']}"
    with emu.client() as anonymous:  # no user: the platform's own-user error, not a 403
        ke(anonymous.post(f"{path}/send-verification-code", json={"callback_url": CALLBACK}), 400,
           "CANNOT_GET_OWN_USER_WITHOUT_USER")
        ke(anonymous.post("/auth/otp/send-sign-in-code", json={"email": second, "callback_url": CALLBACK}), 409,
           "USER_EMAIL_ALREADY_EXISTS")  # not verified yet
    with emu.client(access_token=tokens["access_token"]) as c:
        c.post(f"{path}/send-verification-code", json={"callback_url": CALLBACK})
        c.post("/contact-channels/verify", json={"code": code_of(wait_mail(emu, second, subject="Verify your email"))})
    with emu.client() as c:
        assert c.post("/auth/otp/send-sign-in-code", json={"email": second, "callback_url": CALLBACK}).status_code == 200
        signed_in = c.post("/auth/otp/sign-in", json={"code": code_of(wait_mail(emu, second, subject="Sign in"))})
    assert signed_in.json()["user_id"] == tokens["user_id"] and signed_in.json()["is_new_user"] is False


def test_old_send_verification_route_needs_the_primary_email(emu):
    email, tokens = signed_up(emu)
    with emu.client(access_token=tokens["access_token"]) as c:
        r = c.post("/contact-channels/send-verification-code", json={"email": fresh_email(), "callback_url": CALLBACK})
        body = ke(r, 400, "EMAIL_IS_NOT_PRIMARY_EMAIL")
        assert body["details"]["primary_email"] == email
        r = c.post("/contact-channels/send-verification-code", json={"email": email, "callback_url": CALLBACK})
        assert r.json() == {"success": True}
    assert code_of(wait_mail(emu, email, subject="Verify"))
