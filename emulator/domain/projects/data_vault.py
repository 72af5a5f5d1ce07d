"""The data vault: small secrets kept per store, as declared in config (`dataVault.stores`).

The client sends the key already hashed and the value already encrypted with its own secret; the emulator adds
its own layer at rest, as the platform does with its KMS: AES-GCM under a key derived (HKDF) from the emulator's
server secret, each value bound to its project, store and key so ciphertexts cannot be swapped between slots.
"""
from __future__ import annotations

import os
import uuid

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from emulator.clock import now_millis
from emulator.domain.projects.projects import ProjectView
from emulator.errors import E, StatusError
from emulator.store.models import DataVaultEntry

NONCE_BYTES = 12


def _cipher(server_secret: str) -> AESGCM:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
               info=b"hexclave-emulator data vault").derive(server_secret.encode())
    return AESGCM(key)


def _slot(project_id: str, store_id: str, hashed_key: str) -> bytes:
    return "\x00".join((project_id, store_id, hashed_key)).encode()


def _require_store(project: ProjectView, store_id: str) -> None:
    if store_id not in project.config["dataVault"]["stores"]:
        raise E.data_vault_store_does_not_exist(store_id)


async def _entry(db: AsyncSession, project_id: str, store_id: str, hashed_key: str) -> DataVaultEntry | None:
    return (await db.execute(select(DataVaultEntry).where(
        DataVaultEntry.project_id == project_id, DataVaultEntry.store_id == store_id,
        DataVaultEntry.hashed_key == hashed_key))).scalar_one_or_none()


async def set_value(db: AsyncSession, server_secret: str, project: ProjectView, store_id: str, hashed_key: str,
                    value: str) -> None:
    _require_store(project, store_id)
    nonce = os.urandom(NONCE_BYTES)
    ciphertext = nonce + _cipher(server_secret).encrypt(nonce, value.encode(), _slot(project.id, store_id, hashed_key))
    now = now_millis()
    entry = await _entry(db, project.id, store_id, hashed_key)
    if entry is None:
        db.add(DataVaultEntry(id=str(uuid.uuid4()), project_id=project.id, store_id=store_id, hashed_key=hashed_key,
                              ciphertext=ciphertext, created_at_millis=now, updated_at_millis=now))
    else:
        entry.ciphertext, entry.updated_at_millis = ciphertext, now


async def get_value(db: AsyncSession, server_secret: str, project: ProjectView, store_id: str, hashed_key: str) -> str:
    _require_store(project, store_id)
    entry = await _entry(db, project.id, store_id, hashed_key)
    if entry is None:
        raise E.data_vault_store_hashed_key_does_not_exist(store_id, hashed_key)
    nonce, sealed = entry.ciphertext[:NONCE_BYTES], entry.ciphertext[NONCE_BYTES:]
    try:
        return _cipher(server_secret).decrypt(nonce, sealed, _slot(project.id, store_id, hashed_key)).decode()
    except InvalidTag:
        raise StatusError(500, "This data vault value was encrypted under another server secret "
                               "(HEXCLAVE_SERVER_SECRET changed since it was stored); set it again.") from None
