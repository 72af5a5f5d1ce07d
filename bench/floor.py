"""The floor bench/run.py measures sign-up against: the least a password sign-up costs on the emulator's own stack.

    python bench/floor.py PORT orm|core|driver

One Starlette route on uvicorn (uvloop, httptools), on the emulator's store (its schema, engine and single-connection
driver, one database turn at a time), doing only what every sign-up must: read the JSON body, look the e-mail up,
hash the password with bcrypt at the emulator's cost on a worker thread, store the user, its e-mail channel, its
session and the `user.created` webhook message, and sign an ES256 access token. Nothing else: no auth headers, no
validation, config, sign-up rules, rendering nor logging. The rows are written
  orm     by the ORM's unit of work (as the emulator writes them),
  core    as one SQLAlchemy Core INSERT each,
  driver  as plain SQL on the driver's connection (SQLAlchemy only opens and commits the transaction).
`GET /` answers 200 once the store is ready (what bench/run.py polls); `POST /` signs up.
"""
import time

_began = time.perf_counter()

import asyncio  # noqa: E402
import json  # noqa: E402
import secrets  # noqa: E402
import sys  # noqa: E402
import uuid  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import bcrypt  # noqa: E402
import jwt  # noqa: E402
import uvicorn  # noqa: E402
import uvloop  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from sqlalchemy import insert, select, true  # noqa: E402
from starlette.applications import Starlette  # noqa: E402
from starlette.responses import Response  # noqa: E402
from starlette.routing import Route  # noqa: E402

from emulator.settings import Settings  # noqa: E402
from emulator.store.engine import Database, make_engine, prepare_schema  # noqa: E402
from emulator.store.models import ContactChannel, RefreshToken, User, WebhookMessage  # noqa: E402

MODE = sys.argv[2] if len(sys.argv) > 2 else "orm"
ROUNDS = Settings().bcrypt_rounds
PROJECT = "floor"
KEY = ec.generate_private_key(ec.SECP256R1())
db = Database(make_engine("sqlite+aiosqlite://"))


def _hash(password: str) -> str:
    return bcrypt.hashpw(password.encode()[:72], bcrypt.gensalt(ROUNDS)).decode()


def _driver_insert(cursor, table: str, row: dict) -> None:
    cursor.execute(f"INSERT INTO {table} ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})", list(row.values()))


async def ready(request):
    return Response(b'{"ready":true}', media_type="application/json")


async def sign_up(request):
    body = json.loads(await request.body())
    email, now = body["email"], int(time.time() * 1000)
    hashed = asyncio.get_running_loop().run_in_executor(None, _hash, body["password"])
    user_id, session_id, refresh_token = str(uuid.uuid4()), str(uuid.uuid4()), secrets.token_urlsafe(34)
    async with db.session() as s:
        taken = (await s.execute(select(ContactChannel.user_id).where(
            ContactChannel.project_id == PROJECT, ContactChannel.type == "email", ContactChannel.value == email,
            ContactChannel.used_for_auth == true()))).first()
        if taken:
            return Response(b'{"code":"USER_EMAIL_ALREADY_EXISTS"}', 409, media_type="application/json")
        rows = [
            (User, dict(id=user_id, project_id=PROJECT, signed_up_at_millis=now, last_active_at_millis=now,
                        is_anonymous=False, otp_auth_enabled=False, passkey_auth_enabled=False,
                        restricted_by_admin=False, password_hash=await hashed)),
            (ContactChannel, dict(id=str(uuid.uuid4()), project_id=PROJECT, user_id=user_id, type="email", value=email,
                                  is_verified=False, is_primary=True, used_for_auth=True, created_at_millis=now)),
            (RefreshToken, dict(id=session_id, project_id=PROJECT, user_id=user_id, token=refresh_token,
                                created_at_millis=now, last_used_at_millis=now, expires_at_millis=now + 10**10,
                                is_impersonation=False)),
            (WebhookMessage, dict(id="msg_" + uuid.uuid4().hex, project_id=PROJECT, event_type="user.created",
                                  channels=None, created_at_millis=now,
                                  payload={"type": "user.created", "data": {"id": user_id, "primary_email": email}})),
        ]
        if MODE == "orm":
            s.add(User(**rows[0][1]))
            await s.flush()  # the session row names the user without an ORM relationship: user first
            s.add_all(model(**row) for model, row in rows[1:])
        elif MODE == "core":
            conn = await s.connection()
            for model, row in rows:
                await conn.execute(insert(model), [row])
        else:
            cursor = (await (await s.connection()).get_raw_connection()).driver_connection._conn.cursor()
            for model, row in rows:
                _driver_insert(cursor, model.__tablename__, {k: json.dumps(v) if k in ("channels", "payload") else v
                                                              for k, v in row.items()})
        await s.commit()
    seconds = now // 1000
    access_token = jwt.encode({"sub": user_id, "iss": "http://127.0.0.1", "aud": PROJECT, "iat": seconds,
                               "exp": seconds + 600, "refresh_token_id": session_id, "email": email},
                              KEY, algorithm="ES256", headers={"kid": "floor"})
    return Response(json.dumps({"access_token": access_token, "refresh_token": refresh_token,
                                "user_id": user_id}).encode(), media_type="application/json")


async def main(port: int) -> None:
    await prepare_schema(db.engine)
    async with db.session() as s:
        await (await s.connection()).exec_driver_sql(
            "INSERT INTO projects (id, display_name, description, created_at_millis, config_override, "
            "is_production_mode, onboarding_status) VALUES (?, 'floor', '', 0, '{}', 0, 'completed')", (PROJECT,))
        await s.commit()
    app = Starlette(routes=[Route("/", ready), Route("/", sign_up, methods=["POST"])])
    print(f"imported {time.perf_counter() - _began:.4f}", flush=True)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="off",
                            loop="none", http="httptools", server_header=False)
    await uvicorn.Server(config).serve()


if __name__ == "__main__":
    if MODE not in ("orm", "core", "driver"):
        sys.exit("usage: python bench/floor.py PORT orm|core|driver")
    uvloop.run(main(int(sys.argv[1])))
