"""The emulator's public bucket: uploaded profile images and project logos, at the URLs the API answers.
No keys needed, as for a public S3 bucket."""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from emulator.domain.storage import images
from emulator.http.responses import text_response

# Served as images only: no sniffing, and a sandbox in case a browser opens one as a page.
FILE_HEADERS = {"cache-control": "public, max-age=31536000, immutable", "x-content-type-options": "nosniff",
                "content-security-policy": "default-src 'none'; sandbox"}


async def read_file(request: Request) -> Response:
    async with request.app.state.emu.db.session() as db:
        row = await images.read(db, request.path_params["key"])
    if row is None:
        return text_response("No stored file has this key.", 404)
    return Response(row.data, media_type=row.content_type, headers=FILE_HEADERS)


async def with_stored_images(ctx, body: dict, folder: str, fields=("profile_image_url",)) -> dict:
    """The body with each inline image of `fields` stored and replaced by its URL."""
    out = dict(body)
    for field in fields:
        if field in out:
            out[field] = await images.stored_url(ctx.db, out[field], folder, ctx.state.settings.public_storage_url)
    return out


routes = [Route("/emulator/storage/{key:path}", read_file, methods=["GET"])]
