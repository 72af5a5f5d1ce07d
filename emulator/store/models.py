"""SQLAlchemy models: the emulator's whole state, in one SQLite file.

Times are integer milliseconds since the epoch, as on the wire.
"""
from __future__ import annotations

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
