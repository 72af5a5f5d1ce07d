"""Inline images (base64 `data:image/…` URLs) are stored and answered as URLs, as the platform uploads them to its
S3 bucket and keeps the public URL. Links (http, https) are kept as they are."""
from __future__ import annotations

import base64
import binascii
import io
import re
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from emulator.clock import now_millis
from emulator.errors import StatusError
from emulator.store.models import StoredFile

MAX_BYTES = 1_000_000
_DATA_URL = re.compile(r"^data:image/[a-zA-Z0-9]+;base64,")
# Formats the platform's image library reads; Pillow's names, lowercased, are the same.
_FORMATS = {"jpeg", "png", "webp", "gif", "avif", "tiff"}
CONTENT_TYPES = {f: f"image/{f}" for f in _FORMATS}


def _decode(data_url: str) -> tuple[bytes, str]:
    """The image's bytes and format, or a 400 as the platform words its image checks."""
    payload = _DATA_URL.sub("", data_url, count=1)
    if len(payload) > MAX_BYTES:
        raise StatusError(400, f"Image size ({len(payload)} bytes) exceeds maximum allowed size ({MAX_BYTES} bytes)")
    try:
        raw = base64.b64decode(payload)
    except (binascii.Error, ValueError):
        raise StatusError(400, "Invalid base64 image data") from None
    from PIL import Image, UnidentifiedImageError  # imported on the first upload only

    try:
        with Image.open(io.BytesIO(raw)) as image:
            fmt, (width, height) = (image.format or "").lower(), image.size
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        raise StatusError(400, "Invalid image format or corrupted image data") from None
    if fmt not in _FORMATS:
        raise StatusError(400, "Invalid image format or corrupted image data")
    if not width or not height:
        raise StatusError(400, "Unable to determine image dimensions")
    return raw, fmt


async def stored_url(db: AsyncSession, value: str | None, folder: str, public_url: str) -> str | None:
    """What to keep for an image field: a link as given, an inline image stored and replaced by its URL."""
    if not value or not value.startswith("data:"):
        return value
    if not _DATA_URL.match(value):
        raise StatusError(400, "Invalid profile image URL")
    raw, fmt = _decode(value)
    key = f"{folder}/{uuid.uuid4()}.{fmt}"
    db.add(StoredFile(key=key, content_type=CONTENT_TYPES[fmt], data=raw, created_at_millis=now_millis()))
    return f"{public_url.rstrip('/')}/{key}"


async def read(db: AsyncSession, key: str) -> StoredFile | None:
    return await db.get(StoredFile, key)
