"""Config files that exit, raise, hang or print never stop or stall the emulator (issue 17); the watcher watches
the config file alone."""
from __future__ import annotations

import threading
import time

import httpx
import pytest

from support import back_to_good_config, sign_up_enabled, start_emulator, wait_for

GOOD = 'config = {"auth": {"allowSignUp": True, "password": {"allowSignIn": True}}}\n'
SIGN_UP_OFF = GOOD.replace('"allowSignUp": True', '"allowSignUp": False')


@pytest.fixture(scope="module")
def shared_emu(tmp_path_factory):
    path = tmp_path_factory.mktemp("faults") / "hexclave.config.py"
    path.write_text(SIGN_UP_OFF)
    emu = start_emulator(config=path, env={"HEXCLAVE_CONFIG_LOAD_TIMEOUT": "2"})
    yield emu, path
    emu.stop()


@pytest.fixture
def config_emu(shared_emu):
    """The module's emulator, its config file back at a known good content (sign-up off)."""
    return back_to_good_config(shared_emu, SIGN_UP_OFF)


@pytest.mark.parametrize("broken, expected", [
    ("import sys\nsys.exit(3)\n", ":2: the file called sys.exit(3)"),
    ("import sys\n\nsys.exit()\n", ":3: the file called sys.exit(None)"),
    ("raise SystemExit('bye')\n", ":1: the file called sys.exit('bye')"),
    ("import os\nos._exit(0)\n", "the file ended the process running it (exit status 0) before defining `config`"),
    ("raise KeyboardInterrupt\n", ":1: KeyboardInterrupt"),
    ("def f():\n    return 1 / 0\nconfig = f()\n", ":2: ZeroDivisionError: division by zero"),
    ("config = {'auth': {'allowSignUp': object()}}\n", "the config holds a object, which is not a JSON value"),
])
def test_failing_config_files_keep_the_last_good_config(config_emu, broken, expected):
    emu, path = config_emu
    path.write_text(broken)
    assert sign_up_enabled(emu) is False  # the request path: answered with the last good config, not a 500
    assert wait_for(lambda: any(expected in line and str(path) in line for line in emu.output)), "".join(emu.output)
    assert emu.proc.poll() is None
    path.write_text(GOOD)
    assert sign_up_enabled(emu) is True


def test_a_config_that_runs_too_long_is_abandoned_and_does_not_stall_other_routes(config_emu):
    emu, path = config_emu
    path.write_text("while True:\n    pass\n")
    answered = {}

    def project_request():  # waits for the load (at most the time limit), then has the last good config
        answered["sign_up"] = sign_up_enabled(emu)
    started = time.monotonic()
    waiting = threading.Thread(target=project_request)
    waiting.start()
    time.sleep(0.3)
    # meanwhile the event loop serves everything else
    with httpx.Client(base_url=emu.api, timeout=5) as http:
        assert http.get("/emulator/clock").status_code == 200
        assert time.monotonic() - started < 1.5
    waiting.join(10)
    assert answered == {"sign_up": False}
    assert wait_for(lambda: any("ran for more than 2 s" in line for line in emu.output)), "".join(emu.output)
    assert emu.proc.poll() is None
    path.write_text(GOOD)
    assert sign_up_enabled(emu) is True


def test_output_of_a_config_file_goes_to_the_log(config_emu):
    emu, path = config_emu
    path.write_text("import os\nprint('hello from the config')\nos.write(1, b'raw write\\n')\n" + GOOD)
    assert sign_up_enabled(emu) is True
    assert wait_for(lambda: any("hello from the config" in line for line in emu.output))


@pytest.mark.parametrize("content, expected", [
    ("import sys\nsys.exit(1)\n", "the file called sys.exit(1)"),
    ("import time\ntime.sleep(30)\n", "ran for more than 2 s"),
])
def test_a_failing_config_at_start_is_a_clear_error(tmp_path, content, expected):
    path = tmp_path / "hexclave.config.py"
    path.write_text(content)
    with pytest.raises(RuntimeError) as info:
        start_emulator(config=path, env={"HEXCLAVE_CONFIG_LOAD_TIMEOUT": "2"}, timeout=20)
    assert expected in str(info.value) and str(path) in str(info.value)


def test_watcher_ignores_other_files_in_the_config_folder(tmp_path):
    """A log written next to the config (`start 2> emulator.log`) must not trigger reloads or log lines."""
    path = tmp_path / "hexclave.config.py"
    path.write_text(GOOD)
    emu = start_emulator(config=path)
    try:
        time.sleep(0.5)
        before = len(emu.output)
        log = tmp_path / "emulator.log"
        for i in range(40):
            with log.open("a") as f:
                f.write("".join(emu.output[-3:]) + f"line {i}\n")
            time.sleep(0.02)
        time.sleep(1)
        assert emu.output[before:] == []
        # the config file itself is still watched, also after a save that renames a new file over it
        replacement = tmp_path / "new.tmp"
        replacement.write_text("config = {\n")
        replacement.replace(path)
        assert wait_for(lambda: any("config error" in line and "syntax error" in line for line in emu.output))
        count = sum("config error" in line for line in emu.output)
        path.write_text("config = {'auth': \n")  # an in-place save after the rename is seen too
        assert wait_for(lambda: sum("config error" in line for line in emu.output) > count)
    finally:
        emu.stop()
