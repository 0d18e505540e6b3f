"""The benchmark's servers: the shared harness (`roster.testing.server`, as the tests use it)
with one worker, pinned to the server's core, its log kept in the run's directory."""

from __future__ import annotations

import sys
from pathlib import Path
from types import TracebackType

from roster.testing import server as harness

REPOSITORY = Path(__file__).resolve().parent.parent
BenchError = harness.ServerFailed  # the benchmark cannot go on


class Server:
    """One hypercorn worker serving `app`, started by `with` and stopped at its end."""

    def __init__(
        self, app: str, *, worker_class: str, env: dict[str, str], log_path: Path, prefix: list[str]
    ) -> None:
        self.app = app
        self.port = harness.free_port()
        self.base_url = f"http://{harness.HOST}:{self.port}"
        command = harness.hypercorn_command(self.port, app=app, worker_class=worker_class)
        self.command = [*prefix, *command]
        self.env = env
        self.log_path = log_path
        self._running: harness.Server | None = None

    @property
    def pid(self) -> int:
        return self._server("reading its pid").pid

    def __enter__(self) -> Server:
        self._running = harness.start(
            self.command, self.port, self.log_path, env=self.env, cwd=REPOSITORY
        )
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc is not None:
            self.report_failure()
        if self._running is not None:
            harness.stop(self._running)
            self._running = None

    def check_alive(self, during: str) -> None:
        self._server(during).check_alive(during)

    def report_failure(self) -> None:
        """When something went wrong while it served: was it still alive, what did it log."""
        state = "gone" if self._running is None else self._running.process.poll()
        status = "still running" if state is None else f"exited ({state})"
        tail = "" if self._running is None else self._running.log_tail()
        print(f"[bench] {self.app} on {self.base_url}: {status}; log {self.log_path} ends:\n{tail}",
              file=sys.stderr, flush=True)  # fmt: skip

    def _server(self, during: str) -> harness.Server:
        if self._running is None:
            raise BenchError(f"{self.app} is not running ({during})")
        return self._running
