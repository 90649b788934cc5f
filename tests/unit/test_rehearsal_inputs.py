"""bench/rehearsal_inputs.py: seed-scale inputs the real importers accept, deterministically.

The generated files go through the importers' own row functions (``normalize_hf_record``,
``normalize_article``) and the instruction rows through the real dedup step, so a change
in either side that breaks the rehearsal's inputs shows here, not an hour into a run.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from synthlake.ingest.hf import HFSource, normalize_hf_record
from synthlake.ingest.news.normalize import normalize_article

import bench.rehearsal_inputs as _inputs
from synthlake.instructions.dedup import DedupConfig, deduplicate

OPENHERMES, SLIMORCA, Inputs = _inputs.OPENHERMES, _inputs.SLIMORCA, _inputs.Inputs
generate, generate_increment, news_day = (
    _inputs.generate,
    _inputs.generate_increment,
    _inputs.news_day,
)
ROWS, DAYS = 1_500, 2
ROME = ZoneInfo("Europe/Rome")
SNAPSHOT = re.compile(r"^https://web\.archive\.org/web/(\d{14})/(https://www\.[a-z.]+/.+)$")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Inputs:
    return generate(tmp_path_factory.mktemp("gen") / "in", instruction_rows=ROWS, news_days=DAYS)


def _digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _shards(inputs: Inputs, dataset: str) -> list[Path]:
    return sorted((inputs.instructions_dir / dataset / "data").glob("train-0*.parquet"))


def _original(url: str) -> str:
    match = SNAPSHOT.match(url)
    return match[2] if match else url


def _news_records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_instruction_shards_hold_the_rows_in_both_shapes(inputs: Inputs) -> None:
    slim, hermes = _shards(inputs, SLIMORCA), _shards(inputs, OPENHERMES)
    assert len(slim) >= 2 and len(hermes) >= 2
    slim_rows = sum(pq.read_metadata(p).num_rows for p in slim)
    hermes_rows = sum(pq.read_metadata(p).num_rows for p in hermes)
    assert slim_rows + hermes_rows == ROWS == inputs.instruction_rows
    assert slim_rows == round(ROWS * 0.68)
    rows = pq.read_table(slim[0]).to_pylist()
    roles = {tuple(t["from"] for t in r["conversations"]) for r in rows}
    assert ("system", "human", "gpt") in roles and ("human", "gpt") in roles
    assert any(len(r) >= 5 for r in roles)  # multi-turn
    assert pq.read_schema(hermes[0]).names == ["instruction", "input", "output"]


def test_every_instruction_row_is_accepted_by_the_importer(inputs: Inputs) -> None:
    rejected, seen = [], 0
    for dataset in (SLIMORCA, OPENHERMES):
        for path in _shards(inputs, dataset):
            for index, record in enumerate(pq.read_table(path).to_pylist()):
                row = normalize_hf_record(
                    record, source=HFSource(dataset, "x"), source_file=str(path), row_index=index
                )
                seen += 1
                if not isinstance(row, dict):
                    rejected.append(row)
    assert seen == ROWS and rejected == []


def test_planted_shares(inputs: Inputs) -> None:
    expected = inputs.expected
    assert expected["hf_exact_duplicates"] == pytest.approx(0.03 * ROWS, abs=4)
    assert expected["hf_near_duplicates"] == pytest.approx(0.03 * ROWS, abs=4)
    assert expected["hf_code_rows"] == pytest.approx(0.05 * ROWS, rel=0.35)
    assert expected["hf_multi_turn_rows"] == pytest.approx(0.10 * ROWS, rel=0.25)
    long_code = 0
    for path in _shards(inputs, OPENHERMES):
        for output in pq.read_table(path, columns=["output"]).column("output").to_pylist():
            if "```python\n" in output:
                assert 1_500 < len(output) < 8_000  # a few KB
                long_code += 1
    assert long_code > 0


def _compared(inputs: Inputs) -> pa.Table:
    """The rows as int_instructions_normalized compares them: user and assistant turns,
    lower case, whitespace collapsed; in keep order (dataset, shard, row)."""
    ids, texts = [], []
    for dataset in (SLIMORCA, OPENHERMES):
        for shard, path in enumerate(_shards(inputs, dataset)):
            for index, record in enumerate(pq.read_table(path).to_pylist()):
                if "conversations" in record:
                    parts = [t["value"] for t in record["conversations"] if t["from"] != "system"]
                else:
                    context = record["input"]
                    user = record["instruction"] + (f"\n\n{context}" if context else "")
                    parts = [user, record["output"]]
                text = " ".join("\n".join(parts).lower().split())
                ids.append(f"{dataset}/{shard}/{index}")
                texts.append(text)
    hashes = [hashlib.sha256(t.encode()).hexdigest() for t in texts]
    return pa.table({"id": ids, "normalized_text": texts, "text_hash": hashes})


def test_the_real_dedup_finds_exactly_the_planted_duplicates(inputs: Inputs) -> None:
    marked = deduplicate(_compared(inputs), DedupConfig()).to_pylist()
    reasons = [r["drop_reason"] for r in marked]
    assert reasons.count("exact_duplicate") == inputs.expected["hf_exact_duplicates"]
    assert reasons.count("near_duplicate") == inputs.expected["hf_near_duplicates"]
    near = [r["similarity"] for r in marked if r["drop_reason"] == "near_duplicate"]
    assert min(near) >= 0.85  # clear of the 0.8 threshold, not at its edge


def test_news_records_parse_with_their_dates_and_archive_urls(inputs: Inputs) -> None:
    files = sorted(inputs.news_dir.glob("*.jsonl"))
    assert [f.name for f in files] == ["2024-01-01.jsonl", "2024-01-02.jsonl"]
    now = datetime(2025, 1, 1, tzinfo=UTC)
    urls, snapshots, outlets, records = set(), 0, set(), 0
    for path in files:
        day = int(path.stem[-2:])
        for number, record in enumerate(_news_records(path), 1):
            records += 1
            article = normalize_article(
                record, source=str(path), locator=f"line {number}", tz=ROME, now=now
            )
            assert not hasattr(article, "reason"), article
            assert article.published_at_source == "text"
            assert article.flags == []
            outlets.add(article.outlet)
            urls.add(article.url)
            match = SNAPSHOT.match(record["url"])
            if match:
                snapshots += 1
                assert article.url == match[2] and article.snapshot_url == record["url"]
                assert article.captured_at > article.published_at
            elif article.url.startswith("https://web.archive.org"):
                pytest.fail(f"malformed snapshot URL {record['url']}")
            else:
                assert article.published_at.astimezone(ROME).day in (day, day - 1)
    assert outlets == {"ansa", "ilpost", "open"}
    assert records == inputs.expected["news_records"]
    assert len(urls) == inputs.news_articles == inputs.expected["news_articles"]
    assert inputs.news_articles == pytest.approx(500 * DAYS, rel=0.1)
    assert snapshots == inputs.expected["news_snapshot_records"] > 0
    assert snapshots / records == pytest.approx(0.02, abs=0.012)


def test_stories_span_outlets_and_days() -> None:
    truth: dict[str, set[tuple[int, str]]] = {}
    live = 0
    for day in (1, 2, 3):
        records, stories, _ = news_day(17, day)
        by_url = {
            r["url"].split("/", 5)[-1] if "archive.org" in r["url"] else r["url"]: r
            for r in records
        }
        live += sum(1 for r in records if "diretta" in r["url"])
        for url, story in stories.items():
            truth.setdefault(story, set()).add((day, by_url[url]["outlet"]))
    multi_outlet = [s for s, seen in truth.items() if len({o for _, o in seen}) >= 2]
    multi_day = [s for s, seen in truth.items() if len({d for d, _ in seen}) >= 2]
    assert len(multi_outlet) > 30 and len(multi_day) > 10 and live > 0


def test_generation_is_deterministic(tmp_path: Path) -> None:
    a = generate(tmp_path / "a", instruction_rows=400, news_days=1)
    b = generate(tmp_path / "b", instruction_rows=400, news_days=1)
    assert a.expected == b.expected
    digests_a, digests_b = _digests(a.root), _digests(b.root)
    for name in ("manifest.toml", "hf_datasets.csv", "inputs.json"):  # they name the folder
        digests_a.pop(name), digests_b.pop(name)
    assert digests_a == digests_b
    c = generate(tmp_path / "c", instruction_rows=400, news_days=1, seed=18)
    assert _digests(c.instructions_dir) != _digests(a.instructions_dir)


def test_the_increment_leaves_earlier_files_byte_identical(tmp_path: Path) -> None:
    base = generate(tmp_path / "inc", instruction_rows=2_000, news_days=2)
    before = _digests(base.root / "hf") | _digests(base.root / "news")
    after = generate_increment(tmp_path / "inc", base, day=3, changed_share=0.01)
    whole = generate(tmp_path / "whole", instruction_rows=2_000, news_days=3)

    now = _digests(after.root / "hf") | _digests(after.root / "news")
    assert {k: now[k] for k in before} == before  # nothing already there was rewritten
    assert _digests(after.news_dir) == _digests(whole.news_dir)  # day 3 as if made at once
    updates = sorted(after.instructions_dir.rglob("train-update-20240103-*.parquet"))
    assert len(updates) == 2
    changed = sum(pq.read_metadata(p).num_rows for p in updates)
    assert changed == after.expected["hf_changed_rows"] == pytest.approx(20, abs=12)
    assert after.instruction_rows == base.instruction_rows + changed
    assert after.news_days == 3
    assert after.news_articles == whole.news_articles
    manifest = after.manifest.read_text()
    assert "news/2024-01-03.jsonl" in manifest and "train-update-20240103" in manifest

    # A changed row keeps its prompt and gets a new answer.
    old = pq.read_table(_shards(base, OPENHERMES)[0]).to_pylist()
    by_prompt = {(r["instruction"], r["input"]): r["output"] for r in old}
    hermes_update = [p for p in updates if OPENHERMES in str(p)][0]
    for row in pq.read_table(hermes_update).to_pylist():
        key = (row["instruction"], row["input"])
        if key in by_prompt:
            assert row["output"] != by_prompt[key]

    again = generate_increment(tmp_path / "inc", after, day=3, changed_share=0.01)
    assert again.expected == after.expected  # the same day twice adds nothing


def test_days_asked_without_a_size_get_every_article_of_a_day(tmp_path: Path) -> None:
    # the smoke size keeps a tenth of the news; --days alone must not inherit that
    _inputs.main(["--out", str(tmp_path / "whole"), "--rows", "200", "--days", "1"])
    _inputs.main(["--out", str(tmp_path / "smoke"), "--size", "small", "--rows", "200"])
    whole, smoke = (
        json.loads((tmp_path / name / "inputs.json").read_text())["expected"]["news_articles"]
        for name in ("whole", "smoke")
    )
    assert whole > 5 * smoke > 0
