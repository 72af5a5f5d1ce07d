"""The emulator served from a background thread of this process: `hexclave-emulator exec` and the pytest plugin
run it this way, so they know its ports and keys without reading a banner."""
from __future__ import annotations

import asyncio
import threading
from concurrent.futures import Future

from emulator.settings import Settings


class EmbeddedEmulator:
    def __init__(self, settings: Settings, *, config_load: Future | None = None) -> None:
        self.settings = settings
        self._config_load = config_load  # the config file already loading (emulator.launch.load_config_early)
        self.environment: dict[str, str] = {}  # the variables `exec` injects, once started
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="hexclave-emulator", daemon=True)

    @property
    def url(self) -> str:
        return self.settings.base_url

    def start(self, timeout: float = 60) -> "EmbeddedEmulator":
        """Start and wait until every port answers; start-up failures are raised here (SystemExit with the reason)."""
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError(f"hexclave-emulator did not start within {timeout:g} s")
        if self._error is not None:
            raise self._error
        return self

    def stop(self, timeout: float = 30) -> None:
        if self._loop is not None and self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout)
        if self._error is not None and self._ready.is_set() and not isinstance(self._error, SystemExit):
            raise self._error

    def _run(self) -> None:
        from emulator.server import run_loop, serve

        async def main() -> None:
            self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
            await serve(self.settings, ready=self._on_ready, stop=self._stop, config_load=self._config_load)

        try:
            run_loop(main())
        except BaseException as exc:  # SystemExit with a one-line reason, or a bug: reported by start()/stop()
            self._error = exc
        finally:
            self._ready.set()

    def _on_ready(self, state) -> None:
        self.environment = dict(state.environment)
        self._ready.set()
