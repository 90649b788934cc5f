"""The README's "On a work pool" lines, run as a user runs them.

A real Prefect server (`prefect server start`, its own PREFECT_HOME in a temp dir), a
process work pool, `prefect deploy --all` of the repository's prefect.yaml, a worker, and
one `prefect deployment run` that must complete on the sample. The commands are read from
the README's code block, so a README that documents a broken deployment fails here (it
did: its `SYNTHLAKE_HOME` was refused as a misspelt setting by `prefect deploy` and by the
worker's flow run).

What the test adds to the documented lines, to stay short and offline: a free port, the
server's UI and scheduler off (the cron in prefect.yaml must not start a live crawl during
the test), `--no-prompt`, `news=none` on the run, and the settings in the environment the
commands inherit: a temp lake, the sample profile, the LLM pointed at the scripted
OpenAI-compatible server (answering like a capable model) instead of the 135M local one.
Every process it starts is killed at the end, with its children, whatever happened.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from synthlake.pipeline.artifacts import ARTIFACT_KEY
from synthlake.settings import PROJECT_DIR as REPO
from tests.fixtures.llm_servers import OpenAICompatServer
from tests.fixtures.mongo import free_port
from tests.integration.news_integration.conftest import italian_summary

pytestmark = pytest.mark.slow

SAMPLE_CONFIG = REPO / "data" / "sample" / "synthlake.toml"
PREFECT = str(Path(sys.executable).with_name("prefect"))
START_TIMEOUT_S = 180
COMMAND_TIMEOUT_S = 300
RUN_TIMEOUT_S = 900


def readme_work_pool_lines() -> list[str]:
    """The command lines of the README's "On a work pool" code block, comments dropped."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("**On a work pool**", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block, "the README's 'On a work pool' paragraph has no bash block"
    lines = []
    for raw in block.group(1).splitlines():
        line = raw.split(" #", 1)[0].strip()
        if line and not line.startswith("#"):
            lines.append(line)
    return lines


def split_line(line: str) -> tuple[dict[str, str], list[str]]:
    """(leading VAR=value assignments with $PWD expanded, argv) of one shell line."""
    words = shlex.split(line)
    env: dict[str, str] = {}
    while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", words[0]):
        name, _, value = words.pop(0).partition("=")
        env[name] = value.replace("$PWD", str(REPO))
    return env, words


def capable_model(body: dict[str, Any]) -> str:
    """Answers like a usable model: a score line for the judge, an Italian text for a
    summary, a plain sentence for anything else (translations get quarantined: content)."""
    system = body["messages"][0]["content"] if body["messages"] else ""
    user = [m["content"] for m in body["messages"] if m["role"] == "user"][-1]
    if "<response>" in system or "<response>" in user:
        return "4\nA correct and complete answer."
    if "Titolo:" in user or "Title:" in user:
        return italian_summary(body)
    return "A plain sentence."


def kill_tree(process: subprocess.Popen[Any]) -> None:
    """SIGKILL a process and every process under it (the worker's flow runs too)."""
    import psutil

    try:
        root = psutil.Process(process.pid)
        family = [*root.children(recursive=True), root]
    except psutil.NoSuchProcess:
        family = []
    for member in family:
        try:
            member.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(family, timeout=30)
    process.wait(timeout=30)


@contextmanager
def background(argv: list[str], env: dict[str, str], log: Path) -> Iterator[None]:
    # from the log's folder, not the checkout: the flow runs must find it on their own
    with log.open("wb") as out:
        process = subprocess.Popen(
            argv,
            cwd=log.parent,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield
        finally:
            kill_tree(process)


def wait_healthy(api_url: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{api_url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    pytest.fail(f"the Prefect server did not start:\n{log.read_text(errors='replace')[-3000:]}")


def run(argv: list[str], env: dict[str, str], timeout: int = COMMAND_TIMEOUT_S) -> str:
    done = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{shlex.join(argv)} failed:\n{output[-5000:]}"
    return output


def test_the_documented_work_pool_deployment_completes_a_refresh(tmp_path: Path) -> None:
    lines = readme_work_pool_lines()
    kinds = [split_line(line)[1][:3] for line in lines]
    assert ["prefect", "server", "start"] in kinds
    assert ["prefect", "deploy", "--all"] in kinds
    assert ["prefect", "worker", "start"] in kinds
    assert ["prefect", "deployment", "run"] in kinds

    port = free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    lake = tmp_path / "lake"
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PREFECT_", "SYNTHLAKE_")) or k == "SYNTHLAKE_MODEL_CACHE"
    }
    base |= {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_WORKER_QUERY_SECONDS": "2",
        "PREFECT_CLI_WRAP_LINES": "false",
    }
    with (
        OpenAICompatServer(reply=capable_model) as llm,
        ExitStack() as stack,
    ):
        base |= {
            "SYNTHLAKE_LAKE_ROOT": str(lake),
            "SYNTHLAKE_CONFIG": str(SAMPLE_CONFIG),
            "SYNTHLAKE_LLM": f"openai:test-model@{llm.base_url}",
            "SYNTHLAKE_LLM_MAX_RETRIES": "0",
        }
        api_env = base | {"PREFECT_API_URL": api_url}
        run_output = ""
        for line in lines:
            env, argv = split_line(line)
            assert argv[0] in ("prefect", "export"), f"unexpected README line: {line}"
            if argv[0] == "export":  # PREFECT_API_URL: the test's own server instead
                assert argv[1].startswith("PREFECT_API_URL="), line
                continue
            argv = [PREFECT, *argv[1:]]
            command = argv[1:3]
            if command == ["server", "start"]:
                argv += ["--host", "127.0.0.1", "--port", str(port), "--no-ui", "--no-scheduler"]
                log = tmp_path / "server.log"
                stack.enter_context(background(argv, base | env, log))
                wait_healthy(api_url, log)
            elif command == ["worker", "start"]:
                stack.enter_context(background(argv, api_env | env, tmp_path / "worker.log"))
            elif command == ["deployment", "run"]:
                argv += ["--param", "news=none", "--watch", "--watch-timeout", str(RUN_TIMEOUT_S)]
                try:
                    run_output = run(argv, api_env | env, timeout=RUN_TIMEOUT_S + 60)
                except AssertionError:
                    worker_log = (tmp_path / "worker.log").read_text(errors="replace")
                    raise AssertionError(f"worker log:\n{worker_log[-6000:]}") from None
            else:
                if command == ["deploy", "--all"]:
                    argv.insert(1, "--no-prompt")
                run(argv, api_env | env)

        assert "finished successfully" in run_output, run_output[-3000:]
        [summary_file] = lake.glob("runs/*/summary.json")
        summary = json.loads(summary_file.read_text())
        assert "crawl" not in json.dumps(summary["ingest"])  # news=none reached the flow
        assert summary["tables"]["qa_pairs"] > 0
        assert llm.call_count > 0  # the summaries and the judge went to the scripted model
        assert (lake / "exports" / "training" / "manifest.json").is_file()

        # the run's summary is on the server, as the markdown artifact of that flow run
        found = httpx.post(
            f"{api_url}/artifacts/filter",
            json={"artifacts": {"key": {"any_": [ARTIFACT_KEY]}}},
            timeout=30,
        )
        found.raise_for_status()
        [artifact] = found.json()
        assert artifact["type"] == "markdown"
        assert artifact["data"].startswith(f"### synthlake run {summary['run_id']}\n")
        assert f"| qa_pairs | {summary['tables']['qa_pairs']} |" in artifact["data"]
        flow_run = httpx.get(f"{api_url}/flow_runs/{artifact['flow_run_id']}", timeout=30).json()
        assert flow_run["parameters"]["news"] == "none"
        assert flow_run["state"]["type"] == "COMPLETED"
