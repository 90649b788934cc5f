from __future__ import annotations

import pyarrow as pa

from synthlake.lake import RAW_LLM_CALLS_SCHEMA, RAW_REJECTS_SCHEMA, Lake
from synthlake.llm.unfinished import record_unfinished, unfinished_rows
from synthlake.pipeline.build_state import build_fingerprint, is_up_to_date, record_build
from synthlake.settings import Settings, load_settings


def one_row(schema: pa.Schema) -> pa.Table:
    return pa.Table.from_pylist([{name: None for name in schema.names}], schema=schema)


def test_new_raw_rows_and_other_settings_change_the_fingerprint(
    lake: Lake, settings: Settings
) -> None:
    before = build_fingerprint(settings, lake)
    assert build_fingerprint(settings, lake) == before  # stable
    lake.write_raw("rejects", one_row(RAW_REJECTS_SCHEMA), "r1")
    after_ingest = build_fingerprint(settings, lake)
    assert after_ingest != before
    other = load_settings(lake_root=settings.lake_root, judge_min_score=3.0)
    assert build_fingerprint(other, lake) != after_ingest


def test_what_the_build_itself_appends_does_not_count(lake: Lake, settings: Settings) -> None:
    before = build_fingerprint(settings, lake)
    lake.write_raw("llm_calls", one_row(RAW_LLM_CALLS_SCHEMA), "r1")
    assert build_fingerprint(settings, lake) == before


def test_up_to_date_needs_the_recorded_fingerprint_and_a_warehouse(
    lake: Lake, settings: Settings
) -> None:
    fingerprint = build_fingerprint(settings, lake)
    assert not is_up_to_date(lake, fingerprint)  # never built
    record_build(lake, fingerprint, "r1")
    assert not is_up_to_date(lake, fingerprint)  # no warehouse file
    lake.warehouse.write_bytes(b"")
    assert is_up_to_date(lake, fingerprint)
    assert not is_up_to_date(lake, "another")


def test_rows_an_llm_stage_left_unfinished_make_the_next_refresh_build(
    lake: Lake, settings: Settings
) -> None:
    fingerprint = build_fingerprint(settings, lake)
    record_build(lake, fingerprint, "r1")
    lake.warehouse.write_bytes(b"")
    assert is_up_to_date(lake, fingerprint)
    record_unfinished(lake, "translate", 39)  # e.g. a provider answered 401
    record_unfinished(lake, "judge", 0)
    assert unfinished_rows(lake) == {"translate": 39}
    assert not is_up_to_date(lake, fingerprint)
    record_unfinished(lake, "translate", 0)  # the next build answered them
    assert is_up_to_date(lake, fingerprint)


def test_the_one_run_retry_switch_is_not_part_of_the_fingerprint(
    lake: Lake, settings: Settings
) -> None:
    retry = load_settings(lake_root=settings.lake_root, llm_retry_quarantined=True)
    assert build_fingerprint(retry, lake) == build_fingerprint(settings, lake)
