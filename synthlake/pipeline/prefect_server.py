"""The temporary Prefect API server of a command-line run, tied to the life of the run.

Without ``PREFECT_API_URL`` a Prefect flow starts a temporary ("ephemeral") server: a
uvicorn subprocess of about 280 MB (``prefect.server.api.server.SubprocessASGIServer``).
Prefect stops it from an ``atexit`` hook, which never runs when the run is killed
(``kill -9``, the OOM killer, a closed CI job): the server then lives on under PID 1, one
per killed run. Prefect's ``Popen`` call takes no hook (no ``preexec_fn``, no process
group), so rather than patching its private ``_run_uvicorn_command``, synthlake starts the
same server itself, the documented way of giving Prefect a server: run one and point
``PREFECT_API_URL`` at it. Then Prefect starts none of its own, and this module owns the
process:

- it runs in its own session (process group), so a Ctrl-C in the terminal reaches the run,
  which stops the server in order, and stopping it stops all of it (``killpg``);
- a parent-death signal (Linux ``prctl(PR_SET_PDEATHSIG, SIGKILL)``, set in the child
  before ``exec``) kills it when the run's process dies, however it dies;
- its PID is written to ``<lake>/prefect-server.pid``: the next run on the lake stops a
  server an earlier run left behind (a platform without ``prctl``, a run killed during the
  server's start);
- its output goes to ``<lake>/prefect-server.log``. A server stopped at the end of a run
  prints a few ``CancelledError`` tracebacks from its own background services; they are
  noise when the run succeeded and are shown only when it failed.

The command and environment are those of ``SubprocessASGIServer._run_uvicorn_command``
(Prefect 3.9): ``uvicorn --factory prefect.server.api.server:create_app`` with the UI off
and ``PREFECT__SERVER_EPHEMERAL=1``, so the server behaves as Prefect's own temporary one.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

from synthlake.errors import SynthlakeError

log = logging.getLogger(__name__)

PID_FILE = "prefect-server.pid"
LOG_FILE = "prefect-server.log"
# What identifies the server's command line (a PID file may outlive its process, and the
# PID be reused by something else: that one is never touched).
MARKER = "prefect.server.api.server:create_app"
PR_SET_PDEATHSIG = 1
PORT_IN_USE_EXIT = 3  # uvicorn's exit code when the port is taken


@dataclass(slots=True)
class TemporaryServer:
    """A running temporary server: ``api_url`` for ``PREFECT_API_URL``, ``log_path``."""

    process: subprocess.Popen[bytes]
    api_url: str
    log_path: Path
    pid_path: Path

    def output(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""


def _die_with_parent(parent_pid: int) -> Callable[[], None] | None:
    """A ``preexec_fn``: SIGKILL this child when the process that started it dies.

    The signal follows the *thread* that forked the child, so the server must be started
    from the main thread (the command line does). Set before ``exec``, it survives it.
    If the parent died between the fork and here, die at once. ``prctl`` is looked up
    here, in the parent: the child only makes the call (no loading between fork and exec).
    None where there is no ``prctl`` (not Linux): the PID file is the fallback there.
    """
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent_pid:
            os.kill(os.getpid(), signal.SIGKILL)

    return preexec


def _free_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_ticks(pid: int) -> int | None:
    """The process's start time (clock ticks since boot), or None when it is gone.

    With the PID it identifies one process: a PID reused later has another start time.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()
    if fields[0] == "Z":  # a zombie is dead, only not yet reaped
        return None
    return int(fields[19])


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def reap_stale_server(lake_root: Path) -> int | None:
    """Stop the temporary server an earlier run on this lake left running; its PID or None.

    Only a server whose run is gone, and that is still the process recorded (same PID and
    start time) and still a Prefect server, is stopped. Called under the lake's run lock.
    """
    pid_path = lake_root / PID_FILE
    try:
        recorded = json.loads(pid_path.read_text())
        pid, ticks = int(recorded["pid"]), recorded.get("start_ticks")
        owner, owner_ticks = int(recorded["owner"]), recorded.get("owner_start_ticks")
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if owner_ticks is not None and _start_ticks(owner) == owner_ticks:
        return None  # the run that started it is alive: not stale
    stale = None
    if _start_ticks(pid) is not None and _start_ticks(pid) == ticks and MARKER in _cmdline(pid):
        log.warning(
            "stopping the temporary Prefect server (PID %d) left running by an earlier run on %s",
            pid,
            lake_root,
        )
        _kill_group(pid, signal.SIGKILL)
        stale = pid
    pid_path.unlink(missing_ok=True)
    return stale


def _kill_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)  # the server leads its own process group
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def _uvicorn_command(port: int) -> list[str]:
    import prefect

    return [
        sys.executable,
        "-m",
        "uvicorn",
        "--app-dir",
        str(prefect.__module_path__.parent),
        "--factory",
        MARKER,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "error",
        "--lifespan",
        "on",
    ]


def _server_env() -> dict[str, str]:
    from prefect.settings import get_current_settings

    return {
        **os.environ,
        "PREFECT_UI_ENABLED": "0",
        "PREFECT__SERVER_EPHEMERAL": "1",
        "PREFECT__SERVER_FINAL": "1",
        **get_current_settings().to_environment_variables(exclude_unset=True),
    }


def start_server(lake_root: Path, *, timeout_s: float | None = None) -> TemporaryServer:
    """Start the server (its own process group, dies with this process); wait until it
    answers ``/api/health``."""
    import httpx
    from prefect.settings import PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS

    timeout_s = timeout_s or PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS.value()
    lake_root.mkdir(parents=True, exist_ok=True)
    log_path, pid_path = lake_root / LOG_FILE, lake_root / PID_FILE
    deadline = time.monotonic() + timeout_s
    with open(log_path, "wb") as log_file:
        while True:
            port = _free_port()
            process = subprocess.Popen(
                _uvicorn_command(port),
                env=_server_env(),
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent(os.getpid()),
            )
            record = {
                "pid": process.pid,
                "start_ticks": _start_ticks(process.pid),
                "owner": os.getpid(),
                "owner_start_ticks": _start_ticks(os.getpid()),
            }
            pid_path.write_text(json.dumps(record))
            server = TemporaryServer(process, f"http://127.0.0.1:{port}/api", log_path, pid_path)
            while time.monotonic() < deadline:
                code = process.poll()
                if code is not None:
                    break
                try:
                    if httpx.get(f"{server.api_url}/health", timeout=2).status_code == 200:
                        log.info("temporary Prefect server on %s (PID %d)", port, process.pid)
                        return server
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)
            if process.poll() == PORT_IN_USE_EXIT and time.monotonic() < deadline:
                continue  # the port was taken between the probe and the bind: another
            stop_server(server)
            what = (
                f"exited with code {process.returncode}"
                if process.returncode is not None
                else f"did not answer within {timeout_s:g} s"
            )
            tail = server.output()[-2000:]
            raise SynthlakeError(
                f"the temporary Prefect server {what} "
                "(PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS; or set PREFECT_API_URL to "
                f"a running Prefect server). Its output ({log_path}):\n{tail}"
            )


def stop_server(server: TemporaryServer) -> None:
    """Stop the server and its process group: SIGTERM, then SIGKILL after 5 s."""
    process = server.process
    if process.poll() is None:
        _kill_group(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            _kill_group(process.pid, signal.SIGKILL)
            process.wait()
    server.pid_path.unlink(missing_ok=True)


def _drain_prefect_workers() -> None:
    """Send the logs and events still queued before the server goes (what Prefect's own
    test harness does before it stops its server)."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for drain in (APILogWorker.drain_all, EventsWorker.drain_all):
        try:
            drain(timeout=10, at_exit=False)
        except Exception as exc:  # noqa: BLE001 - a failed drain only loses log lines
            log.debug("could not drain %s: %s", drain, exc)


@contextmanager
def prefect_api(lake_root: Path) -> Iterator[str | None]:
    """The Prefect API for the flows run inside: ``PREFECT_API_URL`` when it is set,
    otherwise a temporary server owned by this process (see the module docstring).

    Hold the lake's run lock around it. The server's output is printed to stderr when
    the body raises, and kept quiet otherwise.
    """
    from prefect.settings import PREFECT_API_URL, temporary_settings

    configured = PREFECT_API_URL.value()
    if configured:
        yield configured
        return
    reap_stale_server(lake_root)
    server = start_server(lake_root)
    previous = os.environ.get("PREFECT_API_URL")
    os.environ["PREFECT_API_URL"] = server.api_url
    failed = True
    try:
        with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
            try:
                yield server.api_url
                failed = False
            finally:
                _drain_prefect_workers()
    finally:
        if previous is None:
            os.environ.pop("PREFECT_API_URL", None)
        else:
            os.environ["PREFECT_API_URL"] = previous
        stop_server(server)
        output = server.output().strip()
        if failed and output:
            print(f"temporary Prefect server output ({server.log_path}):", file=sys.stderr)
            print(output, file=sys.stderr)
