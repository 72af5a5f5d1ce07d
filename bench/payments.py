"""Benchmark of payments: item and product reads over a year of history, quantity changes, and a year of renewals.

Run from the repository root:  python bench/payments.py

Not a test: it prints the figures with their targets and always exits 0 when the run completes. It starts its own
emulator (in memory, free loopback ports, the fixture config with its payments catalogue) and stops it before
exiting, also on error.

SUBSCRIBERS users each pay for `pro` (monthly, 1,000 credits a month) on the checkout page with 4242… and buy three
`credits-pack`s; then one POST /emulator/clock/advance of 365 days renews every subscription twelve times (a
transaction and a receipt email per renewal). Measured with the server key, as a backend would call:
- GET /payments/items/user/{id}/credits           (the ledger over a year of grants, repeats and expiries);
- GET /payments/products/user/{id}                (owned products with subscription details);
- POST …/credits/update-quantity?allow_negative=false  (a guarded decrement).
"""
from __future__ import annotations

import http.client
import json
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from support import start_emulator  # noqa: E402

SUBSCRIBERS = 20
ROUNDS = 300
TARGETS = {"item_median_ms": 10.0, "products_median_ms": 15.0, "decrement_median_ms": 15.0,
           "year_of_renewals_s": 10.0}


class Api:
    def __init__(self, emu, headers: dict[str, str]) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", emu.port, timeout=120)
        self.headers = {"content-type": "application/json", "x-stack-project-id": emu.project_id, **headers}

    def call(self, method: str, path: str, body: dict | None = None, *, expect: int = 200) -> dict:
        self.conn.request(method, path if path.startswith("/purchase/") else "/api/v1" + path,
                          json.dumps(body) if body is not None else None, self.headers)
        response = self.conn.getresponse()
        data = response.read()
        if response.status != expect:
            raise SystemExit(f"{method} {path} answered {response.status}: {data[:300]!r}")
        return json.loads(data) if data and response.getheader("content-type", "").startswith("application/json") else {}

    def pay(self, checkout_url: str, price_id: str, quantity: int = 1) -> None:
        form = urlencode({"action": "pay", "card_number": "4242 4242 4242 4242", "card_expiry": "12/40",
                          "card_cvc": "123", "card_name": "Bench", "price_id": price_id, "quantity": quantity})
        self.conn.request("POST", urlsplit(checkout_url).path, form,
                          {"content-type": "application/x-www-form-urlencoded"})
        response = self.conn.getresponse()
        response.read()
        if response.status not in (200, 303):
            raise SystemExit(f"checkout answered {response.status}")


def timed(fn) -> list[float]:
    times = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return times


def main() -> None:
    emu = start_emulator()
    try:
        server = Api(emu, {"x-stack-access-type": "server", "x-stack-secret-server-key": emu.ssk})
        users = []
        for i in range(SUBSCRIBERS):
            user = server.call("POST", "/users", {"primary_email": f"bench-{time.time_ns()}-{i}@example.com"},
                               expect=201)["id"]
            for product, price, quantity in (("pro", "monthly", 1), ("credits-pack", "once", 3)):
                url = server.call("POST", "/payments/purchases/create-purchase-url",
                                  {"customer_type": "user", "customer_id": user, "product_id": product})["url"]
                server.pay(url, price, quantity)
            users.append(user)
        start = time.perf_counter()
        server.call("POST", "/emulator/clock/advance", {"duration": "365d"})
        year_s = time.perf_counter() - start
        first = users[0]
        credits = server.call("GET", f"/payments/items/user/{first}/credits")["quantity"]
        assert credits >= 1000 + 300, credits
        figures = {
            "item_median_ms": timed(lambda: server.call("GET", f"/payments/items/user/{first}/credits")),
            "products_median_ms": timed(lambda: server.call("GET", f"/payments/products/user/{first}")),
            "decrement_median_ms": timed(lambda: server.call(
                "POST", f"/payments/items/user/{first}/credits/update-quantity?allow_negative=false", {"delta": -1})),
        }
    finally:
        emu.stop()
    print(f"payments benchmark: {SUBSCRIBERS} users paying for `pro` monthly + 3 credit packs, then a year advanced "
          f"in one call ({SUBSCRIBERS * 12} renewals); {ROUNDS} requests per latency figure")
    verdict = "ok" if year_s < TARGETS["year_of_renewals_s"] else "MISSED"
    print(f"  {'year_of_renewals_s':<22} {year_s:8.2f} s   target < {TARGETS['year_of_renewals_s']:g} s  {verdict}"
          f"  (credits after the year: {credits})")
    for name, times in figures.items():
        median, p95 = statistics.median(times), sorted(times)[int(len(times) * 0.95) - 1]
        verdict = "ok" if median < TARGETS[name] else "MISSED"
        print(f"  {name:<22} {median:8.2f} ms  p95 {p95:8.2f} ms  target < {TARGETS[name]:g} ms  {verdict}")


if __name__ == "__main__":
    main()
