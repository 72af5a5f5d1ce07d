"""Team invitations: TEAM_INVITATION verification codes whose data names the team and whose method is the
invited email address. An invitation's id is its code row's id; listing shows only unused, unexpired codes."""
from __future__ import annotations

from typing import Any

from sqlalchemy import func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession

from emulator.domain.auth import codes
from emulator.domain.mail import emails
from emulator.domain.teams import teams
from emulator.domain.users import users
from emulator.clock import now_millis
from emulator.domain.payments import ledger
from emulator.domain.projects.projects import DASHBOARD_SEATS_ITEM, INTERNAL_PROJECT_ID, ProjectView, is_trusted_url
from emulator.errors import E
from emulator.store.models import ContactChannel, Team, TeamMember, User, VerificationCode


def _team_id(row: VerificationCode) -> str:
    return row.data["team_id"]


def _email(row: VerificationCode) -> str:
    return row.data["method"]["email"]


def shape(row: VerificationCode, team: Team) -> dict[str, Any]:
    return {"id": row.id, "team_id": team.id, "team_display_name": team.display_name,
            "expires_at_millis": row.expires_at_millis, "recipient_email": _email(row)}


async def send(db: AsyncSession, bus, project: ProjectView, team_id: str, email: str, callback_url: str) -> str:
    """Create the invitation and mail its link; returns the invitation id."""
    if not is_trusted_url(project.config, callback_url):
        raise E.redirect_url_not_whitelisted()
    team = await teams.require(db, project, team_id)
    code = await codes.issue(db, project.id, codes.TEAM_INVITATION, {"team_id": team.id}, method={"email": email})
    invitation_id = (await db.execute(select(VerificationCode.id).where(VerificationCode.code == code))).scalar_one()
    # Sent to whoever holds the address, so no user name in the greeting.
    await emails.send_template(db, bus, project, email, "team_invitation",
                               {"teamInvitationLink": codes.link_with_code(callback_url, code),
                                "teamDisplayName": team.display_name})
    return invitation_id


async def _open(db: AsyncSession, project: ProjectView, *conditions) -> list[VerificationCode]:
    stmt = select(VerificationCode).where(
        VerificationCode.project_id == project.id, VerificationCode.type == codes.TEAM_INVITATION,
        VerificationCode.used_at_millis.is_(None), VerificationCode.expires_at_millis > now_millis(), *conditions)
    # rowid breaks ties between invitations sent in the same millisecond: sending order.
    stmt = stmt.order_by(VerificationCode.created_at_millis, literal_column("verification_codes.rowid"))
    return list((await db.execute(stmt)).scalars())


async def list_for_team(db: AsyncSession, project: ProjectView, team: Team) -> list[dict[str, Any]]:
    rows = await _open(db, project, VerificationCode.data["team_id"].as_string() == team.id)
    return [shape(row, team) for row in rows]


async def verified_emails(db: AsyncSession, project: ProjectView, user_id: str) -> set[str]:
    return set((await db.execute(select(ContactChannel.value).where(
        ContactChannel.project_id == project.id, ContactChannel.user_id == user_id, ContactChannel.type == "email",
        ContactChannel.is_verified.is_(True)))).scalars())


async def list_for_user(db: AsyncSession, project: ProjectView, user_id: str) -> list[dict[str, Any]]:
    """Invitations addressed to any verified email of the user; those of deleted teams are left out."""
    addresses = await verified_emails(db, project, user_id)
    if not addresses:
        return []
    items = []
    for row in await _open(db, project):
        if users.normalize_email(_email(row)) in addresses:
            team = await db.get(Team, _team_id(row))
            if team is not None and team.project_id == project.id:
                items.append(shape(row, team))
    return items


def check_invitee(project: ProjectView, user: User | None) -> User:
    if user is None:
        raise E.user_authentication_required()
    reason = users.restricted_reason(user, project)
    if reason:
        raise E.team_invitation_restricted_user_not_allowed(reason)
    return user


async def _join(db: AsyncSession, project: ProjectView, team_id: str, user_id: str) -> None:
    """Add the user with the member defaults; accepting while already a member is not an error."""
    team = await teams.require(db, project, team_id)
    if project.id == INTERNAL_PROJECT_ID:  # a team that owns projects has one dashboard seat per member
        await _check_dashboard_seat(db, project, team.id)
    if await db.get(TeamMember, (team.id, user_id)) is None:
        await teams.add_member(db, project, team, user_id, "member")


async def _check_dashboard_seat(db: AsyncSession, project: ProjectView, team_id: str) -> None:
    if DASHBOARD_SEATS_ITEM not in project.config["payments"]["items"]:
        raise E.item_not_found(DASHBOARD_SEATS_ITEM)
    members = (await db.execute(select(func.count()).select_from(TeamMember)
                                .where(TeamMember.team_id == team_id))).scalar_one()
    seats = ledger.item_quantities(await ledger.load(db, project.id, "team", team_id)).get(DASHBOARD_SEATS_ITEM, 0)
    if members + 1 > seats:
        raise E.item_quantity_insufficient_amount(DASHBOARD_SEATS_ITEM, team_id, -1)


async def check_code(db: AsyncSession, project: ProjectView, code: str) -> None:
    await codes.redeem(db, project.id, codes.TEAM_INVITATION, code, consume=False)


async def accept_code(db: AsyncSession, project: ProjectView, code: str, user: User | None) -> None:
    """Whoever holds the code may join (the address is not compared), once signed in and not restricted.

    A refusal after the code checks rolls the request back, so the code stays usable."""
    row = await codes.redeem(db, project.id, codes.TEAM_INVITATION, code, consume=True)
    invitee = check_invitee(project, user)
    await _join(db, project, _team_id(row), invitee.id)


async def details(db: AsyncSession, project: ProjectView, code: str, user: User | None) -> dict[str, str]:
    row = await codes.redeem(db, project.id, codes.TEAM_INVITATION, code, consume=False)
    check_invitee(project, user)
    team = await teams.require(db, project, _team_id(row))
    return {"team_id": team.id, "team_display_name": team.display_name}


async def accept_by_id(db: AsyncSession, project: ProjectView, invitation_id: str, user_id: str) -> None:
    """Accept without the code: the user must own a verified email equal to the invitation's recipient.
    Every failure, including a wrong user, looks like an unknown code."""
    row = await db.get(VerificationCode, invitation_id)
    if (row is None or row.project_id != project.id or row.type != codes.TEAM_INVITATION
            or row.used_at_millis is not None or row.expires_at_millis <= now_millis()):
        raise E.verification_code_not_found()
    if users.normalize_email(_email(row)) not in await verified_emails(db, project, user_id):
        raise E.verification_code_not_found()
    row.used_at_millis = now_millis()
    await _join(db, project, _team_id(row), user_id)


async def revoke(db: AsyncSession, project: ProjectView, team_id: str, invitation_id: str) -> None:
    row = await db.get(VerificationCode, invitation_id)
    if (row is None or row.project_id != project.id or row.type != codes.TEAM_INVITATION
            or _team_id(row) != team_id):
        raise E.verification_code_not_found()
    await db.delete(row)
    await db.flush()
