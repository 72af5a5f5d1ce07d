"""Concurrent requests share one SQLite connection: a failing request must never undo another's writes."""
import uuid
from concurrent.futures import ThreadPoolExecutor


def test_concurrent_sign_ups_survive_concurrent_failures(emu):
    taken = f"taken-{uuid.uuid4().hex[:8]}@example.com"
    with emu.client() as c:
        assert c.post("/auth/password/sign-up", json={"email": taken, "password": "password123"}).status_code == 200
    fresh = [f"c-{uuid.uuid4().hex[:10]}@example.com" for _ in range(24)]

    def sign_up(email):
        with emu.client() as c:
            return email, c.post("/auth/password/sign-up", json={"email": email, "password": "password123"})

    jobs = [e for pair in zip(fresh, [taken] * len(fresh)) for e in pair]  # each success next to a failure
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(sign_up, jobs))

    for email, r in results:
        if email == taken:
            assert r.status_code == 409 and r.json()["code"] == "USER_EMAIL_ALREADY_EXISTS"
        else:
            assert r.status_code == 200, r.text
    with emu.server() as s:
        for email in fresh:
            items = s.get("/users", params={"query": email}).json()["items"]
            assert [u["primary_email"] for u in items] == [email]
