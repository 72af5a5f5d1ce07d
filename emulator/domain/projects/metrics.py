"""GET /internal/metrics: the dashboard overview's figures, in the platform's shape.

Users, sign-ups, teams, verification and login methods are counted from the store as the platform counts them.
The platform reads activity from its event log (token refreshes); the emulator keeps none, so the activity figures
(daily active users, monthly active users, active-user split) come from each user's last activity. Email figures
come from the outbox (emails of send-email). Revenue and web-analytics figures are zero (not recorded).
"""
from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from emulator.clock import now_millis
from emulator.domain.projects.projects import ProjectView
from emulator.domain.users import users
from emulator.store.models import ContactChannel, EmailOutbox, OAuthAccount, PasskeyCredential, Team, User

WINDOW_DAYS = 30  # the series run from 30 days ago to today (UTC): 31 points
RECENT_LIST = 100  # recently registered users, recent emails
RECENTLY_ACTIVE = 5


def _day(millis: int) -> str:
    return dt.datetime.fromtimestamp(millis / 1000, dt.timezone.utc).date().isoformat()


def _days(today: dt.date) -> list[str]:
    return [(today - dt.timedelta(days=WINDOW_DAYS - i)).isoformat() for i in range(WINDOW_DAYS + 1)]


def _series(days: list[str], counts: Counter | None = None) -> list[dict[str, Any]]:
    return [{"date": d, "activity": (counts or {}).get(d, 0)} for d in days]


def _zero_split(days: list[str]) -> dict[str, list]:
    return {k: _series(days) for k in ("total", "new", "retained", "reactivated")}


async def metrics(db: AsyncSession, project: ProjectView, include_anonymous: bool) -> dict[str, Any]:
    now = now_millis()
    today = dt.datetime.fromtimestamp(now / 1000, dt.timezone.utc).date()
    days = _days(today)
    since = dt.datetime.combine(today - dt.timedelta(days=WINDOW_DAYS), dt.time(), dt.timezone.utc).timestamp() * 1000

    rows = (await db.execute(select(User.id, User.is_anonymous, User.signed_up_at_millis, User.last_active_at_millis,
                                    User.country_code).where(User.project_id == project.id))).all()
    counted = [r for r in rows if include_anonymous or not r.is_anonymous]
    verified_ids = set((await db.execute(
        select(ContactChannel.user_id).where(ContactChannel.project_id == project.id, ContactChannel.type == "email",
                                             ContactChannel.is_verified.is_(True)))).scalars())
    non_anonymous = [r for r in rows if not r.is_anonymous]
    verified = sum(1 for r in non_anonymous if r.id in verified_ids)

    active = [r for r in counted if r.last_active_at_millis is not None and r.last_active_at_millis >= since]
    active_by_day = Counter(_day(r.last_active_at_millis) for r in active)
    new_by_day = Counter(_day(r.last_active_at_millis) for r in active
                         if _day(r.last_active_at_millis) == _day(r.signed_up_at_millis))
    user_split = {"total": _series(days, active_by_day), "new": _series(days, new_by_day),
                  "retained": _series(days, active_by_day - new_by_day), "reactivated": _series(days)}

    total_teams = await db.scalar(select(func.count()).select_from(Team).where(Team.project_id == project.id))
    recently_registered = (await users.list_users(db, project, {
        "order_by": "signed_up_at", "desc": True, "limit": RECENT_LIST,
        "include_anonymous": include_anonymous}))["items"]
    recent_stmt = select(User).where(User.project_id == project.id)
    if not include_anonymous:
        recent_stmt = recent_stmt.where(User.is_anonymous.is_(False))
    recent_rows = (await db.execute(recent_stmt.order_by(User.last_active_at_millis.desc())
                                    .limit(RECENTLY_ACTIVE))).unique().scalars().all()
    recently_active = [await users.render(db, u, project) for u in recent_rows]

    return {
        "total_users": len(counted),
        "daily_users": _series(days, Counter(_day(r.signed_up_at_millis) for r in counted)),
        "daily_active_users": _series(days, active_by_day),
        "users_by_country": dict(Counter(r.country_code for r in counted if r.country_code)),
        "recently_registered": recently_registered,
        "recently_active": recently_active,
        "login_methods": await _login_methods(db, project.id),
        "auth_overview": {
            "verified_users": verified,
            "unverified_users": len(non_anonymous) - verified,
            "anonymous_users": len(rows) - len(non_anonymous),
            "total_teams": total_teams,
            "mau": len(active),
            "daily_active_users_split": user_split,
            "daily_active_teams_split": _zero_split(days),
            "total_users_filtered": len(counted),
        },
        "payments_overview": {
            "subscriptions_by_status": {}, "active_subscription_count": 0, "total_one_time_purchases": 0,
            "daily_subscriptions": _series(days), "revenue_cents": 0, "mrr_cents": 0, "total_orders": 0,
            "checkout_conversion_rate": 0,
        },
        "email_overview": await _email_overview(db, project.id, days, since),
        "analytics_overview": {
            "daily_page_views": _series(days), "daily_clicks": _series(days), "daily_visitors": _series(days),
            "daily_revenue": [{"date": d, "new_cents": 0, "refund_cents": 0} for d in days],
            "total_revenue_cents": 0, "total_replays": 0, "recent_replays": 0, "visitors": 0,
            "avg_session_seconds": 0, "online_live": 0, "revenue_per_visitor": 0, "top_referrers": [],
            "top_region": None,
        },
    }


async def _login_methods(db: AsyncSession, project_id: str) -> list[dict[str, Any]]:
    """Sign-in methods of all users, as the platform counts its auth methods: one per OAuth account used for
    sign-in (by provider id), password, passkey, OTP."""
    counts: Counter = Counter()
    oauth = await db.execute(select(OAuthAccount.provider_config_id, func.count()).where(
        OAuthAccount.project_id == project_id, OAuthAccount.allow_sign_in.is_(True))
        .group_by(OAuthAccount.provider_config_id))
    for provider, n in oauth.all():
        counts[provider.lower()] += n
    for method, condition in (("password", User.password_hash.is_not(None)),
                              ("otp", User.otp_auth_enabled.is_(True))):
        counts[method] += await db.scalar(select(func.count()).select_from(User).where(
            User.project_id == project_id, condition)) or 0
    counts["passkey"] += await db.scalar(select(func.count()).select_from(PasskeyCredential).where(
        PasskeyCredential.project_id == project_id)) or 0
    return [{"method": m, "count": n} for m, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if n]


# Outbox statuses whose send attempt is over (the platform's finishedSendingAt).
FINISHED_SENDING = ("server-error", "bounced", "delivery-delayed", "sent", "opened", "clicked", "marked-as-spam")


def _rate(part: int, whole: int) -> float:
    return round(min(part / (whole or 1), 1) * 100, 2)


async def _email_overview(db: AsyncSession, project_id: str, days: list[str], since: float) -> dict[str, Any]:
    rows = (await db.execute(select(EmailOutbox.id, EmailOutbox.created_at_millis, EmailOutbox.status,
                                    EmailOutbox.simple_status, EmailOutbox.delivered_at_millis, EmailOutbox.item)
                             .where(EmailOutbox.project_id == project_id)
                             .order_by(EmailOutbox.created_at_millis.desc()))).all()
    by_status = Counter(r.simple_status for r in rows)
    by_day: dict[str, Counter] = {d: Counter() for d in days}
    for r in rows:
        if r.created_at_millis >= since and _day(r.created_at_millis) in by_day:
            by_day[_day(r.created_at_millis)][r.simple_status] += 1
    finished = sum(1 for r in rows if r.status in FINISHED_SENDING)
    delivered = sum(1 for r in rows if r.delivered_at_millis is not None)
    bounced = sum(1 for r in rows if r.status == "bounced")
    clicked = sum(1 for r in rows if r.status == "clicked")
    return {
        "emails_by_status": {s: by_status[s] for s in ("ok", "error", "in-progress") if by_status[s]},
        "total_emails": len(rows),
        "daily_emails": [{"date": d, "activity": sum(c.values())} for d, c in by_day.items()],
        "daily_emails_by_status": [{"date": d, "ok": c["ok"], "error": c["error"], "in_progress": c["in-progress"]}
                                   for d, c in by_day.items()],
        "emails_sent": finished,
        # the platform's database status names: upper case, underscores
        "recent_emails": [{"id": r.id, "status": r.status.upper().replace("-", "_"),
                           "subject": (r.item or {}).get("subject") or "(no subject)",
                           "created_at_millis": r.created_at_millis} for r in rows[:RECENT_LIST]],
        "deliverability_status": {"delivered": delivered, "bounced": bounced, "error": by_status["error"],
                                  "in_progress": by_status["in-progress"]},
        "deliverability_rate": _rate(delivered, finished),
        "bounce_rate": _rate(bounced, finished),
        "click_rate": _rate(clicked, finished),
    }
