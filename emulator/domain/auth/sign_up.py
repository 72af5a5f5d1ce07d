"""Signing up: every way a user comes to exist on their own (password, OTP, OAuth, passkey, an anonymous user
signing up for real) goes through `sign_up()`, which applies the project's sign-up rules first. Anonymous sign-ups
and users created through the server API skip the rules, as on the platform."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from emulator.domain.users import users
from emulator.domain.projects.projects import ProjectView
from emulator.domain.auth.sign_up_rules import NO_RISK, country_code_of, evaluate, make_context
from emulator.errors import E
from emulator.store.models import User


@dataclass(frozen=True)
class SignUpMethod:
    """How a user is signing up: what conditions see besides the address."""
    auth_method: str
    oauth_provider: str | None = None
    request_country: str | None = None  # from the request's geo headers, if any


def restriction_details(project: ProjectView, rule_id: str) -> str:
    name = project.config["auth"]["signUpRules"][rule_id].get("displayName") or ""
    return f"Restricted by sign-up rule {rule_id}" + (f" ({name})" if name else "")


async def sign_up(db: AsyncSession, project: ProjectView, fields: dict[str, Any], method: SignUpMethod, *,
                  current: User | None, rounds: int, keep_session_id: str | None = None) -> User:
    """Create a user, or turn the signed-in anonymous user `current` into a real one, if the project's sign-up
    rules allow it (SIGN_UP_REJECTED otherwise). A `restrict` rule marks the user restricted by an administrator."""
    upgrading = current is not None and current.is_anonymous
    primary = users.primary_channel(current) if upgrading else None
    email = fields.get("primary_email") or (primary.value if primary else None)
    country = country_code_of(method.request_country, email)
    outcome = evaluate(project.config, make_context(email=email, auth_method=method.auth_method,
                                                    oauth_provider=method.oauth_provider, country_code=country))
    if not outcome.should_allow:
        raise E.sign_up_rejected()
    fields = {**fields, "risk_scores": {"sign_up": dict(NO_RISK)}}
    if upgrading and current.country_code:
        country = current.country_code
    if country:
        fields["country_code"] = country
    if outcome.restricted_because_of_rule_id:
        details = restriction_details(project, outcome.restricted_because_of_rule_id)
        earlier = fields.get("restricted_by_admin_private_details") or (
            current.restricted_by_admin_private_details if upgrading else None)
        fields.update(restricted_by_admin=True,
                      restricted_by_admin_private_details=f"{earlier}\n\n{details}" if earlier else details)
    if upgrading:
        await users.update(db, project, current, {**fields, "is_anonymous": False}, rounds=rounds,
                           keep_session_id=keep_session_id)
        return current
    return await users.create(db, project, fields, rounds=rounds)
