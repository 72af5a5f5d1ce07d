"""Password and anonymous sign-up/sign-in, password changes, sessions and token refresh."""
from __future__ import annotations

from sqlalchemy import delete

from emulator.domain.auth import codes, sessions
from emulator.domain.mail import emails
from emulator.domain.oauth import oauth
from emulator.domain.users import users
from emulator.domain.users.contact_channels import send_verification
from emulator.domain.auth.passwords import (MAX_LENGTH, MIN_LENGTH, check_strength, hash_ahead, hash_password,
                                           verify_password)
from emulator.domain.projects.projects import is_trusted_url
from emulator.domain.auth.sign_up import SignUpMethod, sign_up
from emulator.errors import E, StatusError
from emulator.http import validation as v
from emulator.http.auth import header
from emulator.http.endpoint import SERVER, Ctx, RouteTable, UserIdOrMe
from emulator.http.responses import json_response, success
from emulator.store.models import RefreshToken

api = RouteTable()

PASSWORD = v.Str(required=True, max_length=MAX_LENGTH)
CODE = v.Str(required=True, min_length=codes.CODE_LENGTH, max_length=codes.CODE_LENGTH)
BOT_FIELDS = {
    "bot_challenge_token": v.Str(),
    "bot_challenge_phase": v.Str(one_of=("invisible", "visible")),
    "bot_challenge_unavailable": v.Str(one_of=("true",)),
}


def require_password_auth(ctx: Ctx) -> None:
    if not ctx.project.config["auth"]["password"]["allowSignIn"]:
        raise E.password_authentication_not_enabled()


def _hash_new_password(raw_body, state):
    """A sign-up's password is hashed on a worker thread while the request waits for and uses the database."""
    password = raw_body.get("password") if isinstance(raw_body, dict) else None
    if isinstance(password, str) and MIN_LENGTH <= len(password) <= MAX_LENGTH:
        return hash_ahead(password, state.settings.bcrypt_rounds)
    return None


@api("/auth/password/sign-up", "POST", body=v.Obj({
    "email": v.Email(strict=True, required=True), "password": PASSWORD,
    "verification_callback_url": v.Url(), **BOT_FIELDS}, required=True), ahead=_hash_new_password)
async def password_sign_up(ctx: Ctx):
    body = ctx.body
    require_password_auth(ctx)
    callback = body.get("verification_callback_url")
    if callback and not is_trusted_url(ctx.project.config, callback):
        raise E.redirect_url_not_whitelisted()
    if not ctx.project.config["auth"]["allowSignUp"]:
        raise E.sign_up_not_enabled()
    check_strength(body["password"])
    fields = {"primary_email": body["email"], "primary_email_auth_enabled": True, "password": body["password"]}
    # Signing up with an anonymous session upgrades that user.
    user = await sign_up(ctx.db, ctx.project, fields, SignUpMethod("password", request_country=ctx.request_country),
                         current=ctx.user, rounds=ctx.state.settings.bcrypt_rounds,
                         keep_session_id=ctx.auth.refresh_token_id)
    if callback:
        await send_verification(ctx.db, ctx.state.mail, ctx.project, user, users.primary_channel(user), callback)
    # An upgraded anonymous user may already have a TOTP secret
    return await sessions.sign_in_unless_mfa(ctx.db, ctx.state.signer, ctx.project, user, is_new_user=True)


@api("/auth/password/sign-in", "POST", body=v.Obj({
    "email": v.Str(required=True, non_empty=True), "password": PASSWORD}, required=True))
async def password_sign_in(ctx: Ctx):
    require_password_auth(ctx)
    user = await users.find_by_auth_email(ctx.db, ctx.project.id, ctx.body["email"])
    if user is None or not verify_password(ctx.body["password"], user.password_hash):
        raise E.email_password_mismatch()
    return await sessions.sign_in_unless_mfa(ctx.db, ctx.state.signer, ctx.project, user)


@api("/auth/mfa/sign-in", "POST", body=v.Obj({
    "type": v.Str(required=True, one_of=("totp",)), "totp": v.Str(required=True),
    "code": CODE}, required=True))
async def mfa_sign_in(ctx: Ctx):
    return await sessions.finish_mfa_sign_in(ctx.db, ctx.state.signer, ctx.project, ctx.body["code"],
                                             ctx.body["totp"])


@api("/auth/anonymous/sign-up", "POST")
async def anonymous_sign_up(ctx: Ctx):
    user = await users.create(ctx.db, ctx.project, {"is_anonymous": True}, rounds=ctx.state.settings.bcrypt_rounds)
    return await sessions.sign_in(ctx.db, ctx.state.signer, ctx.project, user)


@api("/auth/password/update", "POST", user_required=True, body=v.Obj({
    "old_password": PASSWORD, "new_password": PASSWORD}, required=True))
async def password_update(ctx: Ctx):
    require_password_auth(ctx)
    user = ctx.user
    if user.password_hash is None:
        raise E.user_does_not_have_password()
    if not verify_password(ctx.body["old_password"], user.password_hash):
        raise E.password_confirmation_mismatch()
    check_strength(ctx.body["new_password"])
    user.password_hash = hash_password(ctx.body["new_password"], ctx.state.settings.bcrypt_rounds)
    # Every other session ends; the one whose refresh token came with the request stays.
    keep = header(ctx.request, "refresh-token")
    await ctx.db.execute(delete(RefreshToken).where(RefreshToken.user_id == user.id,
                                                    RefreshToken.token != (keep or "")))
    return success()


@api("/auth/password/set", "POST", user_required=True, body=v.Obj({"password": PASSWORD}, required=True))
async def password_set(ctx: Ctx):
    require_password_auth(ctx)
    if ctx.user.password_hash is not None:
        raise StatusError(400, "User already has a password set.")
    check_strength(ctx.body["password"])
    ctx.user.password_hash = hash_password(ctx.body["password"], ctx.state.settings.bcrypt_rounds)
    return success()


# ---- one-time codes by email: sign-in (OTP / magic link) and password reset -----------------------------------------

@api("/auth/otp/send-sign-in-code", "POST", body=v.Obj({
    "email": v.Email(strict=True, required=True), "callback_url": v.Url(required=True), **BOT_FIELDS}, required=True))
async def otp_send_sign_in_code(ctx: Ctx):
    config = ctx.project.config
    if not config["auth"]["otp"]["allowSignIn"]:
        raise StatusError(403, "OTP sign-in is not enabled for this project")
    email = users.normalize_email(ctx.body["email"])
    user = await users.find_by_auth_email(ctx.db, ctx.project.id, email)
    if user is not None:
        channel = next(c for c in user.contact_channels if c.value == email and c.used_for_auth)
        if not channel.is_verified:
            raise E.user_email_already_exists(email, would_work_if_email_was_verified=True)
        user.otp_auth_enabled = True  # a verified address may always receive sign-in codes
    elif not config["auth"]["allowSignUp"]:
        raise E.sign_up_not_enabled()
    if not is_trusted_url(config, ctx.body["callback_url"]):
        raise E.redirect_url_not_whitelisted()
    # A sign-up that follows uses this request's context (its country), as the platform stores it with the code.
    code = await codes.issue(ctx.db, ctx.project.id, codes.ONE_TIME_PASSWORD,
                             {"request_country": ctx.request_country}, method={"email": email})
    await emails.send_template(ctx.db, ctx.state.mail, ctx.project, email, "magic_link", {
        "magicLink": codes.link_with_code(ctx.body["callback_url"], code), "otp": code[:codes.OTP_LENGTH].upper()},
        user_name=user.display_name if user else None)
    return {"nonce": code[codes.OTP_LENGTH:]}


@api("/auth/otp/sign-in", "POST", body=v.Obj({"code": CODE}, required=True))
async def otp_sign_in(ctx: Ctx):
    row = await codes.redeem(ctx.db, ctx.project.id, codes.ONE_TIME_PASSWORD, ctx.body["code"], consume=True)
    email = row.data["method"]["email"]
    user = await users.find_by_auth_email(ctx.db, ctx.project.id, email)
    is_new_user = user is None
    fields = {"primary_email": email, "primary_email_verified": True, "primary_email_auth_enabled": True,
              "otp_auth_enabled": True}
    if user is None:
        country = row.data.get("request_country") or ctx.request_country
        user = await sign_up(ctx.db, ctx.project, fields, SignUpMethod("otp", request_country=country),
                             current=ctx.user, rounds=ctx.state.settings.bcrypt_rounds)
    response = await sessions.sign_in_unless_mfa(ctx.db, ctx.state.signer, ctx.project, user, is_new_user=is_new_user)
    return {**response, "is_new_user": is_new_user}


@api("/auth/otp/sign-in/check-code", "POST", body=v.Obj({"code": CODE}, required=True))
async def otp_check_code(ctx: Ctx):
    await codes.redeem(ctx.db, ctx.project.id, codes.ONE_TIME_PASSWORD, ctx.body["code"], consume=False)
    return {"is_code_valid": True}


@api("/auth/password/send-reset-code", "POST", body=v.Obj({
    "email": v.Email(required=True), "callback_url": v.Url(required=True)}, required=True))
async def password_send_reset_code(ctx: Ctx):
    require_password_auth(ctx)
    if not is_trusted_url(ctx.project.config, ctx.body["callback_url"]):
        raise E.redirect_url_not_whitelisted()
    user = await users.find_by_auth_email(ctx.db, ctx.project.id, ctx.body["email"])
    if user is not None:  # the answer is the same either way, so addresses cannot be probed
        email = users.normalize_email(ctx.body["email"])
        code = await codes.issue(ctx.db, ctx.project.id, codes.PASSWORD_RESET, {"user_id": user.id},
                                 method={"email": email})
        await emails.send_template(ctx.db, ctx.state.mail, ctx.project, email, "password_reset",
                                   {"passwordResetLink": codes.link_with_code(ctx.body["callback_url"], code)},
                                   user_name=user.display_name)
    return {"success": "maybe, only if user with e-mail exists"}


async def reset_code_user(ctx: Ctx, consume: bool):
    row = await codes.redeem(ctx.db, ctx.project.id, codes.PASSWORD_RESET, ctx.body["code"], consume=consume)
    user = await users.get(ctx.db, ctx.project, row.data["user_id"])
    if user is None:
        raise E.verification_code_not_found()
    return user


@api("/auth/password/reset", "POST", body=v.Obj({"code": CODE, "password": PASSWORD}, required=True))
async def password_reset(ctx: Ctx):
    require_password_auth(ctx)
    check_strength(ctx.body["password"])
    user = await reset_code_user(ctx, consume=True)
    user.password_hash = hash_password(ctx.body["password"], ctx.state.settings.bcrypt_rounds)
    await users.announce_update(ctx.db, ctx.project, user)  # the platform resets through its user update
    return success()


@api("/auth/password/reset/check-code", "POST", body=v.Obj({"code": CODE}, required=True))
async def password_reset_check_code(ctx: Ctx):
    await reset_code_user(ctx, consume=False)
    return {"is_code_valid": True}


# ---- sessions -------------------------------------------------------------------------------------------------------

@api("/auth/sessions", "POST", access=SERVER, body=v.Obj({
    "user_id": UserIdOrMe(required=True),
    "expires_in_millis": v.Int(min_value=0, max_value=sessions.MAX_SESSION_MILLIS),
    "is_impersonation": v.Bool()}, required=True))
async def create_session(ctx: Ctx):
    user = await users.get(ctx.db, ctx.project, ctx.body["user_id"])
    if user is None:
        raise E.user_id_does_not_exist(ctx.body["user_id"])
    session = await sessions.create(ctx.db, ctx.project, user, expires_in_millis=ctx.body.get("expires_in_millis"),
                                    is_impersonation=bool(ctx.body.get("is_impersonation")))
    return {"refresh_token": session.token,
            "access_token": ctx.state.signer.access_token(ctx.project, user, session.id)}


@api("/auth/sessions", "GET", query=v.Obj({"user_id": UserIdOrMe(required=True)}))
async def list_sessions(ctx: Ctx):
    ctx.forbid_other_user(ctx.query["user_id"], "Client can only list sessions for their own user.",
                          without_user=E.cannot_get_own_user_without_user())
    await users.require(ctx.db, ctx.project, ctx.query["user_id"])
    items = await sessions.list_for_user(ctx.db, ctx.project, ctx.query["user_id"],
                                         include_impersonation=ctx.auth.access_type == "admin",
                                         current_session_id=ctx.auth.refresh_token_id)
    return {"items": items, "is_paginated": False}


@api("/auth/sessions/current", "DELETE")
async def sign_out(ctx: Ctx):
    if ctx.auth.refresh_token_id is None:
        raise E.access_token_expired(None)
    session = await sessions.get(ctx.db, ctx.project, ctx.auth.refresh_token_id)
    if session is None:
        raise E.refresh_token_not_found_or_expired()
    await ctx.db.delete(session)
    return success()


@api("/auth/sessions/current/refresh", "POST")
async def refresh_current(ctx: Ctx):
    token = header(ctx.request, "refresh-token")
    if not token:
        raise E.schema(f"Request validation failed on POST {ctx.request.url.path}:\n"
                       "  - headers.x-stack-refresh-token must be defined")
    session, user = await sessions.by_refresh_token(ctx.db, ctx.project, token)
    return {"access_token": ctx.state.signer.access_token(ctx.project, user, session.id)}


@api("/auth/sessions/{session_id}", "DELETE", params=v.Obj({"session_id": v.Uuid(required=True)}),
     query=v.Obj({"user_id": UserIdOrMe()}))
async def delete_session(ctx: Ctx):
    user_id = ctx.query.get("user_id")
    if ctx.is_client:
        ctx.forbid_other_user(user_id or (ctx.user.id if ctx.user else None),
                              "Client can only delete sessions for their own user.")
        user_id = ctx.user.id
    session = await sessions.get(ctx.db, ctx.project, ctx.params["session_id"])
    if session is None or (user_id is not None and session.user_id != user_id):
        raise StatusError(404, "Session not found.")
    if session.id == ctx.auth.refresh_token_id:
        raise E.cannot_delete_current_session()
    await ctx.db.delete(session)
    return success()


# ---- the OAuth token endpoint: authorization_code (OAuth sign-in, cross-domain handoff) and refresh_token ----------

class OpenObj(v.Obj):
    """An object schema that lets unknown keys through (OAuth clients and browsers add their own parameters)."""
    open_ended = True

    def validate(self, value, path, errors):
        if not isinstance(value, dict):
            return super().validate(value, path, errors)
        out = super().validate({k: val for k, val in value.items() if k in self.fields}, path, errors)
        return {**{k: val for k, val in value.items() if k not in self.fields}, **(out or {})}


TOKEN_BODY = OpenObj({
    "grant_type": v.Str(required=True, one_of=("authorization_code", "refresh_token")),
    "client_id": v.Str(), "client_secret": v.Str(),
}, required=True)
NO_CACHE = {"pragma": "no-cache", "cache-control": "no-store"}


@api("/auth/oauth/token", "POST", access=None, body=TOKEN_BODY)
async def oauth_token(ctx: Ctx):
    body = ctx.body
    directory = ctx.state.projects
    client_id, secret = body.get("client_id"), body.get("client_secret")
    # The reference checks the key first for precise errors, then its OAuth library rejects missing credentials.
    project = await oauth.project_of_client_id(directory, ctx.db, client_id) if client_id else None
    if project is not None:
        if secret:
            await oauth.check_publishable_key(directory, ctx.db, project, secret,
                                              E.invalid_oauth_client_id_or_secret(None))
        elif project.config["project"]["requirePublishableClientKey"]:
            raise E.publishable_client_key_required(project.id)
    if project is None or not secret:
        raise E.invalid_oauth_client_id_or_secret(None)
    if body["grant_type"] == "authorization_code":
        try:
            result = await oauth.exchange_authorization_code(ctx.db, ctx.state.signer, project, body)
        except oauth.OAuthProtocolError as error:
            return json_response({"error": error.error, "error_description": error.description}, error.status,
                                 headers=NO_CACHE)
        return json_response(result, headers=NO_CACHE)
    session, user = await sessions.by_refresh_token(ctx.db, project, str(body.get("refresh_token") or ""))
    return json_response({
        "access_token": ctx.state.signer.access_token(project, user, session.id),
        "token_type": "Bearer", "expires_in": 3600, "scope": "legacy",
        "after_callback_redirect_url": None, "afterCallbackRedirectUrl": None,
    }, headers=NO_CACHE)
