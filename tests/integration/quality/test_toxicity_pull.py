"""`synthlake models pull detoxify` against a local stand-in of GitHub releases and the hub.

The stand-in serves a tiny checkpoint in Detoxify's ``multilingual`` format (XLM-RoBERTa,
built by the test) and its base model's ``config.json``/``tokenizer.json``; the pull goes
through the real httpx download, the real ``hf_hub_download`` and the real Detoxify load.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from synthlake.quality import detoxify_pull
from synthlake.quality.detoxify_pull import PullError, Release, pull_detoxify
from synthlake.quality.toxicity import ToxicityUnavailable, load_detoxify, resolve_source
from synthlake.settings import load_settings
from tests.integration.quality.model_download_server import ModelDownloadServer
from tests.unit.quality.tiny_detoxify import build_tiny_multilingual

BASE_REPO = "own/xlm-roberta-tiny"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    checkpoint, base = build_tiny_multilingual(tmp_path_factory.mktemp("tiny"))
    other, _ = build_tiny_multilingual(tmp_path_factory.mktemp("tiny-other"), bias=-5.0)
    return {
        "checkpoint": checkpoint.read_bytes(),
        "other_checkpoint": other.read_bytes(),
        "config.json": (base / "config.json").read_bytes(),
        "tokenizer.json": (base / "tokenizer.json").read_bytes(),
    }


@pytest.fixture
def server(tiny, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from huggingface_hub import constants

    with ModelDownloadServer() as srv:
        srv.repos[BASE_REPO] = {n: tiny[n] for n in ("config.json", "tokenizer.json")}
        monkeypatch.setenv("SYNTHLAKE_MODELS_BASE_URL", f"{srv.url}/releases")
        monkeypatch.setenv("HF_ENDPOINT", srv.url)
        monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
        # conftest sets HF_HUB_OFFLINE=1 for every test; huggingface_hub reads it at import
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        yield srv


@pytest.fixture
def settings(server: ModelDownloadServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A lake and a model cache of this test alone (a pull must not leak into others)."""
    monkeypatch.setenv("SYNTHLAKE_MODEL_CACHE", str(tmp_path / "model-cache"))
    return load_settings(lake_root=tmp_path / "lake")


@pytest.fixture
def release(tiny, server: ModelDownloadServer, monkeypatch: pytest.MonkeyPatch) -> Release:
    """The tiny checkpoint published as the `multilingual` release, its name carrying its
    sha256 prefix as Detoxify's real asset names do."""
    name = f"v9/tiny_multilingual-{sha256(tiny['checkpoint'])[:8]}.ckpt"
    server.assets[name] = tiny["checkpoint"]
    published = Release("multilingual", name, BASE_REPO)
    monkeypatch.setitem(detoxify_pull.RELEASES, "multilingual", published)
    return published


def cache_contents(settings) -> list[str]:
    root = Path(settings.model_cache)
    files = [p for p in root.rglob("*") if p.is_file() and p.suffix != ".lock"]
    return sorted(str(p.relative_to(root)) for p in files)


def test_pull_places_verified_weights_that_toxicity_then_uses(settings, release, tiny) -> None:
    from synthlake.pipeline.cli import app

    with pytest.raises(ToxicityUnavailable, match="none pulled"):
        resolve_source(settings)

    done = CliRunner().invoke(app, ["models", "pull", "detoxify"])

    assert done.exit_code == 0, done.output
    assert f"sha256 {sha256(tiny['checkpoint'])}" in done.output
    assert f"sha256 {sha256(tiny['tokenizer.json'])}" in done.output
    source = resolve_source(settings)
    folder = Path(settings.model_cache) / "detoxify" / "multilingual"
    assert source.checkpoint == folder / release.checkpoint_name
    assert source.config_dir == folder / "base"
    assert (folder / "base" / "config.json").read_bytes() == tiny["config.json"]
    pulled = json.loads((folder / "pulled.json").read_text())
    assert pulled["sha256"][release.checkpoint] == sha256(tiny["checkpoint"])
    # nothing else left behind: no temporary folder, no hub cache copy
    assert [p for p in cache_contents(settings) if ".tmp" in p or ".hub" in p] == []
    scores = load_detoxify(source).predict(["hello world", "you stupid idiot"])
    assert sorted(scores) == sorted(
        ["toxicity", "severe_toxicity", "obscene", "identity_attack", "insult", "threat",
         "sexual_explicit"]
    )  # fmt: skip
    assert all(len(values) == 2 for values in scores.values())


def test_a_wrong_sha256_is_refused_and_nothing_is_placed(settings, release, tiny) -> None:
    pinned = Release("multilingual", release.checkpoint, BASE_REPO, checkpoint_sha256="0" * 64)
    with pytest.raises(PullError, match="differs from 0{64} \\(pinned in synthlake\\)"):
        pull_detoxify(settings, release=pinned)

    assert cache_contents(settings) == []
    with pytest.raises(ToxicityUnavailable):
        resolve_source(settings)


def test_the_real_release_name_checks_the_hash_it_carries(settings, server, tiny) -> None:
    """Detoxify's real asset name carries 0b549669: other bytes under it are refused."""
    from synthlake.pipeline.cli import app

    server.assets["v0.4-alpha/multilingual_debiased-0b549669.ckpt"] = tiny["checkpoint"]

    done = CliRunner().invoke(app, ["models", "pull", "detoxify"])

    assert done.exit_code == 1
    assert "does not start with 0b549669" in done.output and "nothing was placed" in done.output
    assert cache_contents(settings) == []


def test_first_pull_is_recorded_and_a_changed_file_is_refused_later(settings, server, tiny) -> None:
    unpinned = Release("multilingual", "v9/tiny.ckpt", BASE_REPO)  # no hash anywhere
    server.assets["v9/tiny.ckpt"] = tiny["checkpoint"]
    first = pull_detoxify(settings, release=unpinned)
    assert first.first_use == [
        "v9/tiny.ckpt",
        f"{BASE_REPO}@main/config.json",
        f"{BASE_REPO}@main/tokenizer.json",
    ]
    assert pull_detoxify(settings, release=unpinned).first_use == []  # same bytes: fine

    server.assets["v9/tiny.ckpt"] = tiny["other_checkpoint"]
    with pytest.raises(PullError, match="recorded by the first pull"):
        pull_detoxify(settings, release=unpinned)

    # the earlier pull is still in place, unchanged
    assert resolve_source(settings).checkpoint.read_bytes() == tiny["checkpoint"]


def test_a_busy_server_is_retried(settings, release, server, tiny) -> None:
    server.fail_next = 1
    result = pull_detoxify(settings)
    assert result.checkpoint.read_bytes() == tiny["checkpoint"]
    statuses = [s for m, p, s in server.requests if p.startswith("/releases/")]
    assert statuses == [503, 200]


def test_a_missing_asset_is_not_retried_and_named(settings, server) -> None:
    missing = Release("multilingual", "v9/absent.ckpt", BASE_REPO)
    with pytest.raises(PullError, match="absent.ckpt failed: HTTP 404"):
        pull_detoxify(settings, release=missing)
    assert len([p for _, p, _ in server.requests if p.startswith("/releases/")]) == 1


@pytest.mark.slow
def test_a_rebuild_after_the_pull_scores_the_unavailable_rows(
    tmp_path: Path, settings, release, monkeypatch: pytest.MonkeyPatch
) -> None:
    from huggingface_hub import constants
    from synthlake.ingest.hf import HFSource, import_hf_file

    from synthlake.lake import Lake
    from synthlake.pipeline.dbt_runner import run_dbt
    from tests.fixtures.llm_servers import OpenAICompatServer

    records = [
        {"instruction": "Say hello to the world.", "input": "", "output": "hello world"},
        {"instruction": "Insult me.", "input": "", "output": "you stupid idiot"},
        {"instruction": "Capital of France?", "input": "", "output": "paris"},
    ]
    data = tmp_path / "hermes.json"
    data.write_text(json.dumps(records), encoding="utf-8")

    def statuses(lake: Lake) -> list[tuple]:
        with duckdb.connect(str(lake.warehouse), read_only=True) as con:
            return con.execute(
                "select toxicity_status, count(*), count(toxicity) from int_qa_toxicity "
                "group by all order by 1"
            ).fetchall()

    with OpenAICompatServer(model="m", reply=lambda body: "echo") as llm:
        monkeypatch.setenv("SYNTHLAKE_LLM", f"openai:m@{llm.base_url}")
        monkeypatch.setenv("SYNTHLAKE_LLM_MAX_RETRIES", "0")
        monkeypatch.setenv("SYNTHLAKE_TRANSLATE_LIMIT", "0")
        settings = load_settings(lake_root=tmp_path / "lake")
        lake = Lake.from_settings(settings).ensure()
        import_hf_file(data, lake, HFSource("teknium/openhermes", "r", "en"), run_id="r1")
        run_dbt(["build", "--select", "+int_qa_toxicity"], settings)
        assert statuses(lake) == [("unavailable", 3, 0)]  # never zeros

        pull_detoxify(settings)
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # the build stays offline
        run_dbt(["run", "--select", "int_qa_toxicity"], settings)

    assert statuses(lake) == [("ok", 3, 3)]
