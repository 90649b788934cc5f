"""The HF download against a local hub stand-in (``hub_server.py``), in both real shapes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pyarrow.compute as pc
import pytest
from synthlake.ingest.hf_download import (
    DatasetUnavailable,
    HFDatasetSpec,
    ingest_dataset,
    read_dataset_specs,
)

from synthlake.errors import FetchError, InputFileError
from synthlake.lake import Lake
from synthlake.settings import Settings, load_settings
from tests.integration.hf.hub_server import HubServer

SLIM = "Open-Orca/SlimOrca"
HERMES = "teknium/openhermes"


def conv(*turns: tuple[str, str]) -> dict:
    weights = {"system": None, "human": 0.0, "gpt": 1.0}
    return {"conversations": [{"from": r, "value": v, "weight": weights[r]} for r, v in turns]}


SLIM_ROWS = [
    conv(("system", "You are helpful."), ("human", f"Question {i}?"), ("gpt", f"Answer {i}."))
    for i in range(12)
] + [
    conv(("human", "Tell me a joke."), ("gpt", "Why did the chicken cross the road?")),
    # no assistant turn: a counted reject
    conv(("system", "Be brief."), ("human", "Is anyone there?")),
]
HERMES_ROWS = [
    {"instruction": f"Add {i} and {i + 1}.", "input": "", "output": str(2 * i + 1)}
    for i in range(8)
] + [
    {"instruction": "Summarize.", "input": "A long paragraph about rivers.", "output": "Rivers."},
    {"instruction": "No output here", "input": ""},  # missing field: a counted reject
]


def jsonl(rows: list[dict]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def json_array(rows: list[dict]) -> bytes:
    return json.dumps(rows, indent=2).encode()


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HubServer]:
    from huggingface_hub import constants

    with HubServer() as server:
        monkeypatch.setenv("HF_ENDPOINT", server.endpoint)
        monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
        # conftest sets HF_HUB_OFFLINE=1 for every test; huggingface_hub reads it at import.
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        yield server


@pytest.fixture
def published(hub: HubServer) -> dict[str, str]:
    return {
        SLIM: hub.add(SLIM, {"slim.jsonl": jsonl(SLIM_ROWS), "README.md": b"# card"}),
        HERMES: hub.add(HERMES, {"openhermes.json": json_array(HERMES_ROWS)}),
    }


def raw_rows(lake: Lake, dataset: str) -> list[dict]:
    table = lake.read_raw("hf")
    return table.filter(pc.equal(table["source_dataset"], dataset)).to_pylist()


def reject_reasons(lake: Lake) -> dict[str, int]:
    reasons: dict[str, int] = {}
    for reason in lake.read_raw("rejects").column("reason").to_pylist():
        reasons[reason] = reasons.get(reason, 0) + 1
    return reasons


def test_both_shapes_land_with_source_revision_and_row_index(
    hub: HubServer, published: dict[str, str], lake: Lake, settings: Settings
) -> None:
    slim = ingest_dataset(HFDatasetSpec(SLIM), lake, settings, run_id="r1")
    hermes = ingest_dataset(
        HFDatasetSpec(HERMES, files=("openhermes.json",)), lake, settings, run_id="r1"
    )
    assert (slim.new, slim.rejected) == (13, {"no_assistant_turn": 1})
    assert (hermes.new, hermes.rejected) == (9, {"missing_output": 1})
    rows = raw_rows(lake, SLIM)
    assert {r["source_revision"] for r in rows} == {published[SLIM]}
    assert {r["source_file"] for r in rows} == {
        f"hf://datasets/{SLIM}@{published[SLIM]}/slim.jsonl"
    }
    assert sorted(r["row_index"] for r in rows) == list(range(13))  # the reject was row 13
    assert rows[0]["conversations"][0] == {"from": "system", "value": "You are helpful."}
    summary = next(r for r in raw_rows(lake, HERMES) if r["instruction"] == "Summarize.")
    assert summary["input"] == "A long paragraph about rivers." and summary["shape"] == "alpaca"
    assert reject_reasons(lake) == {"no_assistant_turn": 1, "missing_output": 1}


def test_rerun_with_the_same_revision_downloads_and_writes_nothing(
    hub: HubServer, published: dict[str, str], lake: Lake, settings: Settings
) -> None:
    spec = HFDatasetSpec(SLIM)
    ingest_dataset(spec, lake, settings, run_id="r1")
    files_before = sorted(lake.raw.rglob("*.parquet"))
    downloads = len(hub.downloads())
    again = ingest_dataset(spec, lake, settings, run_id="r2")
    assert again.skipped and again.new == 0
    assert len(hub.downloads()) == downloads  # only the branch was resolved again
    assert sorted(lake.raw.rglob("*.parquet")) == files_before
    # pinned to the commit with its files named: not even a metadata request
    requests = len(hub.requests)
    pinned = HFDatasetSpec(SLIM, published[SLIM], ("slim.jsonl",))
    assert ingest_dataset(pinned, lake, settings, run_id="r3").skipped
    assert len(hub.requests) == requests


def test_a_new_revision_adds_only_its_new_rows(
    hub: HubServer, published: dict[str, str], lake: Lake, settings: Settings
) -> None:
    ingest_dataset(HFDatasetSpec(SLIM), lake, settings, run_id="r1")
    extra = conv(("human", "One more?"), ("gpt", "Yes, one more."))
    hub.add(SLIM, {"slim.jsonl": jsonl([*SLIM_ROWS, extra])})
    stats = ingest_dataset(HFDatasetSpec(SLIM), lake, settings, run_id="r2")
    assert (stats.new, stats.unchanged) == (1, 13)
    assert len(raw_rows(lake, SLIM)) == 14


def test_seeded_sample_is_reproducible_and_not_the_first_rows(
    hub: HubServer, published: dict[str, str], tmp_path: Path
) -> None:
    def sample(seed: int, where: str) -> list[int]:
        settings = load_settings(lake_root=tmp_path / where, hf_sample_rows=4, hf_seed=seed)
        lake = Lake.from_settings(settings).ensure()
        stats = ingest_dataset(HFDatasetSpec(SLIM), lake, settings, run_id="r")
        assert (stats.new, stats.sampled_out) == (4, 9)
        assert stats.rejected == {"no_assistant_turn": 1}  # counted though not sampled
        return sorted(r["row_index"] for r in raw_rows(lake, SLIM))

    first = sample(7, "a")
    assert sample(7, "b") == first
    others = {tuple(sample(seed, f"s{seed}")) for seed in (1, 2, 3)}
    assert len(others | {tuple(first)}) > 1
    assert any(indexes != (0, 1, 2, 3) for indexes in others)


def cut_array(rows: list[dict], whole: int) -> bytes:
    """A JSON array of ``whole`` complete objects, then half of the next one."""
    head = ",\n".join(json.dumps(r) for r in rows[:whole])
    return f"[\n{head},\n{json.dumps(rows[whole])[:15]}".encode()


@pytest.mark.parametrize(
    ("name", "content", "kept"),
    [
        ("openhermes.json", cut_array(HERMES_ROWS, 6), 6),
        ("slim.jsonl", jsonl(SLIM_ROWS[:5])[:-20], 4),  # cut inside its last line
    ],
)
def test_a_truncated_file_keeps_the_rows_before_the_cut(
    hub: HubServer, lake: Lake, settings: Settings, name: str, content: bytes, kept: int
) -> None:
    hub.add("someone/cut", {name: content})
    stats = ingest_dataset(HFDatasetSpec("someone/cut"), lake, settings, run_id="r1")
    assert stats.new == kept == len(raw_rows(lake, "someone/cut"))
    assert stats.rejected == {"truncated_file": 1}
    detail = lake.read_raw("rejects").column("detail").to_pylist()[0]
    assert "breaks off" in detail and "kept" in detail


def test_missing_dataset_is_a_clear_counted_drop_and_loses_nothing(
    hub: HubServer, published: dict[str, str], lake: Lake, settings: Settings
) -> None:
    ingest_dataset(HFDatasetSpec(SLIM), lake, settings, run_id="r1")
    stats = ingest_dataset(HFDatasetSpec("nobody/nothing"), lake, settings, run_id="r2")
    assert stats.error is not None and "'nobody/nothing' not found" in stats.error
    assert stats.rejected == {"dataset_not_found": 1}
    assert reject_reasons(lake)["dataset_not_found"] == 1
    assert len(raw_rows(lake, SLIM)) == 13  # what was stored stays
    # the same failure again is not recorded twice
    ingest_dataset(HFDatasetSpec("nobody/nothing"), lake, settings, run_id="r3")
    assert reject_reasons(lake)["dataset_not_found"] == 1


@pytest.mark.parametrize(
    ("spec", "code"),
    [
        (HFDatasetSpec(SLIM, "v9.9"), "revision_not_found"),
        (HFDatasetSpec(SLIM, files=("nope.jsonl",)), "file_not_found"),
    ],
)
def test_missing_revision_or_file_is_permanent(
    hub: HubServer,
    published: dict[str, str],
    lake: Lake,
    settings: Settings,
    spec: HFDatasetSpec,
    code: str,
) -> None:
    stats = ingest_dataset(spec, lake, settings, run_id="r1")
    assert stats.rejected == {code: 1} and stats.error
    assert lake.read_raw("hf").num_rows == 0


def test_a_download_that_comes_short_is_transient_and_stores_nothing(
    hub: HubServer, published: dict[str, str], lake: Lake, settings: Settings
) -> None:
    ingest_dataset(HFDatasetSpec(HERMES), lake, settings, run_id="r1")
    hub.add("someone/flaky", {"data.jsonl": jsonl(SLIM_ROWS)})
    hub.cut_transfer("someone/flaky", "data.jsonl")
    with pytest.raises(DatasetUnavailable) as info:
        ingest_dataset(HFDatasetSpec("someone/flaky"), lake, settings, run_id="r2")
    assert info.value.transient and info.value.code == "download_incomplete"
    assert "came short" in str(info.value)
    assert raw_rows(lake, "someone/flaky") == []
    assert len(raw_rows(lake, HERMES)) == 9


def test_offline_mode_is_named(hub: HubServer, lake: Lake, settings: Settings, monkeypatch) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    stats = ingest_dataset(HFDatasetSpec(SLIM), lake, settings, run_id="r1")
    assert stats.error and "HF_HUB_OFFLINE" in stats.error
    assert hub.requests == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name,revision\nx,main\n", "must name at least a 'dataset' column"),
        ("dataset,revision\nSlimOrca,main\n", "'SlimOrca' is not 'owner/name'"),
    ],
)
def test_bad_dataset_list_is_named(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "datasets.csv"
    path.write_text(text)
    with pytest.raises(InputFileError, match=message):
        read_dataset_specs(path)


def test_default_dataset_list_names_both_datasets() -> None:
    specs = read_dataset_specs(load_settings().hf_datasets_file)
    assert {s.dataset for s in specs} == {SLIM, HERMES}
    assert all(s.files for s in specs)


@pytest.mark.slow
def test_flow_stores_what_it_can_and_fails_naming_the_missing_dataset(
    prefect_server: None, hub: HubServer, published: dict[str, str], tmp_path: Path
) -> None:
    from synthlake.ingest.hf_flows import ingest_hf

    listing = tmp_path / "datasets.csv"
    listing.write_text(
        "dataset,revision,files,language\n"
        f"{SLIM},main,slim.jsonl,en\nnobody/nothing,main,,en\n{HERMES},main,,en\n"
    )
    lake_root = tmp_path / "lake"
    with pytest.raises(FetchError) as info:
        ingest_hf(datasets_file=str(listing), lake_root=str(lake_root), retry_backoff_s=0.01)
    assert "1 of 3 datasets failed" in str(info.value) and "nobody/nothing" in str(info.value)
    lake = Lake(lake_root)
    assert len(raw_rows(lake, SLIM)) == 13 and len(raw_rows(lake, HERMES)) == 9
    # a 404 is permanent: asked once, never retried
    missing = [r for r in hub.requests if "nobody/nothing" in r.path]
    assert len(missing) == 1


@pytest.mark.slow
def test_ingest_hub_command_downloads_then_a_rerun_writes_nothing(
    prefect_server: None, hub: HubServer, published: dict[str, str], tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from synthlake.pipeline.cli import app

    listing = tmp_path / "datasets.csv"
    listing.write_text(f"dataset,revision,files,language\n{SLIM},main,slim.jsonl,en\n")
    args = ["ingest", "hub", "--datasets", str(listing), "--lake", str(tmp_path / "lake")]
    first = CliRunner().invoke(app, [*args, "--sample-rows", "5", "--seed", "3"])
    assert first.exit_code == 0, first.output
    files = sorted((tmp_path / "lake" / "raw" / "hf").rglob("part-*.parquet"))
    again = CliRunner().invoke(app, [*args, "--sample-rows", "5", "--seed", "3"])
    assert again.exit_code == 0, again.output
    assert SLIM in first.output
    assert len(raw_rows(Lake(tmp_path / "lake"), SLIM)) == 5
    assert sorted((tmp_path / "lake" / "raw" / "hf").rglob("part-*.parquet")) == files
