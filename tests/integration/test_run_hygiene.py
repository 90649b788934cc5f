"""Process hygiene and clear messages of a run (issue 16, section 4).

Real processes, real signals, a real read-only mount, real DuckDB files and a real local
HTTP server: the temporary Prefect server must die with a killed run, a second run on a
lake must name the first, a read-only lake or a damaged warehouse gets one line that says
what to do, doctor must notice a server that never answers, and dbt must not leave its
temporary tables behind.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import httpx
import pytest
from typer.testing import CliRunner

from synthlake.lake import Lake
from synthlake.pipeline.cli import app
from synthlake.settings import load_settings
from tests.fixtures.llm_servers import OpenAICompatServer

runner = CliRunner()
SERVER_MARKER = "prefect.server.api.server:create_app"  # the server's command line


# --- helpers ----------------------------------------------------------------------------


def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None


def alive(pid: int) -> bool:
    """Running (a zombie, dead but not yet reaped by PID 1, counts as gone)."""
    fields = _stat(pid)
    return fields is not None and fields[0] != "Z"


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields is not None and int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def wait_for(predicate, timeout_s: float, step_s: float = 0.2):  # noqa: ANN001
    """Poll until ``predicate()`` is truthy (returned) or the bounded wait is over (None)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step_s)
    return None


def empty_inputs(tmp_path: Path) -> Path:
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    (inputs / "manifest.toml").write_text("# nothing listed\n")
    return inputs


def cli_env() -> dict[str, str]:
    """The environment of a `synthlake` process: no Prefect server configured, so it
    starts its temporary one."""
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    return env


# --- the temporary Prefect server dies with its run ------------------------------------


def test_kill_9_of_a_run_leaves_no_prefect_server(tmp_path: Path) -> None:
    log = tmp_path / "run.log"
    with open(log, "wb") as out:
        run = subprocess.Popen(
            [sys.executable, "-m", "synthlake.pipeline.cli", "run", "--news", "none", "--no-export"]
            + ["--inputs", str(empty_inputs(tmp_path)), "--lake", str(tmp_path / "lake")],
            env=cli_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def server_up() -> int | None:
        for pid in children(run.pid):
            args = cmdline(pid).split()
            if SERVER_MARKER in args and "--port" in args:
                port = args[args.index("--port") + 1]
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1).is_success:
                        return pid
                except httpx.HTTPError:
                    pass
        return None

    server = None
    try:
        server = wait_for(server_up, timeout_s=240, step_s=0.5)
        assert server, f"the run never started its server:\n{log.read_text()[-3000:]}"
        os.kill(run.pid, signal.SIGKILL)
        run.wait(timeout=30)
        gone = wait_for(lambda: not alive(server), timeout_s=30)
        assert gone, f"the temporary Prefect server (PID {server}) outlived its killed run"
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
        if server and alive(server):  # do not leave one behind on a failure
            os.kill(server, signal.SIGKILL)


def test_a_server_left_by_a_dead_run_is_stopped_at_the_next_start(tmp_path: Path) -> None:
    """A server that outlived its run (a platform without a parent-death signal) is found
    through the lake's PID file and stopped; a PID that now belongs to a live run, or to
    another program, is left alone."""
    from synthlake.pipeline.prefect_server import PID_FILE, reap_stale_server

    lake = tmp_path / "lake"
    lake.mkdir()

    def start_ticks(pid: int) -> int:
        return int(_stat(pid)[19])

    # a stand-in with the server's command line, detached as the real one is
    stray = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(300)", SERVER_MARKER],
        start_new_session=True,
    )
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    dead_owner = subprocess.Popen([sys.executable, "-c", "pass"])
    dead_owner.wait()
    try:
        record = {"pid": stray.pid, "start_ticks": start_ticks(stray.pid)}
        # the run that started it is alive (this process): not stale
        owner = {"owner": os.getpid(), "owner_start_ticks": start_ticks(os.getpid())}
        (lake / PID_FILE).write_text(json.dumps(record | owner))
        assert reap_stale_server(lake) is None
        assert alive(stray.pid)

        # its run is gone: stopped, and the PID file removed
        owner = {"owner": dead_owner.pid, "owner_start_ticks": 1}
        (lake / PID_FILE).write_text(json.dumps(record | owner))
        assert reap_stale_server(lake) == stray.pid
        assert stray.wait(timeout=10) == -signal.SIGKILL
        assert not (lake / PID_FILE).exists()

        # a recorded PID that is another program now: untouched
        record = {"pid": other.pid, "start_ticks": start_ticks(other.pid)}
        (lake / PID_FILE).write_text(json.dumps(record | owner))
        assert reap_stale_server(lake) is None
        assert alive(other.pid)
    finally:
        for process in (stray, other):
            if process.poll() is None:
                process.kill()
                process.wait()


# --- one run per lake ------------------------------------------------------------------

HOLD_LOCK = """
import sys, time
from pathlib import Path
from synthlake.pipeline.run_lock import run_lock
with run_lock(Path(sys.argv[1])):
    print("locked", flush=True)
    time.sleep(300)
"""


def test_a_second_run_on_a_lake_names_the_first_and_a_dead_one_does_not_block(
    tmp_path: Path,
) -> None:
    lake = tmp_path / "lake"
    Lake(lake).ensure()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(lake)], stdout=subprocess.PIPE, env=cli_env()
    )
    try:
        assert holder.stdout.readline() == b"locked\n"
        for command in (["run", "--news", "none"], ["build"]):
            result = runner.invoke(app, [*command, "--lake", str(lake)])
            assert result.exit_code == 1, result.output
            assert "another synthlake run is using this lake" in result.output
            assert f"PID {holder.pid}, started 20" in result.output
            assert "Traceback" not in result.output
    finally:
        holder.kill()  # SIGKILL: the lock is never released by the holder itself
        holder.wait()
    # the dead holder's lock file is still there, with its details, and does not block
    assert str(holder.pid) in (lake / "run.lock").read_text()
    from synthlake.pipeline.run_lock import run_lock

    with run_lock(lake) as path:
        assert json.loads(path.read_text())["pid"] == os.getpid()


# --- a read-only lake ------------------------------------------------------------------


@pytest.fixture
def read_only_lake(tmp_path: Path) -> Iterator[Path]:
    """A lake on a read-only bind mount: the kernel refuses writes with EROFS, even to
    root (permission bits would not stop root)."""
    lake = Lake(tmp_path / "lake").ensure().root
    try:
        subprocess.run(["mount", "--bind", lake, lake], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"a read-only bind mount needs mount privileges: {exc}")
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", lake], check=True, capture_output=True)
        with pytest.raises(OSError, match="Read-only file system"):
            (lake / "probe").write_text("x")
        yield lake
    finally:
        subprocess.run(["umount", lake], check=True)


@pytest.mark.parametrize(
    ("command", "where"),
    [
        (["ingest", "news", "--from", "{crawl}"], "raw/news"),
        (["build"], "run.lock"),
        (["run", "--news", "none"], "run.lock"),
    ],
)
def test_a_read_only_lake_is_one_line_naming_the_path(
    read_only_lake: Path, tmp_path: Path, command: list[str], where: str
) -> None:
    crawl = tmp_path / "crawl.jsonl"
    article = {"url": "https://www.open.online/2024/01/01/x/", "title": "X", "content": "T."}
    crawl.write_text(json.dumps(article) + "\n")
    args = [arg.format(crawl=crawl) for arg in command]
    result = runner.invoke(app, [*args, "--lake", str(read_only_lake)])
    assert result.exit_code == 1
    assert not isinstance(result.exception, OSError), result.exception
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.output
    assert "read-only file system" in errors[0]
    assert str(read_only_lake / where) in errors[0]


# --- a damaged warehouse ---------------------------------------------------------------


def damage(path: Path, *, header: bool) -> None:
    """Overwrite DuckDB's header blocks (checksummed: 'Corrupt database file'), or the
    whole file (then it is not a DuckDB file at all)."""
    data = bytearray(path.read_bytes())
    if header:
        data[4096:16384] = b"\xab" * (16384 - 4096)
    else:
        data[:] = b"not a database " * 100
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("header", [True, False])
def test_a_corrupt_warehouse_says_how_to_rebuild_it(tmp_path: Path, header: bool) -> None:
    lake = Lake(tmp_path / "lake").ensure()
    build = ["build", "--select", "stg_hf__instructions", "--lake", str(lake.root)]
    assert runner.invoke(app, build).exit_code == 0
    damage(lake.warehouse, header=header)

    at = ["--lake", str(lake.root)]
    commands = [build, ["run", "--news", "none", *at], ["sql", "select 1", *at]]
    commands += [["export", "training", *at], ["report", *at]]
    for command in commands:
        result = runner.invoke(app, command)
        assert result.exit_code == 1
        assert not isinstance(result.exception, duckdb.Error), result.exception
        errors = [line for line in result.output.splitlines() if line.startswith("error:")]
        assert len(errors) == 1, result.output
        assert str(lake.warehouse) in errors[0]
        assert "lake/raw/" in errors[0] and "synthlake build --full-refresh" in errors[0]

    # what the message says works: move it aside, rebuild from raw/
    lake.warehouse.rename(lake.warehouse.with_name("warehouse.duckdb.corrupt"))
    result = runner.invoke(app, [*build, "--full-refresh"])
    assert result.exit_code == 0, result.output
    with duckdb.connect(str(lake.warehouse), read_only=True) as con:
        assert con.execute("select count(*) from stg_hf__instructions").fetchone() == (0,)


# --- doctor ----------------------------------------------------------------------------


def test_doctor_notices_a_server_that_lists_models_but_never_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from synthlake.pipeline.doctor import run_checks

    monkeypatch.setenv("SYNTHLAKE_DOCTOR_TIMEOUT_S", "1")
    with OpenAICompatServer() as server:
        monkeypatch.setenv("SYNTHLAKE_LLM", f"openai:test-model@{server.base_url}")
        settings = load_settings(lake_root=tmp_path / "lake")

        checks = [c for c in run_checks(settings) if c.stage.startswith("llm")]
        assert len(checks) == 3 and all(c.ok for c in checks), checks
        assert all("generates" in c.detail for c in checks)

        server.hang_after(0)  # accepts and reads every generation, answers none
        checks = [c for c in run_checks(settings) if c.stage.startswith("llm")]
        assert not any(c.ok for c in checks), checks
        assert all("did not answer a 1-token generation within 1 s" in c.detail for c in checks)
        assert server.call_count == 3 + 3  # the probes reached the server


# --- dbt's temporary tables ------------------------------------------------------------


def test_incremental_builds_leave_no_dbt_tmp_tables(tmp_path: Path) -> None:
    from synthlake.pipeline.dbt_runner import run_dbt

    settings = load_settings(lake_root=tmp_path / "lake")
    lake = Lake.from_settings(settings).ensure()
    for _ in range(3):  # the first creates the incremental model, the next two add to it
        run_dbt(["run", "--select", "+int_news_article_embeddings"], settings)
    with duckdb.connect(str(lake.warehouse), read_only=True) as con:
        tables = [
            row[0] for row in con.execute("select table_name from duckdb_tables()").fetchall()
        ]
    assert "int_news_article_embeddings" in tables
    assert [t for t in tables if "__dbt_tmp" in t] == []


# --- the server's shutdown noise -------------------------------------------------------

MANY_TASKS = """
import sys
from pathlib import Path
from prefect import flow, task
from synthlake.pipeline.prefect_server import prefect_api

@task
def step(i):
    return i

@flow
def many(fail):
    total = sum(step(i) for i in range(400))  # keeps the server's event recorder busy
    if fail:
        raise RuntimeError("the flow failed on purpose")
    return total

with prefect_api(Path(sys.argv[1])):
    print("result", many(sys.argv[2] == "fail"), flush=True)
"""


@pytest.mark.slow
def test_the_servers_shutdown_tracebacks_show_only_when_the_run_failed(tmp_path: Path) -> None:
    """A busy temporary server stopped at the end of a run prints CancelledError
    tracebacks from its own services (about 4 after a sample run): noise after a run that
    succeeded, kept after one that failed."""

    def flow_run(outcome: str) -> subprocess.CompletedProcess[str]:
        lake = tmp_path / outcome
        return subprocess.run(
            [sys.executable, "-c", MANY_TASKS, str(lake), outcome],
            env=cli_env(),
            capture_output=True,
            text=True,
            timeout=600,
        )

    ok = flow_run("succeed")
    assert ok.returncode == 0, ok.stderr[-3000:]
    assert "result 79800" in ok.stdout
    assert "Traceback" not in ok.stderr and "CancelledError" not in ok.stderr
    assert "temporary Prefect server output" not in ok.stderr
    assert (tmp_path / "succeed" / "prefect-server.log").is_file()  # kept for a look

    failed = flow_run("fail")
    assert failed.returncode == 1
    assert "the flow failed on purpose" in failed.stderr
    server_output = (tmp_path / "fail" / "prefect-server.log").read_text().strip()
    if server_output:  # what the server printed is shown, tracebacks included
        assert "temporary Prefect server output" in failed.stderr
        assert server_output.splitlines()[-1] in failed.stderr
