"""Warm-up right after the HTTP port is bound, so that no request pays for first-time work.

The first password sign-up and `GET /users/me` after start used to cost tens of ms more than later ones: modules
imported on first use, SQL statements compiled on first use (SQLAlchemy caches them per engine), the project's
config rendered on first use, the JWT machinery set up on first use. Here the same work runs once, in a transaction
that is rolled back (nothing is stored), while SMTP starts; the banner waits for it. It holds the database turn
for a few ms, as one request would.
"""
from __future__ import annotations

import gc
import logging
import uuid

log = logging.getLogger("hexclave")

GC_YOUNG_THRESHOLD = 50_000  # Python's default is 700 allocations


async def warm_up(state, project_id: str) -> None:
    """The request paths, on the config file's project; start-up awaits this before it prints the banner."""
    try:
        await _sign_up_and_read(state, project_id)
    except Exception:  # a warm-up that fails costs speed only, never correctness
        log.debug("warm-up failed", exc_info=True)
    settle_garbage_collector()


def settle_garbage_collector() -> None:
    """Start-up's objects (modules, mappers, compiled SQL) live as long as the process: freeze them, so collections
    no longer walk them; and collect the youngest generation less often, since each request allocates thousands of
    short-lived ORM objects (about 15-25 % less CPU per request, measured; memory stays well under 100 MB).
    When `start` or `exec` paused the collector, the process holds only start-up's objects: no full collection
    first, which walks all ~120,000 of them (40-240 ms) to free about 1,000 (~0.2 MB, measured; they stay frozen).
    Inside another program (the pytest plugin) its own garbage is collected first, as it must not be frozen."""
    from emulator.launch import garbage_collector_paused, resume_garbage_collector

    if not garbage_collector_paused():
        gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
    resume_garbage_collector()  # `start` pauses it while the modules are imported (emulator/launch.py)


async def _sign_up_and_read(state, project_id: str) -> None:
    """What POST /auth/password/sign-up and GET /users/me do, without HTTP, rolled back."""
    from emulator.domain.auth import sessions, tokens
    from emulator.domain.users import users
    from emulator.store.models import User

    async with state.db.session() as db:
        try:
            project = await state.projects.view(db, project_id)
            if project is None:
                return
            await state.projects.key_is_valid(db, project_id, "client", "")  # loads the project's key sets
            email = f"warm-up-{uuid.uuid4().hex}@example.invalid"
            user = await users.create(db, project, {"primary_email": email, "primary_email_auth_enabled": True,
                                                    "password": uuid.uuid4().hex},
                                      rounds=state.settings.bcrypt_rounds)
            signed_in = await sessions.sign_in(db, state.signer, project, user)
            tokens.decode(state.signer.secret, signed_in["access_token"], project_id)
            db.expunge_all()  # read the user back with SQL, as a request does
            user = await db.get(User, user.id)
            users.client_shape(await users.render(db, user, project))
            await users.find_by_auth_email(db, project_id, email)
        finally:
            await db.rollback()
