"""The baseline bench/run.py measures the emulator against: a bare Starlette + uvicorn (uvloop, httptools) app with
one route answering a fixed JSON body, served the way the emulator serves (no access log, no lifespan).

    python bench/bare_stack.py PORT

Prints `imported <seconds>` (interpreter start to the end of its imports) before it serves.
"""
import time

_began = time.perf_counter()

import sys  # noqa: E402

import uvicorn  # noqa: E402
import uvloop  # noqa: E402,F401
from starlette.applications import Starlette  # noqa: E402
from starlette.responses import Response  # noqa: E402
from starlette.routing import Route  # noqa: E402

BODY = b'{"id":"0c4d8a5e-6f0b-4c3e-9a55-1d3f2b7c9e10","primary_email":"bench@example.com","display_name":null}'


async def fixed(request):
    return Response(BODY, media_type="application/json; charset=utf-8")


app = Starlette(routes=[Route("/", fixed)])

if __name__ == "__main__":
    print(f"imported {time.perf_counter() - _began:.4f}", flush=True)
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False,
                lifespan="off", loop="uvloop", http="httptools", server_header=False)
