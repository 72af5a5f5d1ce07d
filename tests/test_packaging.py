"""What a user installs: `pip install .` gives the `hexclave-emulator` command (exec passes the environment and
the exit code through, from any directory) and the pytest plugin by its entry point; `init` writes a config the
emulator serves; and a one-file .pyz built with shiv starts."""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from support import REPO, start_emulator


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The package installed from this checkout into a directory of its own (dependencies: the test environment's)."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--target", str(target), str(REPO)], check=True, capture_output=True, timeout=300)
    return target


def run_installed(installed: Path, cwd: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(installed)}
    return subprocess.run([str(installed / "bin" / "hexclave-emulator"), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_installed_command_exec_passes_environment_and_exit_code(installed, tmp_path):
    child = ("import os, sys; print(os.environ['HEXCLAVE_PROJECT_ID'], os.environ['HEXCLAVE_EMULATOR_URL']);"
             "sys.exit(42)")
    done = run_installed(installed, tmp_path, "exec", "--", sys.executable, "-c", child)
    assert done.returncode == 42, done.stderr
    project_id, url = done.stdout.split()
    assert len(project_id) == 36 and url.startswith("http://127.0.0.1:")
    assert not (tmp_path / ".hexclave").exists()  # exec keeps its data in memory


def test_installed_package_creates_stores_from_its_prebuilt_schema(installed, tmp_path):
    """emulator/store/schema.sql ships as package data and matches the installed models (else each new store
    would compile its schema with create_all, slower)."""
    done = subprocess.run([sys.executable, "-c", "from emulator.store import schema; "
                           "print(len(schema.prebuilt_statements() or []), schema.__file__)"],
                          cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(installed)}, capture_output=True,
                          text=True, timeout=60)
    count, where = done.stdout.split()
    assert int(count) > 0 and where.startswith(str(installed)), done.stderr


def test_installed_pytest_plugin_loads_by_its_entry_point(installed, tmp_path):
    (tmp_path / "test_app.py").write_text(
        "def test_project(hexclave_project):\n"
        "    assert hexclave_project.env['HEXCLAVE_PROJECT_ID'] == hexclave_project.id\n")
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
                          cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(installed)}, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout


def test_init_writes_a_config_the_emulator_serves(installed, tmp_path):
    (tmp_path / ".git").mkdir()
    done = run_installed(installed, tmp_path, "init")
    assert done.returncode == 0, done.stderr
    assert ".hexclave/" in (tmp_path / ".gitignore").read_text().splitlines()
    again = run_installed(installed, tmp_path, "init")
    assert again.returncode == 1 and "exists; pass --force" in again.stderr
    assert run_installed(installed, tmp_path, "init", "--force").returncode == 0
    assert (tmp_path / ".gitignore").read_text().count(".hexclave/") == 1
    emu = start_emulator(config=tmp_path / "hexclave.config.py")
    try:
        assert emu.client().get("/projects/current").json()["display_name"] == "My app (local)"
        assert f"  Project:  {emu.project_id} (My app (local))" in "".join(emu.banner)
        assert emu.env["HEXCLAVE_SUPER_SECRET_ADMIN_KEY"].startswith("sak_")
        admin = emu.http("admin", key=emu.env["HEXCLAVE_SUPER_SECRET_ADMIN_KEY"]).get("/internal/projects/current")
        assert admin.status_code == 200, admin.text  # the printed admin key gives admin access
    finally:
        emu.stop()


def test_public_url_is_what_apps_are_told(tmp_path):
    emu = start_emulator("--public-url", "https://auth.example.test/")
    try:
        assert emu.env["HEXCLAVE_API_URL"] == "https://auth.example.test"
        assert emu.client().get("/internal/backend-urls").json() == {"urls": ["https://auth.example.test"]}
    finally:
        emu.stop()


@pytest.mark.skipif(importlib.util.find_spec("shiv") is None, reason="shiv is not installed (pip install shiv)")
def test_one_file_pyz_build_starts(tmp_path):
    pyz = tmp_path / "hexclave-emulator.pyz"
    build = subprocess.run([sys.executable, "-m", "shiv", "--quiet", "-c", "hexclave-emulator", "-o", str(pyz),
                            str(REPO)], capture_output=True, text=True, timeout=600)
    if build.returncode != 0 and "No matching distribution" in build.stderr + build.stdout:
        pytest.skip("no package index reachable to build the .pyz")
    assert build.returncode == 0, build.stderr[-2000:]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["SHIV_ROOT"] = str(tmp_path / "shiv-root")
    child = "import json, os; print(json.dumps(dict(os.environ)))"
    done = subprocess.run([sys.executable, str(pyz), "exec", "--", sys.executable, "-c", child], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["HEXCLAVE_EMULATOR_URL"].startswith("http://127.0.0.1:")
