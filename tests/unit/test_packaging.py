"""What `pip install .` puts in site-packages: one package, `synthlake`, with the rooms inside.

The rooms keep their top-level folders (ingest/, export/, train/) but must install as
synthlake.ingest, synthlake.export and synthlake.train (pyproject's package-dir, the package
list in setup.py): a top-level `ingest` or `train` in site-packages collides with any other
package of that common name. The wheel is built from this checkout, offline (no build
isolation: the venv's setuptools builds it).
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    command = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"]
    subprocess.run([*command, "-w", str(out), str(ROOT)], check=True, timeout=300)
    (built,) = out.glob("synthlake-*.whl")
    return built


@pytest.fixture(scope="module")
def wheel_names(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()


def test_the_wheel_holds_one_top_level_package(wheel_names: list[str]):
    tops = {name.split("/")[0] for name in wheel_names}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"synthlake"}


def test_the_rooms_and_their_data_are_inside_it(wheel_names: list[str]):
    names = set(wheel_names)
    for module in (
        "synthlake/ingest/news/crawl.py",
        "synthlake/export/training.py",
        "synthlake/train/lora.py",
        "synthlake/pipeline/cli.py",
        "synthlake/train/configs/cpu-smoke.yaml",
        "synthlake/prompts/judge.toml",
    ):
        assert module in names, module


def test_the_console_script_is_the_composition_layer_cli(wheel: Path, wheel_names: list[str]):
    entry_points = next(n for n in wheel_names if n.endswith(".dist-info/entry_points.txt"))
    with zipfile.ZipFile(wheel) as archive:
        text = archive.read(entry_points).decode()
    assert "synthlake = synthlake.pipeline.cli:app" in text
