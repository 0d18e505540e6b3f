"""Start and stop a hypercorn server (one worker) on 127.0.0.1, and check it answers."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import httpx

HOST = "127.0.0.1"
BACKLOG = 2048  # as `roster serve` (service/cli.py LISTEN_BACKLOG)
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0
REPOSITORY = Path(__file__).resolve().parent.parent


class BenchError(RuntimeError):
    """The benchmark cannot go on (a server did not start, a request was refused...)."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def hypercorn_command(app: str, port: int, worker_class: str) -> list[str]:
    """The same command for Roster and both floors: one worker, no access log."""
    return [
        sys.executable,
        "-m",
        "hypercorn",
        app,
        "--bind",
        f"{HOST}:{port}",
        "--workers",
        "1",
        "--worker-class",
        worker_class,
        "--backlog",
        str(BACKLOG),
    ]


class Server:
    """A hypercorn process in its own session (so its whole tree can be stopped)."""

    def __init__(
        self,
        app: str,
        *,
        worker_class: str,
        env: dict[str, str],
        log_path: Path,
        prefix: list[str],
    ) -> None:
        self.app = app
        self.port = free_port()
        self.base_url = f"http://{HOST}:{self.port}"
        self.command = [*prefix, *hypercorn_command(app, self.port, worker_class)]
        self.env = env
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        if self.process is None:
            raise BenchError(f"{self.app} is not running")
        return self.process.pid

    def __enter__(self) -> Server:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc is not None:
            self.report_failure()
        self.stop()

    def check_alive(self, during: str) -> None:
        """Raise if the server is gone: figures measured against a dead server mean nothing."""
        code = None if self.process is None else self.process.poll()
        if self.process is None or code is not None:
            hint = (
                " (hypercorn exits 0 when sent SIGTERM or SIGINT: did another process stop it?)"
                if code == 0
                else ""
            )
            raise BenchError(f"{self.app} exited with {code} during {during}{hint}")

    def report_failure(self) -> None:
        """When something went wrong while it served: was it still alive, what did it log."""
        process = self.process
        state = "gone" if process is None else process.poll()
        status = "still running" if state is None else f"exited ({state})"
        print(
            f"[bench] {self.app} on {self.base_url}: {status}; log {self.log_path} ends:\n"
            f"{self.log_tail()}",
            file=sys.stderr,
            flush=True,
        )

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command,
                cwd=REPOSITORY,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        with httpx.Client(base_url=self.base_url, timeout=2.0, trust_env=False) as client:
            while time.monotonic() < deadline:
                if self.process is not None and self.process.poll() is not None:
                    raise BenchError(f"{self.app} exited early:\n{self.log_tail()}")
                with contextlib.suppress(httpx.HTTPError):
                    if client.get("/health").status_code == 200:
                        return
                time.sleep(0.1)
        raise BenchError(f"{self.app} did not answer /health in {READY_TIMEOUT:.0f} s")

    def stop(self) -> None:
        """SIGTERM (hypercorn shuts down gracefully), bounded wait, then SIGKILL the group."""
        process, self.process = self.process, None
        if process is None:
            return
        group = process.pid  # start_new_session: the group id is the leader's pid
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                _kill_group(group)
                process.wait(timeout=STOP_TIMEOUT)
        # A worker left behind by its parent is still in the group: end it too.
        deadline = time.monotonic() + STOP_TIMEOUT
        while _group_alive(group) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _group_alive(group):
            _kill_group(group)

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def _group_alive(group: int) -> bool:
    """Whether a live (not zombie) process is still in the process group."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        state, _parent, pgrp = stat[stat.rfind(")") + 2 :].split()[:3]
        if int(pgrp) == group and state not in {"Z", "X"}:
            return True
    return False


def _kill_group(group: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGKILL)
