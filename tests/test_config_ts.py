"""TypeScript / JavaScript config files (hexclave.config.ts, the platform's stack.config.ts): run with node in a child
process, hot-reloaded with the same safety as hexclave.config.py, written back in the platform's form; the
official emulator's /internal/local-emulator/project on such files."""
from __future__ import annotations

import json
import shutil
import uuid

import pytest

from support import back_to_good_config, sign_up_enabled, start_emulator, wait_for
from emulator.domain.projects import config_writer

pytestmark = pytest.mark.skipif(shutil.which("node") is None or shutil.which("npm") is None,
                                reason="TypeScript config files need Node.js and npm")

SIGN_UP_OFF = '''// the app's config
import type { StackConfig } from "@stackframe/js";

const signUp: boolean = false;

export const config: StackConfig = {
  auth: { allowSignUp: signUp, password: { allowSignIn: true } },
};
'''
SIGN_UP_ON = SIGN_UP_OFF.replace("const signUp: boolean = false;", "const signUp: boolean = true;")


def admin(emu, **kw):
    return emu.http("admin", key=emu.env["HEXCLAVE_SUPER_SECRET_ADMIN_KEY"], **kw)


def internal_admin(emu):
    return emu.http("admin", project_id="internal")


@pytest.fixture(scope="module")
def shared_emu(tmp_path_factory):
    path = tmp_path_factory.mktemp("ts") / "hexclave.config.ts"
    path.write_text(SIGN_UP_OFF)
    emu = start_emulator(config=path, env={"HEXCLAVE_CONFIG_LOAD_TIMEOUT": "3"}, timeout=180)  # first use: npm ci
    yield emu, path
    emu.stop()


@pytest.fixture
def ts_emu(shared_emu):
    """The module's emulator, its config file back at a known good content (sign-up off)."""
    return back_to_good_config(shared_emu, SIGN_UP_OFF)


def test_a_typescript_config_is_served_and_hot_reloaded(ts_emu):
    emu, path = ts_emu
    with emu.client() as c:
        assert c.get("/projects/current").json()["config"]["credential_enabled"] is True
    path.write_text(SIGN_UP_ON)
    assert sign_up_enabled(emu) is True  # the very next request sees the saved file
    assert wait_for(lambda: any("config reloaded" in line for line in emu.output))


@pytest.mark.parametrize("broken, expected", [
    ("export const config = {\n  auth: { allowSignUp: },\n};\n", ':2: syntax error: Unexpected "}"'),
    ("const f = (): never => {\n  throw new Error('no config today');\n};\nexport const config = f();\n",
     ":2: Error: no config today"),
    ("export const config = { auth: { allowSignUp: 'no' } };\n",
     "invalid config: auth.allowSignUp: expected a boolean, got str 'no'"),
    ("export const other = {};\n", "the file must export `config`"),
    ("export const config = { auth: { allowSignUp: () => true } };\n",
     "invalid config: config.auth.allowSignUp: a function is not a JSON value"),
    ("process.exit(4);\n", "the file ended the process running it (exit status 4)"),
])
def test_a_broken_edit_keeps_the_last_good_config_and_names_file_line_and_reason(ts_emu, broken, expected):
    emu, path = ts_emu
    path.write_text(broken)
    assert sign_up_enabled(emu) is False  # answered with the last good config, not a 500
    assert wait_for(lambda: any(expected in line and str(path) in line for line in emu.output)), "".join(emu.output)
    path.write_text(SIGN_UP_ON)
    assert sign_up_enabled(emu) is True


def test_a_file_that_runs_too_long_is_stopped(ts_emu):
    emu, path = ts_emu
    path.write_text("while (true) {}\nexport const config = {};\n")
    assert sign_up_enabled(emu) is False
    assert wait_for(lambda: any("ran for more than 3 s" in line for line in emu.output), timeout=10), \
        "".join(emu.output)
    assert emu.proc.poll() is None


def test_relative_imports_dotted_keys_and_printing_to_the_log(ts_emu):
    emu, path = ts_emu
    (path.parent / "auth-settings.ts").write_text("export const allowSignUp: boolean = true;\n")
    path.write_text('import { allowSignUp } from "./auth-settings";\nconsole.log("loading the config");\n'
                    'export const config = { auth: { allowSignUp }, "teams.allowClientTeamCreation": true };\n')
    assert sign_up_enabled(emu) is True
    assert any("loading the config" in line for line in emu.output)
    with admin(emu) as a:  # dotted keys, as the platform's files may have them
        assert json.loads(a.get("/internal/config").json()["config_string"])["teams"]["allowClientTeamCreation"]


def test_branch_writes_rewrite_the_file_in_the_platforms_form(ts_emu):
    emu, path = ts_emu
    with admin(emu) as a:
        r = a.patch("/internal/config/override/branch", json={"config_override_string": json.dumps(
            {"teams.allowClientTeamCreation": True, "auth.allowSignUp": True})})
        assert r.status_code == 200, r.text
        assert json.loads(a.get("/internal/config/override/branch").json()["config_string"]) == {
            "auth": {"allowSignUp": True, "password": {"allowSignIn": True}},
            "teams": {"allowClientTeamCreation": True}}
    assert path.read_text() == (
        'import type { StackConfig } from "@stackframe/js";\n\n'
        'export const config: StackConfig = {\n'
        '  "auth": {\n    "allowSignUp": true,\n    "password": {\n      "allowSignIn": true\n    }\n  },\n'
        '  "teams": {\n    "allowClientTeamCreation": true\n  }\n};\n')
    assert sign_up_enabled(emu) is True
    path.write_text(path.read_text().replace('"allowSignUp": true', '"allowSignUp": false'))  # and read back
    assert sign_up_enabled(emu) is False


def test_local_emulator_project_for_an_empty_typescript_file(ts_emu, tmp_path):
    emu, _ = ts_emu
    path = tmp_path / uuid.uuid4().hex / "stack.config.ts"
    path.parent.mkdir()
    (tmp_path / "package.json").write_text(json.dumps({"dependencies": {"@stackframe/react": "2.8.0"}}))
    path.write_text("")
    with internal_admin(emu) as a:
        r = a.post("/internal/local-emulator/project", json={"absolute_file_path": str(path)})
    assert r.status_code == 200, r.text
    body = r.json()
    assert json.loads(body["branch_config_override_string"]) == {}
    # the StackConfig type comes from the package the app depends on
    assert path.read_text() == ('import type { StackConfig } from "@stackframe/react";\n\n'
                                "export const config: StackConfig = {};\n")
    project = dict(project_id=body["project_id"], key=body["super_secret_admin_key"])
    with emu.http("admin", **project) as a:
        for method, url, payload in [
            ("PATCH", "/internal/config/override/environment", {"config_override_string": "{}"}),
            ("PUT", "/internal/config/override/environment", {"config_string": "{}"}),
            ("POST", "/internal/config/override/environment/reset-keys", {"keys": ["teams"]}),
        ]:
            r = a.request(method, url, json=payload)
            assert r.status_code == 400 and "cannot be changed in the local emulator" in r.text, (url, r.text)
        r = a.patch("/internal/config/override/branch",
                    json={"config_override_string": json.dumps({"teams.allowClientTeamCreation": True})})
        assert r.status_code == 200, r.text
        assert json.loads(a.get("/internal/config").json()["config_string"])["teams"]["allowClientTeamCreation"]
    assert '"allowClientTeamCreation": true' in path.read_text()
    # the project of the emulator's own --config file keeps its environment level writable
    with admin(emu) as a:
        r = a.patch("/internal/config/override/environment", json={"config_override_string": "{}"})
        assert r.status_code == 200, r.text


def test_an_empty_python_file_is_given_an_empty_python_config(ts_emu, tmp_path):
    emu, _ = ts_emu
    path = tmp_path / "hexclave.config.py"
    path.write_text("\n")
    with internal_admin(emu) as a:
        r = a.post("/internal/local-emulator/project", json={"absolute_file_path": str(path)})
    assert r.status_code == 200, r.text
    assert "config = define_config({})" in path.read_text()


def test_a_javascript_file_is_written_back_without_types(tmp_path):
    path = tmp_path / "hexclave.config.js"
    assert config_writer.file_content({"teams": {"allowClientTeamCreation": True, "gone": None}}, path) == (
        'export const config = {\n  "teams": {\n    "allowClientTeamCreation": true\n  }\n};\n')


def test_without_node_a_typescript_file_is_refused_with_its_name(tmp_path):
    path = tmp_path / "stack.config.ts"
    path.write_text("export const config = {};\n")
    emu = start_emulator(env={"HEXCLAVE_NODE": "off"})
    try:
        with internal_admin(emu) as a:
            r = a.post("/internal/local-emulator/project", json={"absolute_file_path": str(path)})
        assert r.status_code == 400
        assert str(path) in r.text and "Node.js" in r.text
    finally:
        emu.stop()
