"""The HTML report on hand-made warehouses: missing marts, hostile text, unavailable
toxicity. (The report from a real build is checked in tests/integration/quality.)"""

from __future__ import annotations

import re

import duckdb
import pytest

from synthlake.errors import LakeError
from synthlake.lake import Lake
from synthlake.quality.report import write_report


def test_no_warehouse_is_a_clear_error(settings, lake: Lake) -> None:
    with pytest.raises(LakeError, match="run `synthlake run`"):
        write_report(settings, lake)


def test_a_warehouse_without_marts_gives_notes_not_a_crash(settings, lake: Lake) -> None:
    duckdb.connect(str(lake.warehouse)).close()
    path = write_report(settings, lake)
    assert path == lake.root / "reports" / "quality.html"
    page = path.read_text(encoding="utf-8")
    assert "No QA pairs yet." in page and "rpt_funnel not built yet." in page
    assert "data:image/png" not in page


def test_data_text_is_escaped_and_toxicity_unavailable_is_explained(
    settings, lake: Lake, tmp_path
) -> None:
    with duckdb.connect(str(lake.warehouse)) as con:
        con.execute(
            """
            create table rpt_zero_score_examples as
            select 'instructions' as domain, 'accuracy' as dimension, 'en' as language,
                0.0 as score, 1 as worst_rank, 'q1' as qa_id,
                '<script>alert(1)</script>' as question, 'A & B' as answer,
                'Wrong <b>badly</b>' as explanation
            """
        )
        con.execute(
            """
            create table rpt_toxicity as
            select 'instructions' as domain, 'answer' as field, label, 3 as n_texts,
                0 as n_scored, 3 as n_unavailable, 0 as n_below_0_001, 0 as n_0_001_to_0_01,
                0 as n_0_01_to_0_1, 0 as n_0_1_to_0_5, 0 as n_0_5_and_above
            from (values ('toxicity'), ('insult')) as t(label)
            """
        )
        con.execute(
            """
            create table int_qa_toxicity as
            select 'q1|answer' as toxicity_id, 'unavailable' as toxicity_status
            """
        )
    page = write_report(settings, lake, tmp_path / "r.html").read_text(encoding="utf-8")
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "A &amp; B" in page
    assert "Toxicity unavailable" in page and "3 answers are unscored" in page
    assert "SYNTHLAKE_DETOXIFY_CHECKPOINT" in page  # the hint at the top
    assert not re.search(r'(src|href)="(http|//)', page)
