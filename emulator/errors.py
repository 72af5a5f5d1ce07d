"""Errors the API answers with: the platform's known errors and plain status errors.

Domain code raises these; the HTTP layer renders them. Codes, status codes and `details` keys follow the
reference exactly (the SDK rebuilds typed errors from `details`); the human messages are our own words.
"""
from __future__ import annotations

from typing import Any


class StatusError(Exception):
    """A plain error: status code and a text body, no known-error code."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class KnownError(StatusError):
    def __init__(self, code: str, status: int, message: str, details: dict[str, Any] | None = None):
        super().__init__(status, message)
        self.code = code
        self.details = details

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code}
        if self.details:
            out["details"] = self.details
        out["error"] = self.message
        return out


def _ke(code: str, status: int, human_message: str, **details: Any) -> KnownError:
    return KnownError(code, status, human_message, details or None)


ACCESS_TYPE_HEADER = "x-stack-access-type"


class E:
    """Constructors of every known error the emulator raises, named after their codes."""

    @staticmethod
    def body_parsing(message: str) -> KnownError:
        return _ke("BODY_PARSING_ERROR", 400, message)

    @staticmethod
    def schema(message: str) -> KnownError:
        return _ke("SCHEMA_ERROR", 400, message, message=message)

    @staticmethod
    def project_key_without_access_type() -> KnownError:
        return _ke("PROJECT_KEY_WITHOUT_ACCESS_TYPE", 400,
                   f"A project key or admin access token was sent without the {ACCESS_TYPE_HEADER} header; set it to "
                   "'client', 'server' or 'admin'.")

    @staticmethod
    def invalid_access_type(value: str) -> KnownError:
        return _ke("INVALID_ACCESS_TYPE", 400,
                   f"The {ACCESS_TYPE_HEADER} header must be 'client', 'server', or 'admin', but was '{value}'.")

    @staticmethod
    def access_type_without_project_id(access_type: str) -> KnownError:
        return _ke("ACCESS_TYPE_WITHOUT_PROJECT_ID", 400,
                   f"The {ACCESS_TYPE_HEADER} header was '{access_type}', but no x-stack-project-id header was sent.",
                   request_type=access_type)

    @staticmethod
    def access_type_required() -> KnownError:
        return _ke("ACCESS_TYPE_REQUIRED", 400,
                   f"This endpoint needs project authentication: send the {ACCESS_TYPE_HEADER} header ('client', "
                   "'server' or 'admin'), the x-stack-project-id header and the matching project key.")

    @staticmethod
    def insufficient_access_type(actual: str, allowed: list[str]) -> KnownError:
        options = " or ".join(f"'{a}'" for a in allowed)
        return _ke("INSUFFICIENT_ACCESS_TYPE", 401,
                   f"The {ACCESS_TYPE_HEADER} header must be {options}, but was '{actual}'.",
                   actual_access_type=actual, allowed_access_types=allowed)

    @staticmethod
    def invalid_publishable_client_key(project_id: str) -> KnownError:
        return _ke("INVALID_PUBLISHABLE_CLIENT_KEY", 401,
                   f'The publishable key is not valid for the project "{project_id}". Does the project and/or the key exist?',
                   project_id=project_id)

    @staticmethod
    def invalid_secret_server_key(project_id: str) -> KnownError:
        return _ke("INVALID_SECRET_SERVER_KEY", 401,
                   f'The secret server key is not valid for the project "{project_id}". Does the project and/or the key exist?',
                   project_id=project_id)

    @staticmethod
    def invalid_super_secret_admin_key(project_id: str) -> KnownError:
        return _ke("INVALID_SUPER_SECRET_ADMIN_KEY", 401,
                   f'The super secret admin key is not valid for the project "{project_id}". Does the project and/or the key exist?',
                   project_id=project_id)

    @staticmethod
    def unparsable_admin_access_token() -> KnownError:
        return _ke("UNPARSABLE_ADMIN_ACCESS_TOKEN", 401, "The admin access token could not be parsed.")

    @staticmethod
    def admin_access_token_expired(expired_at_millis: int | None) -> KnownError:
        return KnownError("ADMIN_ACCESS_TOKEN_EXPIRED", 401, "The admin access token has expired; refresh it and retry.",
                          {"expired_at_millis": expired_at_millis})

    @staticmethod
    def expected_internal_project() -> KnownError:
        return _ke("EXPECTED_INTERNAL_PROJECT", 401, "This endpoint only works on the internal project.")

    @staticmethod
    def admin_access_token_is_not_admin() -> KnownError:
        return _ke("ADMIN_ACCESS_TOKEN_IS_NOT_ADMIN", 401,
                   "The admin access token's user does not own this project.")

    @staticmethod
    def publishable_client_key_required(project_id: str | None) -> KnownError:
        return KnownError("PUBLISHABLE_CLIENT_KEY_REQUIRED_FOR_PROJECT", 401,
                          f"The project {project_id} requires a publishable client key.", {"project_id": project_id})

    @staticmethod
    def server_authentication_required() -> KnownError:
        return _ke("SERVER_AUTHENTICATION_REQUIRED", 401, "The secret server key must be provided.")

    @staticmethod
    def admin_authentication_required() -> KnownError:
        return _ke("ADMIN_AUTHENTICATION_REQUIRED", 401, "The super secret admin key must be provided.")

    @staticmethod
    def current_project_not_found(project_id: str) -> KnownError:
        return _ke("CURRENT_PROJECT_NOT_FOUND", 400,
                   f"The current project with ID {project_id} was not found. Please check the value of the "
                   "x-stack-project-id header.", project_id=project_id)

    @staticmethod
    def project_not_found(project_id: str) -> KnownError:
        return _ke("PROJECT_NOT_FOUND", 404, f"There is no project {project_id} that this user can reach.",
                   project_id=project_id)

    @staticmethod
    def branch_does_not_exist(branch_id: str) -> KnownError:
        return _ke("BRANCH_DOES_NOT_EXIST", 400, f'The branch "{branch_id}" does not exist.', branch_id=branch_id)

    # --- sessions and tokens
    @staticmethod
    def unparsable_access_token() -> KnownError:
        return _ke("UNPARSABLE_ACCESS_TOKEN", 401, "Access token is not parsable.")

    @staticmethod
    def access_token_expired(expired_at_millis: int | None, project_id: str | None = None, user_id: str | None = None,
                             refresh_token_id: str | None = None) -> KnownError:
        return KnownError("ACCESS_TOKEN_EXPIRED", 401, "Access token has expired. Please refresh it and try again.",
                          {"expired_at_millis": expired_at_millis, "project_id": project_id, "user_id": user_id,
                           "refresh_token_id": refresh_token_id})

    @staticmethod
    def invalid_project_for_access_token(expected: str, actual: str) -> KnownError:
        return _ke("INVALID_PROJECT_FOR_ACCESS_TOKEN", 401,
                   f"The access token belongs to project {actual}, but the request is for project {expected}.",
                   expected_project_id=expected, actual_project_id=actual)

    @staticmethod
    def refresh_token_not_found_or_expired() -> KnownError:
        return _ke("REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED", 401,
                   "Refresh token not found for this project, or the session has expired/been revoked.")

    @staticmethod
    def cannot_delete_current_session() -> KnownError:
        return _ke("CANNOT_DELETE_CURRENT_SESSION", 400, "The session of this request cannot be deleted here; sign out instead.")

    @staticmethod
    def anonymous_authentication_not_allowed() -> KnownError:
        return _ke("ANONYMOUS_AUTHENTICATION_NOT_ALLOWED", 401,
                   "An anonymous user's access token was sent, but this request does not allow anonymous users "
                   "(send x-stack-allow-anonymous-user: true).")

    @staticmethod
    def restricted_user_not_allowed(reason: dict) -> KnownError:
        return _ke("RESTRICTED_USER_NOT_ALLOWED", 403,
                   f"The user is restricted ({reason['type']}) and this request does not allow restricted users "
                   "(send x-stack-allow-restricted-user: true).", restricted_reason=reason)

    @staticmethod
    def cannot_get_own_user_without_user() -> KnownError:
        return _ke("CANNOT_GET_OWN_USER_WITHOUT_USER", 400,
                   "You have specified 'me' as a userId, but did not provide authentication for a user.")

    @staticmethod
    def user_authentication_required() -> KnownError:
        return _ke("USER_AUTHENTICATION_REQUIRED", 401, "User authentication required for this endpoint.")

    # --- CLI login, data vault, analytics uploads
    @staticmethod
    def invalid_polling_code() -> KnownError:
        return _ke("INVALID_POLLING_CODE", 400, "No CLI login attempt has this polling code.")

    @staticmethod
    def data_vault_store_does_not_exist(store_id: str) -> KnownError:
        return _ke("DATA_VAULT_STORE_DOES_NOT_EXIST", 400,
                   f"This project's config declares no data vault store {store_id!r} (dataVault.stores).",
                   store_id=store_id)

    @staticmethod
    def data_vault_store_hashed_key_does_not_exist(store_id: str, hashed_key: str) -> KnownError:
        return _ke("DATA_VAULT_STORE_HASHED_KEY_DOES_NOT_EXIST", 400,
                   f"Data vault store {store_id!r} holds nothing under the hashed key {hashed_key!r}.",
                   store_id=store_id, hashed_key=hashed_key)

    @staticmethod
    def analytics_not_enabled() -> KnownError:
        return _ke("ANALYTICS_NOT_ENABLED", 400,
                   "The analytics app is not enabled for this project (apps.installed.analytics.enabled).")

    # --- users and passwords
    @staticmethod
    def user_email_already_exists(email: str, would_work_if_email_was_verified: bool = False) -> KnownError:
        return KnownError("USER_EMAIL_ALREADY_EXISTS", 409, f'A user with email "{email}" already exists.',
                          {"email": email, "would_work_if_email_was_verified": would_work_if_email_was_verified})

    @staticmethod
    def user_id_does_not_exist(user_id: str) -> KnownError:
        return _ke("USER_ID_DOES_NOT_EXIST", 400, f'No user with ID "{user_id}" exists.', user_id=user_id)

    @staticmethod
    def user_not_found() -> KnownError:
        return _ke("USER_NOT_FOUND", 404, "User not found.")

    @staticmethod
    def sign_up_not_enabled() -> KnownError:
        return _ke("SIGN_UP_NOT_ENABLED", 400, "Creating new accounts is not enabled for this project.")

    @staticmethod
    def sign_up_rejected() -> KnownError:
        # The rule's own message is for the project's admins only, so it is never shown here.
        message = "Your sign up was rejected by an administrator's sign-up rule."
        return _ke("SIGN_UP_REJECTED", 403, message, message=message)

    @staticmethod
    def passkey_authentication_not_enabled() -> KnownError:
        return _ke("PASSKEY_AUTHENTICATION_NOT_ENABLED", 400, "Passkey authentication is not enabled for this project.")

    @staticmethod
    def passkey_registration_failed(reason: str) -> KnownError:
        return _ke("PASSKEY_REGISTRATION_FAILED", 400, reason)

    @staticmethod
    def passkey_authentication_failed(reason: str) -> KnownError:
        return _ke("PASSKEY_AUTHENTICATION_FAILED", 400, reason)

    @staticmethod
    def password_authentication_not_enabled() -> KnownError:
        return _ke("PASSWORD_AUTHENTICATION_NOT_ENABLED", 400, "Password authentication is not enabled for this project.")

    @staticmethod
    def email_password_mismatch() -> KnownError:
        return _ke("EMAIL_PASSWORD_MISMATCH", 400, "Wrong e-mail or password.")

    @staticmethod
    def apple_bundle_id_not_configured() -> KnownError:
        return _ke("APPLE_BUNDLE_ID_NOT_CONFIGURED", 400,
                   "Native Apple sign-in needs the app's Bundle ID: set auth.oauth.providers.apple.appleBundles.")

    @staticmethod
    def invalid_apple_credentials() -> KnownError:
        return _ke("INVALID_APPLE_CREDENTIALS", 400,
                   "The Apple identity token could not be verified (the emulator accepts ID tokens of its simulated "
                   "Apple provider issued to one of the configured Bundle IDs).")

    @staticmethod
    def redirect_url_not_whitelisted() -> KnownError:
        return _ke("REDIRECT_URL_NOT_WHITELISTED", 400, "The redirect URL is not a trusted domain of this project.")

    @staticmethod
    def password_too_short(min_length: int) -> KnownError:
        return _ke("PASSWORD_TOO_SHORT", 400, f"Password too short. Minimum length is {min_length}.",
                   min_length=min_length)

    @staticmethod
    def password_too_long(max_length: int) -> KnownError:
        # The reference spells this detail key in camelCase.
        return _ke("PASSWORD_TOO_LONG", 400, f"Password too long. Maximum length is {max_length}.", maxLength=max_length)

    @staticmethod
    def user_does_not_have_password() -> KnownError:
        return _ke("USER_DOES_NOT_HAVE_PASSWORD", 400, "This user does not have a password; set one first.")

    @staticmethod
    def password_confirmation_mismatch() -> KnownError:
        return _ke("PASSWORD_CONFIRMATION_MISMATCH", 400, "The old password is wrong.")

    @staticmethod
    def email_already_verified() -> KnownError:
        return _ke("EMAIL_ALREADY_VERIFIED", 409, "This email is already verified.")

    @staticmethod
    def email_is_not_primary_email(email: str, primary_email: str | None) -> KnownError:
        return KnownError("EMAIL_IS_NOT_PRIMARY_EMAIL", 400, f"{email} is not the user's primary email.",
                          {"email": email, "primary_email": primary_email})

    @staticmethod
    def contact_channel_already_used_for_auth(value: str, would_work_if_email_was_verified: bool = False) -> KnownError:
        return KnownError("CONTACT_CHANNEL_ALREADY_USED_FOR_AUTH_BY_SOMEONE_ELSE", 409,
                          f'The email "{value}" is already used for signing in by another account.',
                          {"type": "email", "contact_channel_value": value,
                           "would_work_if_email_was_verified": would_work_if_email_was_verified})

    @staticmethod
    def email_not_editable(email_id: str, status: str) -> KnownError:
        return KnownError("EMAIL_NOT_EDITABLE", 400, f"The email {email_id} can no longer be changed (status: {status}).",
                          {"email_id": email_id, "status": status})

    @staticmethod
    def multi_factor_authentication_required(attempt_code: str) -> KnownError:
        return _ke("MULTI_FACTOR_AUTHENTICATION_REQUIRED", 400,
                   "This user has multi-factor authentication: finish signing in at /auth/mfa/sign-in with this "
                   "attempt code and a TOTP code.", attempt_code=attempt_code)

    @staticmethod
    def invalid_totp_code() -> KnownError:
        return _ke("INVALID_TOTP_CODE", 400, "The TOTP code is wrong.")

    @staticmethod
    def verification_code_not_found() -> KnownError:
        return _ke("VERIFICATION_CODE_NOT_FOUND", 404, "The verification code does not exist for this project.")

    @staticmethod
    def verification_code_expired() -> KnownError:
        return _ke("VERIFICATION_CODE_EXPIRED", 400, "The verification code has expired.")

    @staticmethod
    def verification_code_already_used() -> KnownError:
        return _ke("VERIFICATION_CODE_ALREADY_USED", 409, "The verification code has already been used.")

    @staticmethod
    def verification_code_max_attempts_reached() -> KnownError:
        return _ke("VERIFICATION_CODE_MAX_ATTEMPTS_REACHED", 400,
                   "The verification code was tried too many times; request a new one.")

    @staticmethod
    def invalid_oauth_client_id_or_secret(client_id: str | None) -> KnownError:
        return KnownError("INVALID_OAUTH_CLIENT_ID_OR_SECRET", 400,
                          "The OAuth client ID or secret is not valid.", {"client_id": client_id})

    @staticmethod
    def not_supported(what: str) -> KnownError:
        """Our own code, for the few platform features the emulator does not have (listed in the README)."""
        return _ke("NOT_SUPPORTED_BY_EMULATOR", 501, f"{what} is not supported by hexclave-emulator yet.")

    @staticmethod
    def email_rendering_error(error: str) -> KnownError:
        return _ke("EMAIL_RENDERING_ERROR", 400, f"The email could not be rendered: {error}", error=error)

    @staticmethod
    def requires_custom_email_server() -> KnownError:
        return KnownError("REQUIRES_CUSTOM_EMAIL_SERVER", 400,
                          "This needs the project's own email server: set emails.server (isShared: False) first.")

    @staticmethod
    def email_capacity_boost_already_active(expires_at: str) -> KnownError:
        return _ke("EMAIL_CAPACITY_BOOST_ALREADY_ACTIVE", 409,
                   f"An email capacity boost is already active; it ends at {expires_at}.", expires_at=expires_at)

    # ---- teams and permissions ----

    @staticmethod
    def team_not_found(team_id: str) -> KnownError:
        return _ke("TEAM_NOT_FOUND", 404, f"There is no team {team_id} in this project.", team_id=team_id)

    @staticmethod
    def team_membership_not_found(team_id: str, user_id: str) -> KnownError:
        return _ke("TEAM_MEMBERSHIP_NOT_FOUND", 404, f"User {user_id} is not a member of team {team_id}.",
                   team_id=team_id, user_id=user_id)

    @staticmethod
    def team_membership_already_exists() -> KnownError:
        return _ke("TEAM_MEMBERSHIP_ALREADY_EXISTS", 409, "The user is already a member of this team.")

    @staticmethod
    def team_invitation_restricted_user_not_allowed(reason: dict) -> KnownError:
        return _ke("TEAM_INVITATION_RESTRICTED_USER_NOT_ALLOWED", 403,
                   f"A restricted user ({reason['type']}) cannot accept team invitations; finish onboarding first.",
                   restricted_reason=reason)

    @staticmethod
    def permission_not_found(permission_id: str) -> KnownError:
        return _ke("PERMISSION_NOT_FOUND", 404,
                   f"There is no permission {permission_id!r}; define it in rbac.permissions of hexclave.config.py.",
                   permission_id=permission_id)

    @staticmethod
    def wrong_permission_scope(permission_id: str, expected_scope: str, actual_scope: str | None) -> KnownError:
        return _ke("WRONG_PERMISSION_SCOPE", 404,
                   f"Permission {permission_id!r} is a {actual_scope} permission, but a {expected_scope} permission "
                   "was expected here.",
                   permission_id=permission_id, expected_scope=expected_scope, actual_scope=actual_scope)

    @staticmethod
    def contained_permission_not_found(permission_id: str) -> KnownError:
        return _ke("CONTAINED_PERMISSION_NOT_FOUND", 400,
                   f"The contained permission {permission_id!r} does not exist in this scope.",
                   permission_id=permission_id)

    @staticmethod
    def permission_id_already_exists(permission_id: str) -> KnownError:
        return _ke("PERMISSION_ID_ALREADY_EXISTS", 400, f"A permission with id {permission_id!r} already exists.",
                   permission_id=permission_id)

    @staticmethod
    def team_permission_required(team_id: str, user_id: str, permission_id: str) -> KnownError:
        return _ke("TEAM_PERMISSION_REQUIRED", 401,
                   f"User {user_id} needs permission {permission_id} in team {team_id} for this.",
                   team_id=team_id, user_id=user_id, permission_id=permission_id)

    @staticmethod
    def team_permission_not_found(team_id: str, user_id: str, permission_id: str) -> KnownError:
        return _ke("TEAM_PERMISSION_NOT_FOUND", 401,
                   f"User {user_id} was not granted permission {permission_id} in team {team_id}.",
                   team_id=team_id, user_id=user_id, permission_id=permission_id)

    @staticmethod
    def project_permission_required(user_id: str, permission_id: str) -> KnownError:
        return _ke("PROJECT_PERMISSION_REQUIRED", 401, f"User {user_id} needs project permission {permission_id}.",
                   user_id=user_id, permission_id=permission_id)

    # ---- user and team API keys ----

    @staticmethod
    def api_key_not_found() -> KnownError:
        return _ke("API_KEY_NOT_FOUND", 404, "No such API key in this project.")

    @staticmethod
    def api_key_expired() -> KnownError:
        return _ke("API_KEY_EXPIRED", 401, "This API key has expired.")

    @staticmethod
    def public_api_key_cannot_be_revoked() -> KnownError:
        return _ke("PUBLIC_API_KEY_CANNOT_BE_REVOKED", 400,
                   "A public API key is meant to be seen; the leaked-credential endpoint does not revoke it.")

    @staticmethod
    def api_key_revoked() -> KnownError:
        return _ke("API_KEY_REVOKED", 401, "This API key was revoked.")

    @staticmethod
    def wrong_api_key_type(expected_type: str, actual_type: str) -> KnownError:
        return _ke("WRONG_API_KEY_TYPE", 400,
                   f"This endpoint takes {expected_type} API keys, but a {actual_type} API key was given.",
                   expected_type=expected_type, actual_type=actual_type)

    # ---- OAuth ----

    @staticmethod
    def oauth_provider_not_found_or_not_enabled() -> KnownError:
        return _ke("OAUTH_PROVIDER_NOT_FOUND_OR_NOT_ENABLED", 400,
                   "This OAuth provider is not configured for the project (auth.oauth.providers), or has no type.")

    @staticmethod
    def oauth_extra_scope_not_available_with_shared_oauth_keys() -> KnownError:
        return _ke("OAUTH_EXTRA_SCOPE_NOT_AVAILABLE_WITH_SHARED_OAUTH_KEYS", 400,
                   "Extra provider scopes need the project's own OAuth keys; this provider uses the shared keys "
                   "(set isShared: False for it).")

    @staticmethod
    def oauth_access_token_not_available_with_shared_oauth_keys() -> KnownError:
        return _ke("OAUTH_ACCESS_TOKEN_NOT_AVAILABLE_WITH_SHARED_OAUTH_KEYS", 400,
                   "Provider access tokens are not handed out for providers on the shared OAuth keys.")

    @staticmethod
    def outer_oauth_timeout() -> KnownError:
        return _ke("OUTER_OAUTH_TIMEOUT", 408, "This OAuth sign-in took too long; please start it again.")

    @staticmethod
    def oauth_provider_access_denied() -> KnownError:
        return _ke("OAUTH_PROVIDER_ACCESS_DENIED", 400, "The OAuth provider did not grant access.")

    @staticmethod
    def oauth_provider_temporarily_unavailable() -> KnownError:
        return _ke("OAUTH_PROVIDER_TEMPORARILY_UNAVAILABLE", 503,
                   "The OAuth provider is unavailable at the moment; please try signing in again.")

    @staticmethod
    def oauth_connection_already_connected_to_another_user() -> KnownError:
        return _ke("OAUTH_CONNECTION_ALREADY_CONNECTED_TO_ANOTHER_USER", 409,
                   "This provider account is already connected to another user.")

    @staticmethod
    def oauth_connection_not_connected_to_user() -> KnownError:
        return _ke("OAUTH_CONNECTION_NOT_CONNECTED_TO_USER", 400, "The user has no such connected OAuth account.")

    @staticmethod
    def oauth_connection_does_not_have_required_scope() -> KnownError:
        return _ke("OAUTH_CONNECTION_DOES_NOT_HAVE_REQUIRED_SCOPE", 400,
                   "The connected account was not granted the requested scope; the user must connect it again.")

    @staticmethod
    def oauth_provider_account_id_already_used_for_sign_in() -> KnownError:
        return _ke("OAUTH_PROVIDER_ACCOUNT_ID_ALREADY_USED_FOR_SIGN_IN", 400,
                   "Another OAuth account with this account ID is already used for signing in.")

    @staticmethod
    def invalid_authorization_code() -> KnownError:
        return _ke("INVALID_AUTHORIZATION_CODE", 400, "The authorization code is wrong, used or expired.")

    @staticmethod
    def invalid_scope(scope: str) -> KnownError:
        # The reference takes the scope but sends no details.
        return _ke("INVALID_SCOPE", 400, f"The scope {scope!r} is not valid; the only scope is 'legacy'.")

    # ---- payments ----

    @staticmethod
    def product_does_not_exist(product_id: str, context: str | None) -> KnownError:
        why = {"server_only": "is server-only, so clients cannot use it",
               "item_exists": "does not exist (there is an item with that id)"}.get(context or "", "does not exist")
        return KnownError("PRODUCT_DOES_NOT_EXIST", 400, f"Product {product_id!r} {why}.",
                          {"product_id": product_id, "context": context})

    @staticmethod
    def product_customer_type_does_not_match(product_id: str | None, customer_id: str, product_type: str | None,
                                             actual_type: str) -> KnownError:
        return KnownError("PRODUCT_CUSTOMER_TYPE_DOES_NOT_MATCH", 400,
                          f"The product is for {product_type} customers, but {customer_id!r} is a {actual_type}.",
                          {"product_id": product_id, "customer_id": customer_id,
                           "product_customer_type": product_type, "actual_customer_type": actual_type})

    @staticmethod
    def product_already_granted(product_id: str, customer_id: str) -> KnownError:
        return _ke("PRODUCT_ALREADY_GRANTED", 400, f"Customer {customer_id!r} already owns product {product_id!r}.",
                   product_id=product_id, customer_id=customer_id)

    @staticmethod
    def item_not_found(item_id: str) -> KnownError:
        return _ke("ITEM_NOT_FOUND", 404, f"There is no item {item_id!r} in this project's payments config.",
                   item_id=item_id)

    @staticmethod
    def item_customer_type_does_not_match(item_id: str, customer_id: str, item_type: str | None,
                                          actual_type: str) -> KnownError:
        return KnownError("ITEM_CUSTOMER_TYPE_DOES_NOT_MATCH", 400,
                          f"Item {item_id!r} is for {item_type} customers, but {customer_id!r} is a {actual_type}.",
                          {"item_id": item_id, "customer_id": customer_id, "item_customer_type": item_type,
                           "actual_customer_type": actual_type})

    @staticmethod
    def item_quantity_insufficient_amount(item_id: str, customer_id: str, quantity: int) -> KnownError:
        return _ke("ITEM_QUANTITY_INSUFFICIENT_AMOUNT", 400,
                   f"Customer {customer_id!r} does not have enough of item {item_id!r} for a change of {quantity}.",
                   item_id=item_id, customer_id=customer_id, quantity=quantity)

    @staticmethod
    def new_purchases_blocked() -> KnownError:
        return _ke("NEW_PURCHASES_BLOCKED", 403, "New purchases are blocked for this project (payments.blockNewPurchases).")

    @staticmethod
    def test_mode_purchase_non_refundable() -> KnownError:
        return _ke("TEST_MODE_PURCHASE_NON_REFUNDABLE", 400, "Purchases made in test mode cannot be refunded.")

    @staticmethod
    def subscription_invoice_not_found(invoice_id: str) -> KnownError:
        return _ke("SUBSCRIPTION_INVOICE_NOT_FOUND", 404, f"There is no paid subscription invoice for {invoice_id!r}.",
                   subscription_invoice_id=invoice_id)

    @staticmethod
    def one_time_purchase_not_found(purchase_id: str) -> KnownError:
        return _ke("ONE_TIME_PURCHASE_NOT_FOUND", 404, f"There is no one-time purchase {purchase_id!r}.",
                   one_time_purchase_id=purchase_id)

    @staticmethod
    def subscription_already_refunded(subscription_id: str) -> KnownError:
        return _ke("SUBSCRIPTION_ALREADY_REFUNDED", 400, f"Subscription {subscription_id!r} was already refunded.",
                   subscription_id=subscription_id)

    @staticmethod
    def one_time_purchase_already_refunded(purchase_id: str) -> KnownError:
        return _ke("ONE_TIME_PURCHASE_ALREADY_REFUNDED", 400, f"One-time purchase {purchase_id!r} was already refunded.",
                   one_time_purchase_id=purchase_id)

    @staticmethod
    def default_payment_method_required(customer_type: str, customer_id: str) -> KnownError:
        return _ke("DEFAULT_PAYMENT_METHOD_REQUIRED", 400, "This customer has no default payment method yet.",
                   customer_type=customer_type, customer_id=customer_id)

    @staticmethod
    def stripe_account_info_not_found() -> KnownError:
        return _ke("STRIPE_ACCOUNT_INFO_NOT_FOUND", 404,
                   "This project has no Stripe account yet; set up payments first (POST /internal/payments/setup).")
