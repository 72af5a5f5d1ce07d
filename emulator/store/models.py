"""SQLAlchemy models: the emulator's whole state, in one SQLite file.

Times are integer milliseconds since the epoch, as on the wire.

No `from __future__ import annotations` here: SQLAlchemy would then evaluate every `Mapped[...]` annotation from its
string at import (~10 % of this module's import time); a class defined further down is named in quotes instead.
"""
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, LargeBinary, String, Text, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, Any: JSON}


class Meta(Base):
    """Key/value facts about the data file itself (schema version, signing secret)."""
    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String, primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Project(Base):
    __tablename__ = "projects"
    id: Mapped[str] = mapped_column(String, primary_key=True)
    display_name: Mapped[str] = mapped_column(String)
    description: Mapped[str] = mapped_column(String, default="")
    created_at_millis: Mapped[int] = mapped_column(Integer)
    # Set for projects bound to a hexclave.config.py file: one project per absolute path.
    config_path: Mapped[str | None] = mapped_column(String, unique=True)
    # Config of projects that are not bound to a file (created through the admin API).
    config_override: Mapped[Any] = mapped_column(JSON, default=dict)
    # The internal-project team whose members administer this project with their access tokens.
    owner_team_id: Mapped[str | None] = mapped_column(String, index=True)
    is_production_mode: Mapped[bool] = mapped_column(Boolean, default=False)
    logo_url: Mapped[str | None] = mapped_column(Text)
    logo_full_url: Mapped[str | None] = mapped_column(Text)
    logo_dark_mode_url: Mapped[str | None] = mapped_column(Text)
    logo_full_dark_mode_url: Mapped[str | None] = mapped_column(Text)
    onboarding_status: Mapped[str] = mapped_column(String, default="completed")


class ApiKeySet(Base):
    __tablename__ = "api_key_sets"
    id: Mapped[str] = mapped_column(String, primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    description: Mapped[str] = mapped_column(String, default="")
    publishable_client_key: Mapped[str | None] = mapped_column(String, index=True)
    secret_server_key: Mapped[str | None] = mapped_column(String, index=True)
    super_secret_admin_key: Mapped[str | None] = mapped_column(String, index=True)
    created_at_millis: Mapped[int] = mapped_column(Integer)
    expires_at_millis: Mapped[int | None] = mapped_column(Integer)
    manually_revoked_at_millis: Mapped[int | None] = mapped_column(Integer)


class User(Base):
    __tablename__ = "users"
    id: Mapped[str] = mapped_column(String, primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    display_name: Mapped[str | None] = mapped_column(String)
    profile_image_url: Mapped[str | None] = mapped_column(Text)
    signed_up_at_millis: Mapped[int] = mapped_column(Integer)
    last_active_at_millis: Mapped[int] = mapped_column(Integer)
    client_metadata: Mapped[Any] = mapped_column(JSON, nullable=True)
    client_read_only_metadata: Mapped[Any] = mapped_column(JSON, nullable=True)
    server_metadata: Mapped[Any] = mapped_column(JSON, nullable=True)
    is_anonymous: Mapped[bool] = mapped_column(Boolean, default=False)
    password_hash: Mapped[str | None] = mapped_column(String)
    otp_auth_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    passkey_auth_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    totp_secret_base64: Mapped[str | None] = mapped_column(String)
    selected_team_id: Mapped[str | None] = mapped_column(String)
    restricted_by_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    restricted_by_admin_reason: Mapped[str | None] = mapped_column(Text)
    restricted_by_admin_private_details: Mapped[str | None] = mapped_column(Text)
    country_code: Mapped[str | None] = mapped_column(String)
    risk_scores: Mapped[Any] = mapped_column(JSON, nullable=True)

    contact_channels: Mapped[list["ContactChannel"]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="joined", order_by="ContactChannel.created_at_millis")
    # users.oauth_providers, read with the user in one query. View-only: accounts are written by user_id, and the
    # store expires this list when a flush adds or removes an account of a loaded user (engine.py).
    oauth_accounts: Mapped[list["OAuthAccount"]] = relationship(
        viewonly=True, lazy="joined", order_by="(OAuthAccount.created_at_millis, OAuthAccount.id)")

    __table_args__ = (Index("ix_users_project_signed_up", "project_id", "signed_up_at_millis"),)


class ContactChannel(Base):
    __tablename__ = "contact_channels"
    id: Mapped[str] = mapped_column(String, primary_key=True)
    project_id: Mapped[str] = mapped_column(String, index=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    type: Mapped[str] = mapped_column(String, default="email")
    value: Mapped[str] = mapped_column(String)
    is_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    is_primary: Mapped[bool] = mapped_column(Boolean, default=False)
    used_for_auth: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at_millis: Mapped[int] = mapped_column(Integer)

    user: Mapped[User] = relationship(back_populates="contact_channels")

    __table_args__ = (
        # One account per sign-in address: the same address may be a plain contact channel of many users.
        Index("ux_contact_channels_auth", "project_id", "type", "value", unique=True,
              sqlite_where=text("used_for_auth = 1")),
    )


class RefreshToken(Base):
    """A session: its id is the session id, its token the opaque refresh token."""
    __tablename__ = "refresh_tokens"
    id: Mapped[str] = mapped_column(String, primary_key=True)
    project_id: Mapped[str] = mapped_column(String, index=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token: Mapped[str] = mapped_column(String, unique=True)
    created_at_millis: Mapped[int] = mapped_column(Integer)
    last_used_at_millis: Mapped[int] = mapped_column(Integer)
    expires_at_millis: Mapped[int | None] = mapped_column(Integer)
    is_impersonation: Mapped[bool] = mapped_column(Boolean, default=False)


class Team(Base):
    __tablename__ = "teams"
    id: Mapped[str] = mapped_column(String, primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    display_name: Mapped[str] = mapped_column(String)
    profile_image_url: Mapped[str | None] = mapped_column(Text)
    client_metadata: Mapped[Any] = mapped_column(JSON, nullable=True)
    client_read_only_metadata: Mapped[Any] = mapped_column(JSON, nullable=True)
    server_metadata: Mapped[Any] = mapped_column(JSON, nullable=True)
    created_at_millis: Mapped[int] = mapped_column(Integer)


class TeamMember(Base):
    __tablename__ = "team_members"
    team_id: Mapped[str] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True)
    project_id: Mapped[str] = mapped_column(String, index=True)
    display_name: Mapped[str | None] = mapped_column(String)
    profile_image_url: Mapped[str | None] = mapped_column(Text)
    created_at_millis: Mapped[int] = mapped_column(Integer)


class VerificationCode(Base):
    """A one-time code (sign-in attempts, email links, resets, invitations): `type` says which flow owns it."""
    __tablename__ = "verification_codes"
    id: Mapped[str] = mapped_column(String, primary_key=True)
    project_id: Mapped[str] = mapped_column(String, index=True)
    type: Mapped[str] = mapped_column(String)
    code: Mapped[str] = mapped_column(String, unique=True)
    data: Mapped[Any] = mapped_column(JSON, default=dict)
    created_at_millis: Mapped[int] = mapped_column(Integer)
    expires_at_millis: Mapped[int] = mapped_column(Integer)
    used_at_millis: Mapped[int | None] = mapped_column(Integer)
    attempt_count: Mapped[int] = mapped_column(Integer, default=0)


class EmailMessage(Base):
    """A caught email: one the platform sent, or one the app under development sent to the SMTP port."""
    __tablename__ = "email_messages"
    id: Mapped[str] = mapped_column(String, primary_key=True)
    project_id: Mapped[str | None] = mapped_column(String, index=True)
    source: Mapped[str] = mapped_column(String)  # "platform" or "smtp"
    created_at_millis: Mapped[int] = mapped_column(Integer, index=True)
    sender: Mapped[str] = mapped_column(String)
    recipients: Mapped[Any] = mapped_column(JSON)  # list of addresses (envelope recipients for SMTP)
    subject: Mapped[str] = mapped_column(Text, default="")
    text: Mapped[str | None] = mapped_column(Text)
    html: Mapped[str | None] = mapped_column(Text)
    headers: Mapped[Any] = mapped_column(JSON)  # list of [name, value]
    attachments: Mapped[Any] = mapped_column(JSON)  # list of {filename, content_type, size}
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    code: Mapped[str | None] = mapped_column(String)  # one-time code found in the message, if any
    links: Mapped[Any] = mapped_column(JSON)  # links found in the message


class StoredFile(Base):
    """A file of the public bucket (profile images, project logos), served at its URL."""
    __tablename__ = "stored_files"
    key: Mapped[str] = mapped_column(String, primary_key=True)  # "<folder>/<uuid>.<format>"
    content_type: Mapped[str] = mapped_column(String)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at_millis: Mapped[int] = mapped_column(Integer)

class EmailOutbox(Base):
    """One recipient of a send-email call: its status columns (for filtering and stats) and the item as served."""
    __tablename__ = "email_outbox"
    id: Mapped[str] = mapped_column(String, primary_key=True)
    project_id: Mapped[str] = mapped_column(String, index=True)
    created_at_millis: Mapped[int] = mapped_column(Integer, index=True)
    status: Mapped[str] = mapped_column(String)
    simple_status: Mapped[str] = mapped_column(String)
    delivered_at_millis: Mapped[int | None] = mapped_column(Integer)
    item: Mapped[Any] = mapped_column(JSON)  # the outbox item's fields (snake_case, as on the wire)


class NotificationPreference(Base):
    """A user's choice for one notification category; categories without a row use their default."""
    __tablename__ = "notification_preferences"
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    category_id: Mapped[str] = mapped_column(String, primary_key=True)
    project_id: Mapped[str] = mapped_column(String, index=True)
    enabled: Mapped[bool] = mapped_column(Boolean)


class TeamPermissionGrant(Base):
    """A team permission granted directly to a member. Rows of permissions missing from the config are kept and
    ignored, so a permission that comes back in a later config edit is granted again."""
    __tablename__ = "team_permission_grants"
    team_id: Mapped[str] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True)
    permission_id: Mapped[str] = mapped_column(String, primary_key=True)
    project_id: Mapped[str] = mapped_column(String, index=True)
    created_at_millis: Mapped[int] = mapped_column(Integer)


class ProjectPermissionGrant(Base):
    """A project permission granted directly to a user."""
    __tablename__ = "project_permission_grants"
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    permission_id: Mapped[str] = mapped_column(String, primary_key=True)
    project_id: Mapped[str] = mapped_column(String, index=True)
    created_at_millis: Mapped[int] = mapped_column(Integer)


class UserOrTeamApiKey(Base):
    """An API key a user or a team created (`/user-api-keys`, `/team-api-keys`); `secret` is the full key value."""
    __tablename__ = "user_team_api_keys"
    id: Mapped[str] = mapped_column(String, primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    type: Mapped[str] = mapped_column(String)  # "user" or "team"
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    team_id: Mapped[str | None] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    description: Mapped[str] = mapped_column(Text)
    is_public: Mapped[bool] = mapped_column(Boolean, default=False)
    secret: Mapped[str] = mapped_column(String, unique=True)
    created_at_millis: Mapped[int] = mapped_column(Integer)
    expires_at_millis: Mapped[int | None] = mapped_column(Integer)
    manually_revoked_at_millis: Mapped[int | None] = mapped_column(Integer)


# ---- OAuth ------------------------------------------------------------------------------------------------------

class OAuthOuterInfo(Base):
    """One OAuth sign-in in progress: what /auth/oauth/authorize was asked, keyed by the state sent to the provider."""
    __tablename__ = "oauth_outer_info"
    inner_state: Mapped[str] = mapped_column(String, primary_key=True)
    project_id: Mapped[str] = mapped_column(String, index=True)
    info: Mapped[Any] = mapped_column(JSON)
    expires_at_millis: Mapped[int] = mapped_column(Integer)


class OAuthAccount(Base):
    """A user's account at an OAuth provider (`/oauth-providers`, `users.oauth_providers`, connected accounts)."""
    __tablename__ = "oauth_accounts"
    id: Mapped[str] = mapped_column(String, primary_key=True)
    project_id: Mapped[str] = mapped_column(String, index=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    provider_config_id: Mapped[str] = mapped_column(String)
    provider_account_id: Mapped[str] = mapped_column(String)
    email: Mapped[str | None] = mapped_column(String)
    allow_sign_in: Mapped[bool] = mapped_column(Boolean, default=True)
    allow_connected_accounts: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at_millis: Mapped[int] = mapped_column(Integer)

    __table_args__ = (Index("ix_oauth_accounts_lookup", "project_id", "provider_config_id", "provider_account_id"),)


class OAuthProviderToken(Base):
    """A token the provider gave for an OAuth account: `kind` is "access" or "refresh"."""
    __tablename__ = "oauth_provider_tokens"
    id: Mapped[str] = mapped_column(String, primary_key=True)
    project_id: Mapped[str] = mapped_column(String, index=True)
    oauth_account_id: Mapped[str] = mapped_column(ForeignKey("oauth_accounts.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String)
    token: Mapped[str] = mapped_column(Text)
    scopes: Mapped[Any] = mapped_column(JSON)  # list of scope strings
    expires_at_millis: Mapped[int | None] = mapped_column(Integer)
    is_valid: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at_millis: Mapped[int] = mapped_column(Integer)


class OAuthAuthorizationCode(Base):
    """An outer authorization code (the platform as OAuth server to its SDK), exchanged at /auth/oauth/token."""
    __tablename__ = "oauth_authorization_codes"
    code: Mapped[str] = mapped_column(String, primary_key=True)
    project_id: Mapped[str] = mapped_column(String, index=True)
    user_id: Mapped[str] = mapped_column(String)
    redirect_uri: Mapped[str] = mapped_column(Text)
    code_challenge: Mapped[str] = mapped_column(String)
    code_challenge_method: Mapped[str] = mapped_column(String)
    new_user: Mapped[bool] = mapped_column(Boolean)
    after_callback_redirect_url: Mapped[str | None] = mapped_column(Text)
    granted_refresh_token_id: Mapped[str | None] = mapped_column(String)
    expires_at_millis: Mapped[int] = mapped_column(Integer)


class OAuthSimIdentity(Base):
    """An identity someone signed in with at a simulated provider; offered again on that provider's page."""
    __tablename__ = "oauth_sim_identities"
    provider_type: Mapped[str] = mapped_column(String, primary_key=True)
    account_id: Mapped[str] = mapped_column(String, primary_key=True)
    email: Mapped[str | None] = mapped_column(String)
    name: Mapped[str | None] = mapped_column(String)
    avatar_url: Mapped[str | None] = mapped_column(Text)
    email_verified: Mapped[bool] = mapped_column(Boolean, default=True)
    last_used_at_millis: Mapped[int] = mapped_column(Integer)


class OAuthSimGrant(Base):
    """What a simulated provider issued: an authorization code, an access token or a refresh token (`kind`)."""
    __tablename__ = "oauth_sim_grants"
    token: Mapped[str] = mapped_column(String, primary_key=True)
    kind: Mapped[str] = mapped_column(String)
    provider_type: Mapped[str] = mapped_column(String)
    account_id: Mapped[str] = mapped_column(String)
    client_id: Mapped[str] = mapped_column(String)
    scope: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[Any] = mapped_column(JSON, default=dict)  # code: redirect_uri, PKCE, nonce; refresh: next error
    expires_at_millis: Mapped[int | None] = mapped_column(Integer)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class MailRelay(Base):
    """A platform email relayed to the project's own SMTP server (emails.server): how that went."""
    __tablename__ = "mail_relays"
    message_id: Mapped[str] = mapped_column(String, primary_key=True)  # the caught EmailMessage
    server: Mapped[str] = mapped_column(String)  # host:port
    status: Mapped[str] = mapped_column(String)  # sending, sent, failed
    error: Mapped[str | None] = mapped_column(Text)
    updated_at_millis: Mapped[int] = mapped_column(Integer)


class ConfigLevels(Base):
    """A project's project- and environment-level config overrides and where its branch config was pushed from.
    (The branch level itself is the project's config file, or `projects.config_override`.)"""
    __tablename__ = "config_levels"
    project_id: Mapped[str] = mapped_column(String, primary_key=True)
    project_override: Mapped[Any] = mapped_column(JSON, default=dict)
    environment_override: Mapped[Any] = mapped_column(JSON, default=dict)
    branch_source: Mapped[Any] = mapped_column(JSON, nullable=True)


# ---- payments -------------------------------------------------------------------------------------------------------
# Customers are (customer_type, customer_id): a user, a team, or any string id for `custom`. Products are stored as
# the snapshot taken at purchase time, as the platform does, so later catalogue edits do not change past purchases.

class PaymentAccount(Base):
    """The project's simulated Stripe Connect account (`acct_…`): made by /internal/payments/setup (the config file's
    project: on first use); its onboarding state is in PaymentAccountState."""
    __tablename__ = "payment_accounts"
    project_id: Mapped[str] = mapped_column(String, primary_key=True)
    stripe_account_id: Mapped[str] = mapped_column(String)
    created_at_millis: Mapped[int] = mapped_column(Integer)


class PaymentCustomer(Base):
    """A customer's simulated Stripe customer (`cus_…`) and the card saved by a paid subscription checkout."""
    __tablename__ = "payment_customers"
    id: Mapped[str] = mapped_column(String, primary_key=True)
    project_id: Mapped[str] = mapped_column(String, index=True)
    customer_type: Mapped[str] = mapped_column(String)
    customer_id: Mapped[str] = mapped_column(String, index=True)
    default_payment_method: Mapped[Any] = mapped_column(JSON, nullable=True)


class ProductVersion(Base):
    __tablename__ = "product_versions"
    id: Mapped[str] = mapped_column(String, primary_key=True)
    project_id: Mapped[str] = mapped_column(String, index=True)
    product_id: Mapped[str | None] = mapped_column(String)
    product: Mapped[Any] = mapped_column(JSON)
    created_at_millis: Mapped[int] = mapped_column(Integer)


class Subscription(Base):
    __tablename__ = "subscriptions"
    __table_args__ = (Index("ix_subscriptions_customer", "project_id", "customer_type", "customer_id"),)
    id: Mapped[str] = mapped_column(String, primary_key=True)
    project_id: Mapped[str] = mapped_column(String, index=True)
    customer_type: Mapped[str] = mapped_column(String)
    customer_id: Mapped[str] = mapped_column(String)
    product_id: Mapped[str | None] = mapped_column(String)
    product: Mapped[Any] = mapped_column(JSON)
    price_id: Mapped[str | None] = mapped_column(String)
    quantity: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String)  # active, trialing, canceled
    creation_source: Mapped[str] = mapped_column(String)  # TEST_MODE, API_GRANT, PURCHASE_PAGE
    stripe_subscription_id: Mapped[str | None] = mapped_column(String)  # set for paid (simulated Stripe) ones
    created_at_millis: Mapped[int] = mapped_column(Integer)
    current_period_start_millis: Mapped[int] = mapped_column(Integer)
    current_period_end_millis: Mapped[int] = mapped_column(Integer)
    periods_elapsed: Mapped[int] = mapped_column(Integer, default=0)  # billing periods renewed so far
    trial_end_millis: Mapped[int | None] = mapped_column(Integer)
    cancel_at_period_end: Mapped[bool] = mapped_column(Boolean, default=False)
    canceled_at_millis: Mapped[int | None] = mapped_column(Integer)
    ended_at_millis: Mapped[int | None] = mapped_column(Integer)
    refunded_at_millis: Mapped[int | None] = mapped_column(Integer)


class OneTimePurchase(Base):
    __tablename__ = "one_time_purchases"
    __table_args__ = (Index("ix_one_time_purchases_customer", "project_id", "customer_type", "customer_id"),)
    id: Mapped[str] = mapped_column(String, primary_key=True)
    project_id: Mapped[str] = mapped_column(String, index=True)
    customer_type: Mapped[str] = mapped_column(String)
    customer_id: Mapped[str] = mapped_column(String)
    product_id: Mapped[str | None] = mapped_column(String)
    product: Mapped[Any] = mapped_column(JSON)
    price_id: Mapped[str | None] = mapped_column(String)
    quantity: Mapped[int] = mapped_column(Integer, default=1)
    creation_source: Mapped[str] = mapped_column(String)
    stripe_payment_intent_id: Mapped[str | None] = mapped_column(String)
    created_at_millis: Mapped[int] = mapped_column(Integer)
    refunded_at_millis: Mapped[int | None] = mapped_column(Integer)


class ItemQuantityChange(Base):
    __tablename__ = "item_quantity_changes"
    __table_args__ = (Index("ix_item_quantity_changes_customer", "project_id", "customer_type", "customer_id"),)
    id: Mapped[str] = mapped_column(String, primary_key=True)
    project_id: Mapped[str] = mapped_column(String, index=True)
    customer_type: Mapped[str] = mapped_column(String)
    customer_id: Mapped[str] = mapped_column(String)
    item_id: Mapped[str] = mapped_column(String)
    quantity: Mapped[int] = mapped_column(Integer)
    expires_at_millis: Mapped[int | None] = mapped_column(Integer)
    description: Mapped[str | None] = mapped_column(Text)
    created_at_millis: Mapped[int] = mapped_column(Integer)


class SubscriptionInvoice(Base):
    """One billed period of a paid subscription (`in_…`): the first one at checkout, then one per renewal."""
    __tablename__ = "subscription_invoices"
    id: Mapped[str] = mapped_column(String, primary_key=True)
    project_id: Mapped[str] = mapped_column(String, index=True)
    subscription_id: Mapped[str] = mapped_column(String, index=True)
    is_creation: Mapped[bool] = mapped_column(Boolean, default=False)
    charged_amount: Mapped[Any] = mapped_column(JSON, default=dict)
    created_at_millis: Mapped[int] = mapped_column(Integer)


class PaymentRefund(Base):
    """A refund transaction of a paid purchase: its product revocations and the money returned."""
    __tablename__ = "payment_refunds"
    id: Mapped[str] = mapped_column(String, primary_key=True)  # "<purchase id>:refund"
    project_id: Mapped[str] = mapped_column(String, index=True)
    source_kind: Mapped[str] = mapped_column(String)  # subscription, one-time-purchase
    source_id: Mapped[str] = mapped_column(String)
    customer_type: Mapped[str] = mapped_column(String)
    customer_id: Mapped[str] = mapped_column(String)
    entries: Mapped[Any] = mapped_column(JSON, default=list)
    revoked_quantity: Mapped[int] = mapped_column(Integer, default=0)
    created_at_millis: Mapped[int] = mapped_column(Integer)


class CliAuthAttempt(Base):
    """A CLI login in progress: the CLI polls with `polling_code`; a signed-in browser completes `login_code`."""
    __tablename__ = "cli_auth_attempts"
    id: Mapped[str] = mapped_column(String, primary_key=True)
    project_id: Mapped[str] = mapped_column(String, index=True)
    polling_code: Mapped[str] = mapped_column(String, unique=True)
    login_code: Mapped[str] = mapped_column(String, unique=True)
    refresh_token: Mapped[str | None] = mapped_column(String)  # the browser's session, set on completion
    anon_refresh_token: Mapped[str | None] = mapped_column(String)  # the CLI's anonymous session, if it had one
    created_at_millis: Mapped[int] = mapped_column(Integer)
    expires_at_millis: Mapped[int] = mapped_column(Integer)
    used_at_millis: Mapped[int | None] = mapped_column(Integer)


class DataVaultEntry(Base):
    """One value of a data vault store: the key arrives hashed by the client, the value is encrypted at rest."""
    __tablename__ = "data_vault_entries"
    __table_args__ = (Index("ix_data_vault_entries_key", "project_id", "store_id", "hashed_key", unique=True),)
    id: Mapped[str] = mapped_column(String, primary_key=True)
    project_id: Mapped[str] = mapped_column(String)
    store_id: Mapped[str] = mapped_column(String)
    hashed_key: Mapped[str] = mapped_column(Text)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    created_at_millis: Mapped[int] = mapped_column(Integer)
    updated_at_millis: Mapped[int] = mapped_column(Integer)


class WebhookEndpoint(Base):
    """A Svix endpoint (`ep_…`) of a project's webhook application: where its events are delivered."""
    __tablename__ = "webhook_endpoints"
    id: Mapped[str] = mapped_column(String, primary_key=True)
    project_id: Mapped[str] = mapped_column(String, index=True)
    uid: Mapped[str | None] = mapped_column(String)
    url: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text, default="")
    secret: Mapped[str] = mapped_column(String)  # whsec_…
    # After a rotation the previous secret also signs until it expires (Svix's grace period).
    previous_secret: Mapped[str | None] = mapped_column(String)
    previous_secret_expires_at_millis: Mapped[int | None] = mapped_column(Integer)
    event_types: Mapped[Any] = mapped_column(JSON)  # null: every event type
    channels: Mapped[Any] = mapped_column(JSON)
    metadata_: Mapped[Any] = mapped_column("metadata", JSON, default=dict)
    headers: Mapped[Any] = mapped_column(JSON, default=dict)
    throttle_rate: Mapped[int | None] = mapped_column(Integer)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # Start of the current run of failed attempts; Svix disables an endpoint that keeps failing for 5 days.
    failing_since_millis: Mapped[int | None] = mapped_column(Integer)
    from_config: Mapped[bool] = mapped_column(Boolean, default=False)  # declared in hexclave.config.py
    created_at_millis: Mapped[int] = mapped_column(Integer)
    updated_at_millis: Mapped[int] = mapped_column(Integer)


class SessionReplay(Base):
    """A recorded browser session (one per refresh token while it keeps sending); its batches are the chunks."""
    __tablename__ = "session_replays"
    id: Mapped[str] = mapped_column(String, primary_key=True)
    project_id: Mapped[str] = mapped_column(String, index=True)
    user_id: Mapped[str] = mapped_column(String)
    refresh_token_id: Mapped[str] = mapped_column(String, index=True)
    started_at_millis: Mapped[int] = mapped_column(Integer)
    last_event_at_millis: Mapped[int] = mapped_column(Integer)
    updated_at_millis: Mapped[int] = mapped_column(Integer)


class SessionReplayChunk(Base):
    __tablename__ = "session_replay_chunks"
    __table_args__ = (Index("ix_session_replay_chunks_batch", "session_replay_id", "batch_id", unique=True),)
    id: Mapped[str] = mapped_column(String, primary_key=True)
    project_id: Mapped[str] = mapped_column(String, index=True)
    session_replay_id: Mapped[str] = mapped_column(String)
    batch_id: Mapped[str] = mapped_column(String)
    browser_session_id: Mapped[str] = mapped_column(String)
    session_replay_segment_id: Mapped[str] = mapped_column(String)
    started_at_ms: Mapped[int] = mapped_column(Integer)
    sent_at_ms: Mapped[int] = mapped_column(Integer)
    first_event_at_millis: Mapped[int] = mapped_column(Integer)
    last_event_at_millis: Mapped[int] = mapped_column(Integer)
    events: Mapped[Any] = mapped_column(JSON, default=list)
    created_at_millis: Mapped[int] = mapped_column(Integer)


class AnalyticsEvent(Base):
    """An auto-captured browser event ($page-view, $click) uploaded by the SDK."""
    __tablename__ = "analytics_events"
    id: Mapped[str] = mapped_column(String, primary_key=True)
    project_id: Mapped[str] = mapped_column(String, index=True)
    event_type: Mapped[str] = mapped_column(String)
    event_at_millis: Mapped[int] = mapped_column(Integer)
    data: Mapped[Any] = mapped_column(JSON)
    user_id: Mapped[str] = mapped_column(String)
    refresh_token_id: Mapped[str] = mapped_column(String)
    session_replay_id: Mapped[str | None] = mapped_column(String)
    session_replay_segment_id: Mapped[str] = mapped_column(String)
    batch_id: Mapped[str] = mapped_column(String)
    received_at_millis: Mapped[int] = mapped_column(Integer)
class WebhookMessage(Base):
    """A Svix message (`msg_…`): one event of a project, delivered to each endpoint that takes its type."""
    __tablename__ = "webhook_messages"
    id: Mapped[str] = mapped_column(String, primary_key=True)
    project_id: Mapped[str] = mapped_column(String, index=True)
    event_type: Mapped[str] = mapped_column(String)
    event_id: Mapped[str | None] = mapped_column(String)
    channels: Mapped[Any] = mapped_column(JSON)
    payload: Mapped[Any] = mapped_column(JSON)
    created_at_millis: Mapped[int] = mapped_column(Integer, index=True)


class WebhookDelivery(Base):
    """A message's delivery to one endpoint: its status and, while failing, when the next retry is due."""
    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_due", "status", "next_attempt_at_millis"),)
    id: Mapped[str] = mapped_column(String, primary_key=True)
    project_id: Mapped[str] = mapped_column(String, index=True)
    message_id: Mapped[str] = mapped_column(String, index=True)
    endpoint_id: Mapped[str] = mapped_column(String, index=True)
    status: Mapped[int] = mapped_column(Integer)  # Svix MessageStatus: 0 success, 1 pending, 2 fail, 3 sending
    attempts_made: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at_millis: Mapped[int | None] = mapped_column(Integer)
    created_at_millis: Mapped[int] = mapped_column(Integer)


class WebhookAttempt(Base):
    """One HTTP POST of a message to an endpoint (`atmpt_…`)."""
    __tablename__ = "webhook_attempts"
    id: Mapped[str] = mapped_column(String, primary_key=True)
    project_id: Mapped[str] = mapped_column(String, index=True)
    message_id: Mapped[str] = mapped_column(String, index=True)
    endpoint_id: Mapped[str] = mapped_column(String, index=True)
    url: Mapped[str] = mapped_column(Text)
    status: Mapped[int] = mapped_column(Integer)  # 0 success, 2 fail
    trigger_type: Mapped[int] = mapped_column(Integer)  # 0 scheduled, 1 manual (resend)
    response_status_code: Mapped[int] = mapped_column(Integer)  # 0 when no HTTP answer came
    response: Mapped[str] = mapped_column(Text, default="")
    response_duration_ms: Mapped[int] = mapped_column(Integer)
    created_at_millis: Mapped[int] = mapped_column(Integer, index=True)
class PasskeyCredential(Base):
    """A user's passkey (the platform keeps one per user): the verified credential id, its COSE public key and
    signature counter."""
    __tablename__ = "passkey_credentials"
    id: Mapped[str] = mapped_column(String, primary_key=True)
    project_id: Mapped[str] = mapped_column(String, index=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    credential_id: Mapped[str] = mapped_column(String, index=True)  # base64url
    public_key: Mapped[str] = mapped_column(Text)  # base64url of the COSE key
    sign_count: Mapped[int] = mapped_column(Integer, default=0)
    transports: Mapped[Any] = mapped_column(JSON, nullable=True)
    device_type: Mapped[str | None] = mapped_column(String)
    created_at_millis: Mapped[int] = mapped_column(Integer)
class PaymentAccountState(Base):
    """How far a project's simulated Stripe account got: `onboarded` once its onboarding link was followed (the
    config file's project starts onboarded), and the payment methods switched on or off by the admin API."""
    __tablename__ = "payment_account_states"
    project_id: Mapped[str] = mapped_column(String, primary_key=True)
    onboarded: Mapped[bool] = mapped_column(Boolean, default=False)
    payment_methods: Mapped[Any] = mapped_column(JSON, default=dict)  # method id -> "on" / "off"
class EmailDraft(Base):
    """An email draft of the dashboard (/internal/email-drafts): TSX to send once with send-email's draft_id."""
    __tablename__ = "email_drafts"
    id: Mapped[str] = mapped_column(String, primary_key=True)
    project_id: Mapped[str] = mapped_column(String, index=True)
    display_name: Mapped[str] = mapped_column(String)
    tsx_source: Mapped[str] = mapped_column(String)
    theme_id: Mapped[Any] = mapped_column(JSON)  # a theme id, False (no theme) or None (the project's theme)
    sent_at_millis: Mapped[int | None] = mapped_column(Integer)
    updated_at_millis: Mapped[int] = mapped_column(Integer)
