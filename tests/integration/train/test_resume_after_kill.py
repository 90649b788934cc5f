"""A real interruption: `synthlake train` killed with SIGKILL mid-run, then resumed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from synthlake.train.lora import read_loss_log
from typer.testing import CliRunner

from synthlake.pipeline.cli import app
from synthlake.settings import Settings
from tests.fixtures.training_export import write_export

pytestmark = pytest.mark.slow  # a second process loads torch and the model: about a minute


def test_killed_run_resumes_from_its_checkpoint(tmp_path: Path, train_settings: Settings) -> None:
    lake = train_settings.lake_path
    write_export(lake / "exports" / "training")
    config = tmp_path / "kill.yaml"
    config.write_text(
        "name: kill\nmodel: local:smollm2\ntarget_modules: [q_proj, v_proj]\nr: 4\n"
        "max_steps: 8\nbatch_size: 1\ngrad_accumulation: 1\nmax_seq_length: 96\n"
        "save_steps: 2\nlr: 1.0e-3\nscheduler: linear\nwarmup: 0\n"
    )
    run_dir = lake / "runs" / "killed"
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("SYNTHLAKE_") or k == "SYNTHLAKE_MODEL_CACHE"  # the session's
    }
    cmd = [sys.executable, "-m", "synthlake.pipeline.cli", "train", "--config", str(config)]
    cmd += ["--run-id", "killed", "--lake", str(lake)]
    process = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and process.poll() is None:
            if len(read_loss_log(run_dir)) >= 3:
                break
            time.sleep(0.2)
        assert process.poll() is None, process.stderr.read().decode()[-2000:]
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    logged = [r["step"] for r in read_loss_log(run_dir)]
    assert 3 <= len(logged) < 8
    assert json.loads((run_dir / "run.json").read_text())["status"] == "running"  # no goodbye

    done = CliRunner().invoke(app, ["train", "--resume", "killed", "--lake", str(lake)])
    assert done.exit_code == 0, done.output
    assert "run killed: 8 steps" in done.output
    assert [r["step"] for r in read_loss_log(run_dir)] == list(range(1, 9))
    info = json.loads((run_dir / "run.json").read_text())
    assert info["status"] == "done" and info["steps"] == 8
