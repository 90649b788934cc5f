"""The judge dimensions are the rows of seeds/judge_dimensions.csv: the settings' defaults
name seed rows of their domain (the dbt singular test
tests/dbt/quality/assert_judge_dimensions_match_seed.sql ties the macro list to the seed)."""

from __future__ import annotations

import csv

import pytest

from synthlake.quality.judge import DIMENSIONS_SEED
from synthlake.settings import Settings


def seed_domains() -> dict[str, set[str]]:
    with DIMENSIONS_SEED.open(encoding="utf-8", newline="") as handle:
        return {row["dimension"]: set(row["domains"].split(";")) for row in csv.DictReader(handle)}


@pytest.mark.parametrize(
    ("field", "domain"),
    [("judge_dimensions_instructions", "instructions"), ("judge_dimensions_news", "news")],
)
def test_default_dimensions_are_seed_rows_of_their_domain(field: str, domain: str) -> None:
    seeded = seed_domains()
    default = Settings.model_fields[field].default
    assert default, field
    for name in default:
        assert name in seeded, f"{field} default {name!r} is not in {DIMENSIONS_SEED.name}"
        assert domain in seeded[name], f"{name!r} is not a {domain} dimension in the seed"
