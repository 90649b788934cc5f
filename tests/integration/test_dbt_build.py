"""dbt build against a real DuckDB warehouse built from a small lake."""

from __future__ import annotations

import json
import logging
import os
import re
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from synthlake.ingest.hf import HFSource, import_hf_file
from synthlake.ingest.news.importer import import_news_file

from synthlake.errors import CorruptRawFile, DbtError, SettingsError
from synthlake.lake import RAW_NEWS_SCHEMA, Lake
from synthlake.pipeline.dbt_runner import duckdb_memory_limit, run_dbt
from synthlake.pipeline.run_display import ANSI
from synthlake.settings import Settings, load_settings


def query(lake: Lake, sql: str) -> list[tuple]:
    with duckdb.connect(str(lake.warehouse), read_only=True) as con:
        return con.execute(sql).fetchall()


@pytest.fixture
def filled_lake(tmp_path: Path, lake: Lake, settings: Settings) -> Lake:
    slim = tmp_path / "slim.jsonl"
    slim.write_text(
        "\n".join(
            json.dumps(r)
            for r in [
                {
                    "conversations": [
                        {"from": "human", "value": "Hi?"},
                        {"from": "gpt", "value": "Hello"},
                    ]
                },
                {
                    "conversations": [
                        {"from": "system", "value": "Be kind."},
                        {"from": "human", "value": "Q1"},
                        {"from": "gpt", "value": "A1"},
                        {"from": "human", "value": "Q2"},
                        {"from": "gpt", "value": "A2"},
                    ]
                },
                # roles out of the usual order: mapping must follow `from`, not position
                {
                    "conversations": [
                        {"from": "human", "value": "Q"},
                        {"from": "system", "value": "S"},
                        {"from": "gpt", "value": "A"},
                    ]
                },
            ]
        )
    )
    hermes = tmp_path / "hermes.json"
    hermes.write_text(json.dumps([{"instruction": "Sum", "input": "2, 3", "output": "5"}]))
    news = tmp_path / "news.jsonl"
    news.write_text(
        json.dumps(
            {
                "url": "https://www.ansa.it/a.html",
                "title": "T",
                "date": "06 gennaio 2024, 18:54",
                "content": "A.\n\nB.",
            }
        )
        + "\n"
    )
    import_hf_file(slim, lake, HFSource("Open-Orca/SlimOrca", "r"), run_id="r1")
    import_hf_file(hermes, lake, HFSource("teknium/openhermes", "r"), run_id="r1")
    import_news_file(news, lake, settings, run_id="r1")
    return lake


# The staging layer and its tests: the stages above it (LLM, embeddings) have their own
# integration tests, and the whole graph runs in tests/e2e/ and on the empty lake below.
STAGING = ["build", "--select", "staging", "--indirect-selection", "cautious"]


def test_build_maps_roles_and_keeps_input(filled_lake: Lake, settings: Settings) -> None:
    run_dbt(STAGING, settings)
    rows = query(
        filled_lake,
        """
        select source_dataset, system, instruction, input, output, n_exchanges,
               [t.role for t in turns]
        from stg_hf__instructions order by source_dataset, row_index""",
    )
    assert rows == [
        ("Open-Orca/SlimOrca", None, "Hi?", None, "Hello", 1, ["user", "assistant"]),
        (
            "Open-Orca/SlimOrca",
            "Be kind.",
            None,
            None,
            None,
            2,
            ["system", "user", "assistant", "user", "assistant"],
        ),
        ("Open-Orca/SlimOrca", "S", "Q", None, "A", 1, ["user", "system", "assistant"]),
        ("teknium/openhermes", None, "Sum", "2, 3", "5", 1, ["user", "assistant"]),
    ]
    news = query(
        filled_lake,
        """
        select outlet, n_paragraphs, published_at = timestamptz '2024-01-06 18:54:00+01'
        from stg_news__articles""",
    )
    assert news == [("ansa", 2, True)]


def test_staging_keeps_the_latest_version(
    tmp_path: Path, filled_lake: Lake, settings: Settings
) -> None:
    update = tmp_path / "update.jsonl"
    update.write_text(
        json.dumps({"url": "https://www.ansa.it/a.html", "title": "T2", "content": "Nuovo."}) + "\n"
    )
    import_news_file(update, filled_lake, settings, run_id="r2")
    run_dbt(STAGING, settings)
    assert query(filled_lake, "select title, content from stg_news__articles") == [("T2", "Nuovo.")]


def test_a_failing_dbt_test_fails_with_dbts_message(filled_lake: Lake, settings: Settings) -> None:
    # A row that skipped normalization (no title) must be caught by the not_null test.
    row = {name: None for name in RAW_NEWS_SCHEMA.names} | {
        "article_id": "deadbeef",
        "url": "https://x.it/b",
        "outlet": "x",
        "content": "c",
        "content_hash": "h",
        "published_at_source": "none",
        "ingest_date": "2024-01-01",
        "run_id": "bad",
    }
    filled_lake.write_raw("news", pa.Table.from_pylist([row], schema=RAW_NEWS_SCHEMA), "bad")
    with pytest.raises(DbtError) as info:
        run_dbt(STAGING, settings)
    assert "not_null_stg_news__articles_title" in str(info.value)


def test_corrupt_raw_file_is_named_before_dbt_runs(filled_lake: Lake) -> None:
    bad = filled_lake.raw / "hf" / "ingest_date=2024-01-01" / "part-broken.parquet"
    bad.parent.mkdir(parents=True, exist_ok=True)
    bad.write_bytes(b"\x00" * 64)
    with pytest.raises(CorruptRawFile, match="part-broken.parquet"):
        filled_lake.check_raw()


def test_build_on_an_empty_lake_passes(lake: Lake, settings: Settings) -> None:
    run_dbt(["build"], settings)
    assert query(lake, "select count(*) from stg_news__articles") == [(0,)]


@pytest.mark.parametrize("selection", ["+news_clusters", "+news_qa", "+qa_pairs"])
def test_a_partial_build_passes_on_a_fresh_lake(
    lake: Lake, settings: Settings, selection: str
) -> None:
    """What users type: `dbt build --select +<model>` with no warehouse yet. A test that also
    reads a model outside the selection (e.g. assert_qa_pairs_trace_to_raw) must not run
    (the project's indirect_selection: cautious)."""
    assert not lake.warehouse.exists()
    run_dbt(["build", "--select", selection], settings)
    model = selection.lstrip("+")
    assert query(lake, f"select count(*) from {model}") == [(0,)]


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


NODE_DONE = re.compile(r"^(\d+) of (\d+) (?!START)(\S+) (?!hook:)")  # as the display's


@pytest.mark.parametrize("node_tasks", [False, True], ids=["one-task", "task-per-node"])
def test_inside_a_flow_every_node_line_reaches_the_run_logger(
    filled_lake: Lake, prefect_server: None, node_tasks: bool
) -> None:
    """The run log and the live display count dbt's node lines on ``prefect.task_runs``:
    each node's result line must arrive there, whether the build is one Prefect task
    (the default) or one task per node (``SYNTHLAKE_DBT_NODE_TASKS``)."""
    from prefect import flow, task
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    settings = load_settings(lake_root=filled_lake.root, dbt_node_tasks=node_tasks)

    @task  # as the refresh flow's build_warehouse
    def build_staging() -> None:
        run_dbt(STAGING, settings, in_prefect=True)

    @flow
    def build() -> str:
        from prefect.runtime import flow_run

        build_staging()
        return flow_run.id

    lines = _Lines()
    logger = logging.getLogger("prefect.task_runs")
    logger.addHandler(lines)
    try:
        flow_run_id = build()
    finally:
        logger.removeHandler(lines)
    done = [m for m in (ANSI.sub("", line) for line in lines.messages) if NODE_DONE.match(m)]
    total = int(NODE_DONE.match(done[0]).group(2))
    assert total > 20 and len(done) == total, lines.messages[-20:]

    def task_runs() -> int:
        with get_client(sync_client=True) as client:
            return len(
                client.read_task_runs(
                    flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
                )
            )

    # The server records task runs from their events, a little after the flow returns (CI
    # once read 74 of 78): wait until the count has stopped growing before judging it.
    seen, deadline = task_runs(), time.monotonic() + 60
    while time.monotonic() < deadline:
        time.sleep(2)
        now = task_runs()
        if now == seen and (now > total or not node_tasks):
            break
        seen = now
    # one Prefect task per dbt node only when asked for (each costs ~0.1 s on 2 cores)
    assert (seen > total) if node_tasks else (seen == 1), seen


@pytest.mark.parametrize(
    ("limit", "shown"), [("512MB", "488.2 MiB"), ("1GiB", "1.0 GiB"), ("auto", None)]
)
def test_the_duckdb_memory_limit_setting_reaches_the_build(
    lake: Lake, limit: str, shown: str
) -> None:
    """DuckDB's default, 80% of the machine, let the build's process reach 12.6 GB at 760k
    rows (bench/rehearsal_growth.py); ``SYNTHLAKE_DUCKDB_MEMORY_LIMIT`` bounds it."""
    settings = load_settings(lake_root=lake.root, duckdb_memory_limit=limit)
    if shown is None:  # auto: 3GB (2.7 GiB) unless half of this machine is less
        physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        shown = "2.7 GiB" if 0.5 * physical >= 3e9 else None
    result = run_dbt(["show", "--inline", "select current_setting('memory_limit') as m"], settings)
    rows = [tuple(row) for row in result.result.results[0].agate_table.rows]
    if shown is not None:
        assert rows == [(shown,)]
    else:  # a machine under 6 GB: half of it
        assert rows != [("2.7 GiB",)]


@pytest.mark.parametrize(
    ("setting", "physical_gb", "limit"),
    [
        ("auto", 23.4, "3GB"),  # this machine: bounded far below DuckDB's 80% (18.7 GB)
        ("auto", 4.0, "50%"),  # a small machine: the Python models need the other half
        ("AUTO ", 64.0, "3GB"),
        (" 12GB ", 4.0, "12GB"),  # an explicit value is the user's, as given
        ("50%", 64.0, "50%"),
    ],
)
def test_auto_memory_limit_is_3gb_or_half_of_a_smaller_machine(
    setting: str, physical_gb: float, limit: str
) -> None:
    assert duckdb_memory_limit(setting, int(physical_gb * 1e9)) == limit


def test_a_memory_limit_that_is_not_a_size_is_refused_naming_the_setting() -> None:
    with pytest.raises(SettingsError, match="SYNTHLAKE_DUCKDB_MEMORY_LIMIT = 'lots'"):
        load_settings(duckdb_memory_limit="lots")


def test_the_judge_and_toxicity_do_not_wait_for_the_language_check(settings: Settings) -> None:
    """A pair needs only the duplicate verdict: the judge's rate-limited calls and Detoxify
    run beside the language check (minutes of lingua at seed scale), which gates the
    training export alone."""

    def ancestors(*models: str) -> set[str]:
        selected = [f"+{m}" for m in models]
        args = ["ls", "--select", *selected, "--resource-type", "model", "--output", "name"]
        return set(run_dbt(args, settings).result)

    quality = ancestors("int_qa_judgements", "int_qa_toxicity")
    assert {"int_instructions_deduplicated", "int_instructions_translated"} <= quality
    assert not quality & {"int_instructions_language_checked", "int_instructions_checked"}
    assert "int_instructions_language_checked" in ancestors("exp_train__sft")
