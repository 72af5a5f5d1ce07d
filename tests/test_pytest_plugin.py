"""The pytest plugin shipped in the package (emulator/pytest_plugin.py), run with pytester in a separate pytest
process, as a project using hexclave-emulator would run it."""
from __future__ import annotations

from importlib.metadata import entry_points

import pytest

from support import REPO

pytest_plugins = ["pytester"]

CONFIG = '''
config = {"auth": {"allowSignUp": True, "password": {"allowSignIn": True}, "otp": {"allowSignIn": True}},
          "project": {"displayName": "Plugin test app"}}
'''

TESTS = r'''
import json
import smtplib
import urllib.request

import pytest


def api(project, method, path, body=None, access="server"):
    key = {"client": ("publishable-client-key", project.publishable_client_key),
           "server": ("secret-server-key", project.secret_server_key)}[access]
    request = urllib.request.Request(project.env["HEXCLAVE_API_URL"] + "/api/v1" + path, method=method,
                                     data=json.dumps(body).encode() if body is not None else None, headers={
        "content-type": "application/json", "x-stack-access-type": access,
        "x-stack-project-id": project.id, "x-stack-" + key[0]: key[1]})
    with urllib.request.urlopen(request) as response:
        return json.load(response)


def test_sign_up_in_a_fresh_project(hexclave_project):
    api(hexclave_project, "POST", "/auth/password/sign-up",
        {"email": "ada@example.com", "password": "correct horse"}, access="client")
    assert [u["primary_email"] for u in api(hexclave_project, "GET", "/users")["items"]] == ["ada@example.com"]


def test_each_test_gets_its_own_project(hexclave_project):
    assert api(hexclave_project, "GET", "/users")["items"] == []
    assert hexclave_project.env["HEXCLAVE_PROJECT_ID"] == hexclave_project.id
    assert hexclave_project.env["HEXCLAVE_SUPER_SECRET_ADMIN_KEY"] == hexclave_project.super_secret_admin_key


def test_inbox_wait_returns_the_code(hexclave, hexclave_project):
    api(hexclave_project, "POST", "/auth/otp/send-sign-in-code",
        {"email": "otp@example.com", "callback_url": "http://localhost:3000/handler/magic-link-callback"},
        access="client")
    message = hexclave_project.inbox.wait(to="otp@example.com", timeout=10)
    assert message.code and message["links"] and message.to == ["otp@example.com"]
    with pytest.raises(TimeoutError):
        hexclave_project.inbox.wait(to="nobody@example.com", timeout=0.2)


def test_smtp_and_the_shared_inbox(hexclave):
    with smtplib.SMTP(hexclave.smtp_host, hexclave.smtp_port) as smtp:
        smtp.sendmail("app@example.com", ["smtp@example.com"], b"Subject: Welcome aboard\r\n\r\nhi\r\n")
    assert hexclave.inbox.wait(to="smtp@example.com", subject="welcome").subject == "Welcome aboard"


def test_clock_and_reset(hexclave):
    before = hexclave.clock.now_millis()
    assert hexclave.clock.advance(3600)["now_millis"] >= before + 3600 * 1000
    api(hexclave.project, "POST", "/users", {"primary_email": "kept@example.com"})
    hexclave.reset()
    assert api(hexclave.project, "GET", "/users")["items"] == []
    made = hexclave.new_project("Named")
    assert made.display_name == "Named" and made.id != hexclave.project.id


def test_readme_example(hexclave_project):
    import httpx
    api, email = hexclave_project.api_url, "ada@example.com"
    httpx.post(api + "/auth/otp/send-sign-in-code", headers=hexclave_project.headers("client"),
               json={"email": email, "callback_url": "http://localhost:3000/handler/magic-link-callback"})
    mail = hexclave_project.inbox.wait(to=email, timeout=5)
    assert httpx.post(api + "/auth/otp/sign-in", headers=hexclave_project.headers("client"),
                      json={"code": mail.code}).status_code == 200


def test_config_from_the_ini_file(hexclave):
    current = api(hexclave.project, "GET", "/projects/current", access="client")
    assert current["display_name"] == "Plugin test app"
'''


def plugin_args() -> list[str]:
    """Load the plugin by name unless its entry point is installed (then pytest loads it by itself)."""
    installed = any(ep.value == "emulator.pytest_plugin" for ep in entry_points(group="pytest11"))
    return [] if installed else ["-p", "emulator.pytest_plugin"]


@pytest.fixture
def project_dir(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PYTHONPATH", str(REPO))  # this checkout's emulator package
    (pytester.path / "app").mkdir()
    (pytester.path / "app" / "hexclave.config.py").write_text(CONFIG)
    return pytester


def test_the_fixtures_in_a_project_using_the_plugin(project_dir: pytest.Pytester):
    project_dir.makeini("[pytest]\nhexclave_config = app/hexclave.config.py\n")
    project_dir.makepyfile(test_app=TESTS)
    result = project_dir.runpytest_subprocess(*plugin_args(), "-q", "-p", "no:cacheprovider", timeout=180)
    result.assert_outcomes(passed=7)


def test_settings_from_pyproject_and_a_bad_port(project_dir: pytest.Pytester):
    project_dir.makepyprojecttoml('[tool.pytest.ini_options]\nhexclave_config = "app/hexclave.config.py"\n'
                                  'hexclave_port = "http"\n')
    project_dir.makepyfile(test_one="def test_it(hexclave):\n    pass\n")
    result = project_dir.runpytest_subprocess(*plugin_args(), "-q", timeout=120)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*could not start: hexclave_port must be a port number (0 for a free one), got 'http'"])


def test_a_broken_config_fails_the_fixture_with_its_reason(project_dir: pytest.Pytester):
    (project_dir.path / "broken.config.py").write_text("config = {'auth': {'allowSignUp': 'yes'}}\n")
    project_dir.makepyfile(test_one="def test_it(hexclave):\n    pass\n")
    result = project_dir.runpytest_subprocess(*plugin_args(), "--hexclave-config", "broken.config.py",
                                              timeout=120)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*hexclave-emulator could not start: config error:*auth.allowSignUp*"])
