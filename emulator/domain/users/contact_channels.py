"""Contact channels (a user's email addresses), their verification, and which one signs in."""
from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from emulator.domain.auth import codes
from emulator.domain.mail import emails
from emulator.domain.users import users
from emulator.clock import now_millis
from emulator.domain.projects.projects import ProjectView, is_trusted_url
from emulator.errors import E, StatusError
from emulator.store.models import ContactChannel, User


def shape(channel: ContactChannel) -> dict[str, Any]:
    return {"user_id": channel.user_id, "id": channel.id, "value": channel.value, "type": channel.type,
            "used_for_auth": channel.used_for_auth, "is_verified": channel.is_verified,
            "is_primary": channel.is_primary}


async def _check_auth_free(db: AsyncSession, project_id: str, value: str, user_id: str) -> None:
    if await users.email_used_for_auth_by_other(db, project_id, value, user_id):
        raise E.contact_channel_already_used_for_auth(value)


def _set_primary(user: User, channel: ContactChannel) -> None:
    for other in user.contact_channels:
        other.is_primary = other is channel


async def create(db: AsyncSession, project: ProjectView, user: User, data: dict[str, Any]) -> ContactChannel:
    value = users.normalize_email(data["value"])
    if any(c.type == data["type"] and c.value == value for c in user.contact_channels):
        raise StatusError(400, "Contact channel already exists")
    if data["used_for_auth"]:
        await _check_auth_free(db, project.id, value, user.id)
    channel = ContactChannel(id=str(uuid.uuid4()), project_id=project.id, user_id=user.id, type=data["type"],
                             value=value, is_verified=bool(data.get("is_verified", False)), is_primary=False,
                             used_for_auth=data["used_for_auth"], created_at_millis=now_millis())
    user.contact_channels.append(channel)
    if data.get("is_primary"):
        _set_primary(user, channel)
    await db.flush()
    return channel


def find(user: User, channel_id: str, missing_status: int = 404) -> ContactChannel:
    """A user's channel by id; reads answer 404 for a missing one, updates and deletes 400 (as the platform)."""
    channel = next((c for c in user.contact_channels if c.id == channel_id), None)
    if channel is None:
        raise StatusError(missing_status, "Contact channel not found")
    return channel


async def update(db: AsyncSession, project: ProjectView, user: User, channel: ContactChannel,
                 data: dict[str, Any]) -> ContactChannel:
    if "value" in data:
        value = users.normalize_email(data["value"])
        if value != channel.value:
            if any(c.value == value and c.type == channel.type for c in user.contact_channels):
                raise StatusError(400, "Contact channel already exists")
            channel.value, channel.is_verified = value, False  # a new address is not verified yet
    if data.get("used_for_auth", channel.used_for_auth):
        await _check_auth_free(db, project.id, channel.value, user.id)
    for field in ("type", "used_for_auth", "is_verified"):
        if field in data:
            setattr(channel, field, data[field])
    if data.get("is_primary"):
        _set_primary(user, channel)
    elif data.get("is_primary") is False:
        channel.is_primary = False
    await db.flush()
    return channel


async def send_verification(db: AsyncSession, bus, project: ProjectView, user: User, channel: ContactChannel,
                            callback_url: str) -> None:
    if channel.is_verified:
        raise E.email_already_verified()
    if not is_trusted_url(project.config, callback_url):
        raise E.redirect_url_not_whitelisted()
    code = await codes.issue(db, project.id, codes.CONTACT_CHANNEL_VERIFICATION,
                             {"user_id": user.id, "channel_id": channel.id}, method={"email": channel.value})
    await emails.send_template(db, bus, project, channel.value, "email_verification",
                               {"emailVerificationLink": codes.link_with_code(callback_url, code)},
                               user_name=user.display_name)


async def verify(db: AsyncSession, project: ProjectView, code: str, *, consume: bool) -> None:
    row = await codes.redeem(db, project.id, codes.CONTACT_CHANNEL_VERIFICATION, code, consume=consume)
    if not consume:
        return
    channel = (await db.execute(select(ContactChannel).where(
        ContactChannel.id == row.data.get("channel_id"), ContactChannel.user_id == row.data["user_id"],
        ContactChannel.value == row.data.get("method", {}).get("email")))).scalar_one_or_none()
    if channel is None:
        raise StatusError(400, "The contact channel of this code no longer exists")
    channel.is_verified = True
