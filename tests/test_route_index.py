"""The API's IndexedRouter picks, for every request it looks up directly, the very route Starlette's in-order
search would pick (a route declared earlier with a matching pattern keeps winning)."""
from __future__ import annotations

from starlette.routing import Match

from emulator.http.app import IndexedRouter, api_routes


def test_indexed_routes_are_the_ones_the_in_order_search_picks():
    router = IndexedRouter(api_routes())
    assert ("/users/me", "GET") in router._static
    for (path, method), route in router._static.items():
        scope = {"type": "http", "path": path, "method": method, "root_path": ""}
        first = next(r for r in router.routes if r.matches(scope)[0] is Match.FULL)
        assert first is route, (path, method)


def test_a_pattern_declared_first_keeps_its_paths():
    from starlette.responses import Response
    from starlette.routing import Route

    def endpoint(request):
        return Response()

    router = IndexedRouter([Route("/items/{id}", endpoint, methods=["GET"]), Route("/items/new", endpoint),
                            Route("/items/new", endpoint, methods=["POST"])])
    assert ("/items/new", "GET") not in router._static  # the pattern before it takes GET /items/new
    assert router._static[("/items/new", "POST")] is router.routes[2]
