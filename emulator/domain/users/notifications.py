"""Notification categories (hard-coded, as on the platform) and users' preferences for them."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from emulator.errors import StatusError
from emulator.store.models import NotificationPreference, User


@dataclass(frozen=True)
class Category:
    id: str
    name: str
    default_enabled: bool
    can_disable: bool


TRANSACTIONAL = Category("7bb82d33-2f54-4a3d-9d23-82739e0d66ef", "Transactional", True, False)
MARKETING = Category("4f6f8873-3d04-46bd-8bef-18338b1a1b4c", "Marketing", True, True)
CATEGORIES = (TRANSACTIONAL, MARKETING)


def by_id(category_id: str) -> Category:
    for category in CATEGORIES:
        if category.id == category_id:
            return category
    raise StatusError(404, "Notification category not found")


def by_name(name: str) -> Category:
    for category in CATEGORIES:
        if category.name == name:
            return category
    raise StatusError(400, "Notification category not found with given name")


async def _rows(db: AsyncSession, user_id: str) -> dict[str, NotificationPreference]:
    rows = (await db.execute(select(NotificationPreference).where(NotificationPreference.user_id == user_id))).scalars()
    return {row.category_id: row for row in rows}


async def is_enabled(db: AsyncSession, user_id: str, category: Category) -> bool:
    if not category.can_disable:
        return True
    row = (await _rows(db, user_id)).get(category.id)
    return category.default_enabled if row is None else row.enabled


def shape(category: Category, enabled: bool) -> dict[str, Any]:
    return {"notification_category_id": category.id, "notification_category_name": category.name,
            "enabled": enabled, "can_disable": category.can_disable}


async def list_for(db: AsyncSession, user: User) -> list[dict[str, Any]]:
    rows = await _rows(db, user.id)
    return [shape(c, rows[c.id].enabled if c.id in rows else c.default_enabled) for c in CATEGORIES]


async def set_enabled(db: AsyncSession, user: User, category: Category, enabled: bool) -> dict[str, Any]:
    if not enabled and not category.can_disable:
        raise StatusError(400, f"The notification category {category.name} cannot be disabled.")
    row = (await _rows(db, user.id)).get(category.id)
    if row is None:
        db.add(NotificationPreference(user_id=user.id, category_id=category.id, project_id=user.project_id,
                                      enabled=enabled))
    else:
        row.enabled = enabled
    await db.flush()
    return shape(category, enabled)
