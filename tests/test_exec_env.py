"""`hexclave-emulator exec`, `env`, the health route, and one-line errors for bad options and environment values."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import httpx

from support import FIXTURE_CONFIG, REPO, wait_for

CLI = [sys.executable, "-m", "emulator"]


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], cwd=REPO, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


CHILD = """
import json, os, sys, urllib.request
names = [n for n in os.environ if n.startswith(("HEXCLAVE_", "STACK_", "NEXT_PUBLIC_", "VITE_"))]
health = json.load(urllib.request.urlopen(os.environ["HEXCLAVE_EMULATOR_URL"] + "/api/v1/emulator/health"))
users = urllib.request.Request(os.environ["HEXCLAVE_API_URL"] + "/api/v1/users", headers={
    "x-stack-access-type": "server", "x-stack-project-id": os.environ["HEXCLAVE_PROJECT_ID"],
    "x-stack-secret-server-key": os.environ["HEXCLAVE_SECRET_SERVER_KEY"]})
listed = json.load(urllib.request.urlopen(users))
print(json.dumps({"env": {n: os.environ[n] for n in names}, "health": health, "users": listed}))
sys.exit(int(sys.argv[1]))
"""


def test_exec_runs_the_command_with_the_environment_and_passes_its_exit_code_through():
    done = run_cli("exec", "--config", str(FIXTURE_CONFIG), "--", sys.executable, "-c", CHILD, "7")
    assert done.returncode == 7, done.stderr
    seen = json.loads(done.stdout)
    env, health = seen["env"], seen["health"]
    assert health["status"] == "ok" and health["project_id"] == env["HEXCLAVE_PROJECT_ID"]
    assert env["HEXCLAVE_API_URL"] == env["HEXCLAVE_EMULATOR_URL"] == env["STACK_API_URL"]
    assert env["HEXCLAVE_EMULATOR_SMTP_HOST"] == "127.0.0.1" and int(env["HEXCLAVE_EMULATOR_SMTP_PORT"]) > 0
    for name in ("PUBLISHABLE_CLIENT_KEY", "SECRET_SERVER_KEY", "SUPER_SECRET_ADMIN_KEY"):
        assert env[f"HEXCLAVE_{name}"] == env[f"STACK_{name}"]
    assert env["NEXT_PUBLIC_HEXCLAVE_PUBLISHABLE_CLIENT_KEY"] == env["HEXCLAVE_PUBLISHABLE_CLIENT_KEY"]
    assert "NEXT_PUBLIC_HEXCLAVE_SECRET_SERVER_KEY" not in env  # secrets never get a browser-bundle name
    assert seen["users"]["items"] == []  # the injected server key reads the project's users
    assert run_cli("exec", "--", sys.executable, "-c", "pass").returncode == 0


def test_exec_passes_signals_to_the_command_and_reports_a_signal_death_like_a_shell(tmp_path):
    marker = tmp_path / "ready"
    child = (f"import signal, sys, time, pathlib\n"
             f"signal.signal(signal.SIGTERM, lambda *a: sys.exit(9))\n"
             f"pathlib.Path({str(marker)!r}).write_text('x')\n"
             f"time.sleep(60)\n")
    proc = subprocess.Popen([*CLI, "exec", "--", sys.executable, "-c", child], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for(marker.exists, timeout=60)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 9
    finally:
        proc.kill()
    killed = run_cli("exec", "--", sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)")
    assert killed.returncode == 128 + signal.SIGKILL


def test_exec_reports_a_start_failure_in_one_line_without_running_the_command(tmp_path):
    config = tmp_path / "hexclave.config.py"
    config.write_text("config = {'auth': {'allowSignUp': 'yes'}}\n")
    marker = tmp_path / "ran"
    done = run_cli("exec", "--config", str(config), "--", sys.executable, "-c", f"open({str(marker)!r}, 'w')")
    assert done.returncode == 1 and not marker.exists()
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("config error: ")


def test_exec_reports_a_missing_command_in_one_line():
    done = run_cli("exec", "--", "no-such-command-hexclave")
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == "Error: cannot run 'no-such-command-hexclave': No such file or directory"
    assert "Traceback" not in done.stderr


def test_env_prints_the_variables_of_a_running_emulator(emu):
    dotenv = run_cli("env", "--url", emu.url)
    assert dotenv.returncode == 0, dotenv.stderr
    pairs = dict(line.split("=", 1) for line in dotenv.stdout.splitlines())
    assert {k: v for k, v in emu.env.items()} == pairs  # the banner prints the very same variables
    assert pairs["HEXCLAVE_EMULATOR_URL"] == emu.url and pairs["HEXCLAVE_EMULATOR_SMTP_PORT"] == str(emu.smtp_port)
    as_json = json.loads(run_cli("env", "--format", "json", env={"HEXCLAVE_EMULATOR_URL": emu.url}).stdout)
    assert as_json == pairs
    shell = run_cli("env", "--format", "shell", env={"HEXCLAVE_EMULATOR_PORT": str(emu.port)}).stdout
    echoed = subprocess.run(["sh", "-c", shell + '\necho "$HEXCLAVE_SECRET_SERVER_KEY"'], capture_output=True, text=True)
    assert echoed.stdout.strip() == emu.ssk


def test_env_without_an_emulator_is_a_one_line_error():
    done = run_cli("env", "--url", "http://127.0.0.1:9")
    assert done.returncode == 1
    assert done.stderr.startswith("Error: no emulator answering at http://127.0.0.1:9") and "Traceback" not in done.stderr


def test_health_answers_with_version_and_uptime(emu):
    first = httpx.get(emu.api + "/emulator/health").json()
    time.sleep(0.05)
    second = httpx.get(emu.api + "/emulator/health").json()
    from emulator import __version__
    assert first["status"] == "ok" and first["version"] == __version__
    assert second["uptime_seconds"] > first["uptime_seconds"] >= 0


def test_bad_environment_values_and_options_are_one_line_errors_naming_them():
    cases = [({"HEXCLAVE_EMULATOR_PORT": "abc"}, [], "HEXCLAVE_EMULATOR_PORT must be a whole number, got 'abc'"),
             ({"STACK_EMULATOR_SMTP_PORT": "99999"}, [], "STACK_EMULATOR_SMTP_PORT must be between 0 and 65535"),
             ({"HEXCLAVE_ACCESS_TOKEN_EXPIRATION_TIME": "soon"}, [], "HEXCLAVE_ACCESS_TOKEN_EXPIRATION_TIME: not a duration"),
             ({"HEXCLAVE_BCRYPT_ROUNDS": "x"}, [], "HEXCLAVE_BCRYPT_ROUNDS must be a whole number"),
             ({}, ["--public-url", "localhost:3000"], "--public-url must be an http(s) URL"),
             ({}, ["--port", "http"], "Invalid value for '--port'")]
    for env, args, expected in cases:
        done = run_cli("start", "--in-memory", *args, env=env, timeout=30)
        assert done.returncode == 2, (env, args, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr
        assert expected in done.stderr.strip().splitlines()[-1], done.stderr
