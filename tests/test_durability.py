"""kill -9 during writes and config write-backs (issue 17): after a restart every acknowledged write is there and
the config file loads."""
from __future__ import annotations

import json
import shutil
import threading
import time
import uuid

import httpx

from support import FIXTURE_CONFIG, start_emulator

ROUNDS = 3
WRITERS = 4
SECONDS_BEFORE_KILL = 3


def config_items(emu) -> dict:
    with emu.server() as server:
        response = server.get("/internal/config/override/branch")
        assert response.status_code == 200, response.text
        return json.loads(response.json()["config_string"]).get("payments", {}).get("items", {})


def test_acknowledged_writes_survive_kill_9(tmp_path):
    config = tmp_path / "hexclave.config.py"
    shutil.copy(FIXTURE_CONFIG, config)
    data_dir = tmp_path / "data"
    users: list[str] = []  # ids of users the emulator acknowledged creating
    items: list[str] = []  # config items whose write-back the emulator answered 200
    failures: list[str] = []  # unexpected answers, from the writer threads
    for round_number in range(ROUNDS):
        emu = start_emulator("--data-dir", str(data_dir), config=config, in_memory=False)
        # what earlier rounds acknowledged is all there
        with emu.server() as server:
            for user_id in users:
                assert server.get(f"/users/{user_id}").status_code == 200, user_id
        assert set(items) <= set(config_items(emu))
        stop = threading.Event()

        def sign_ups():
            with httpx.Client(base_url=emu.api, headers=emu.server().headers, timeout=10) as http:
                while not stop.is_set():
                    try:
                        response = http.post("/users", json={"primary_email": f"{uuid.uuid4().hex}@example.com"})
                    except httpx.HTTPError:
                        return  # killed mid-request: not acknowledged
                    if response.status_code != 201:
                        failures.append(response.text)
                        return
                    users.append(response.json()["id"])

        def write_backs():
            with httpx.Client(base_url=emu.api, headers=emu.server().headers, timeout=10) as http:
                while not stop.is_set():
                    item = f"item_{uuid.uuid4().hex[:8]}"
                    change = {f"payments.items.{item}": {"displayName": item, "customerType": "user"}}
                    try:
                        response = http.patch("/internal/config/override/branch",
                                              json={"config_override_string": json.dumps(change)})
                    except httpx.HTTPError:
                        return
                    if response.status_code != 200:
                        failures.append(response.text)
                        return
                    items.append(item)

        threads = [threading.Thread(target=sign_ups) for _ in range(WRITERS)] + [threading.Thread(target=write_backs)]
        for thread in threads:
            thread.start()
        time.sleep(SECONDS_BEFORE_KILL)
        emu.proc.kill()  # SIGKILL: no shutdown code runs
        emu.proc.wait(10)
        stop.set()
        for thread in threads:
            thread.join(15)
        assert not any(thread.is_alive() for thread in threads)
        assert failures == []
        assert users and items, f"round {round_number}: {len(users)} users and {len(items)} config writes acknowledged"
    emu = start_emulator("--data-dir", str(data_dir), config=config, in_memory=False)  # the config file loads
    try:
        with emu.server() as server:
            missing = [u for u in users if server.get(f"/users/{u}").status_code != 200]
        assert missing == []
        assert set(items) <= set(config_items(emu))
    finally:
        emu.stop()
