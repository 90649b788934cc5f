"""Seed-scale inputs for the rehearsal (issue 17): instruction shards and daily news files.

Everything here is generated (word lists and templates written for this file, fixed seeds),
in the formats the real importers read unchanged. The route is the one a user with these
volumes takes for ``synthlake run``: an **input folder with a manifest.toml** (what
``synthlake run --inputs DIR`` and ``synthlake ingest folder DIR`` read, through the same
``import_hf_file`` / ``import_news_file`` code as a live download or a user's crawl)::

    DIR/manifest.toml                       [[hf]] per dataset (+ update), [[news]] files
    DIR/hf_datasets.csv                     the same shards for the hub route (see below)
    DIR/hf/Open-Orca/SlimOrca/data/train-00000-of-00008.parquet ...
    DIR/hf/teknium/openhermes/data/train-00000-of-00004.parquet ...
    DIR/news/2024-01-01.jsonl ...           one crawl file per day
    DIR/truth/stories-2024-01-01.csv ...    url,story_id of the multi-article stories
    DIR/inputs.json                         counts (what the lake should hold)

Instructions are Parquet shards laid out as a dataset repository on the hub holds them
(``data/train-XXXXX-of-YYYYY.parquet``, ~65k rows a shard, at least two per dataset), in the
two shapes the project maps: SlimOrca's ShareGPT ``conversations`` (list of
``{from, value, weight}`` with system/human/gpt turns) and OpenHermes' alpaca
``instruction``/``input``/``output`` (what ``ingest/hf.py`` and ``stg_hf__instructions``
read for ``teknium/openhermes``). Rows split 68/32 between them (518k/243k). Planted in
each row group: exact duplicates (~3%, a copy of an earlier row of the same row group, so its
``row_index`` and ``record_id`` differ), near duplicates (~3%, an earlier row with
``max(1, words/100)`` words of one answer replaced: estimated Jaccard >= 0.9 on the dedup
step's 3-word shingles, well above its 0.8 threshold), long code answers (~5%, a fenced
Python block of 2-5 KB) and multi-turn rows (~10% of all rows, 2-3 exchanges, SlimOrca
only since the alpaca shape has one exchange). Distinct rows are sentences drawn word by
word from a ~550-word vocabulary through four sentence patterns, so two distinct rows share
almost no 3-word shingle and MinHash LSH has nothing to merge (a test runs the real dedup
on the small size and finds exactly the planted duplicates). The text is built with
pyarrow's ``binary_join`` on numpy-drawn word indices, one row group (16k rows) at a time,
written as it is made: 760k rows take about 25 s of CPU and memory stays at one group.

News is one JSONL file per day in the shape of ``data/sample/news/articles.jsonl`` (url,
outlet, title, subtitle, author, date, tags, body as a list of paragraphs), ~500 articles
a day from ANSA, Il Post and Open with each outlet's own date form ("02 gennaio 2024,
17:50", ISO 8601 with the Rome offset, "2 Gennaio 2024"): all three parse as
``published_at_source = text``. Stories start every day, last 1-5 days and are covered by
several outlets (they share a place, an entity and fact sentences); some have live-update
pages (timestamped "Ore HH:MM" updates, one URL per story and day; half of them also appear
in the same file as an earlier, shorter capture, which the importer rejects as
``duplicate_url`` in favour of the longer copy); ~2% of the records are web archive
snapshots (``https://web.archive.org/web/<14-digit stamp>/<original url>``): archive-only
articles of the day, captured one or two days later, and, from day 2, snapshot copies of
articles of the day before (the importer keeps the stored original: ``unchanged``). Each
day depends only on (seed, day), so days 1..30 then 31 give the same files as 1..31 at once.

The daily increment (``generate_increment``) writes day N's news file and, for the
instructions, what a hub update of 1% of the rows looks like to our importer. The
importer's ``record_id`` is (dataset, row index in its file, content hash) and every run
re-reads every listed file, skipping known ids; so an unchanged row is ``unchanged`` however
it is delivered, and a changed row is new. The changed rows are written as **one new shard
per dataset** (``data/train-update-YYYYMMDD-00000-of-00001.parquet``, its own ``[[hf]]``
entry with revision ``...-update-YYYYMMDD``) holding the new versions: the same system and
user turns, every answer regenerated (so a changed row is not a near duplicate of its old
version). The base shards stay byte-identical, so the first run's inputs are still there to
compare with. Note for the pipeline: the old version of a changed row stays in the lake
too (raw is append-only and staging keys rows by ``record_id``, not by position); nothing
in the project supersedes a hub row by its position.

Point synthlake at the folder with ``Inputs.config_overrides`` (``SYNTHLAKE_SAMPLE_DIR``,
the folder ``synthlake run`` ingests without ``--inputs``) and run with ``--news none``
(the default ``sample-site`` crawl serves ``<sample_dir>/site``, which this folder lacks);
``SYNTHLAKE_HF_DATASETS_FILE`` names ``hf_datasets.csv`` for a driver that serves ``hf/`` as
a local hub (``synthlake ingest hub`` with ``HF_ENDPOINT``).

    python -m bench.rehearsal_inputs --size small --out /tmp/rehearsal-inputs
    python -m bench.rehearsal_inputs --size full --out /tmp/x --increment-day 31
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import random
import shutil
import time
import unicodedata
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

SIZES: dict[str, tuple[int, int]] = {
    "small": (1_000, 1),  # the smoke test: four whole runs in about two minutes
    "10k": (10_000, 1),
    "medium": (100_000, 10),
    "full": (760_000, 30),
}
# the share of the ~500 articles a day each size generates: the smoke size keeps every
# news shape (stories across outlets and days, live pages, snapshots) at a tenth the volume
NEWS_SHARE: dict[str, float] = {"small": 0.1}

SLIMORCA = "Open-Orca/SlimOrca"
OPENHERMES = "teknium/openhermes"
SLIMORCA_SHARE = 0.68  # 518k of 761k rows
SHARD_ROWS = 65_536
MIN_SHARDS = 2
ROW_GROUP_ROWS = 16_384  # also the unit of generation
EXACT_SHARE = 0.03
NEAR_SHARE = 0.03
CODE_SHARE = 0.05
MULTI_TURN_SHARE = 0.10  # of all rows; all of them SlimOrca-shaped
REVISION = "rehearsal-{seed}"

DAY_ONE = date(2024, 1, 1)
ROME = ZoneInfo("Europe/Rome")
OUTLET_TARGET = {"ansa": 260, "ilpost": 110, "open": 130}  # ~500 a day together
STORIES_PER_DAY = 22
STORY_DAYS = ((1, 30), (2, 30), (3, 20), (4, 12), (5, 8))  # (length, weight)
MAX_STORY_DAYS = 5
LIVE_SHARE = 0.15  # of stories
SNAPSHOT_SHARE = 0.01  # archive-only articles, of the day's articles
SNAPSHOT_COPY_SHARE = 0.01  # snapshot copies of the day before's articles

HF_SCHEMA = {
    "sharegpt": pa.schema(
        [
            (
                "conversations",
                pa.list_(
                    pa.struct(
                        [("from", pa.string()), ("value", pa.string()), ("weight", pa.float64())]
                    )
                ),
            )
        ]
    ),
    "alpaca": pa.schema(
        [("instruction", pa.string()), ("input", pa.string()), ("output", pa.string())]
    ),
}


@dataclass(frozen=True)
class Inputs:
    """Where the generated inputs are and how many rows they hold."""

    instructions_dir: Path
    news_dir: Path
    instruction_rows: int  # rows in every listed shard (updates included)
    news_articles: int  # distinct articles (original URLs): the raw news rows to expect
    news_days: int
    config_overrides: dict[str, str]  # SYNTHLAKE_* variables that point synthlake here
    manifest: Path | None = None  # the folder's manifest.toml (`synthlake run --inputs`)
    expected: dict[str, int] = field(default_factory=dict)  # counts per kind, see COUNTS

    @property
    def root(self) -> Path:
        return self.instructions_dir.parent


# --- word lists (written for this file) ------------------------------------------------------
def _words(text: str) -> list[str]:
    return list(dict.fromkeys(text.split()))


ADJECTIVES = _words(
    """quiet bright narrow ancient careful distant early fragile gentle hidden honest large
    little local modern noisy patient plain private public rapid rare rough simple slow small
    smooth solid steady strange strong sudden tall thin tidy usual vast warm wide wild wooden
    young yellow silver golden broken clever curious dusty empty faint fresh frozen heavy hollow
    humble lively loud lucky modest muddy neat nervous polite proud quick rusty salty secret
    shallow sharp shiny silent sleepy soft sour spare square sticky stormy sunny sweet swift
    tender tiny tough urban vivid weary western eastern northern southern frequent gradual
    internal external annual formal central digital global mobile natural neutral optical rural
    seasonal social thermal visual coastal crowded elegant familiar generous grateful hungry
    invisible massive mellow nimble obvious orange purple remote sacred scarlet sincere slender"""
)
NOUNS = _words(
    """river bridge garden lamp window market teacher farmer engine station harbor village
    library museum bakery kitchen ladder mirror pencil basket blanket bottle bucket candle
    carpet castle cellar chair cloud coast compass corner cottage desert doctor drawer engineer
    factory feather fence field forest fountain gate glacier hammer hill island journal kettle
    lake lantern letter meadow merchant mountain needle notebook ocean orchard painter palace
    parcel path pilot planet pocket pond pottery printer puzzle rabbit railway recipe ribbon
    robot roof saddle sailor scholar shadow shelf shepherd signal sketch spider spring stadium
    statue storm stream student sunset tablet telescope temple theater ticket tower tractor
    traveler tunnel valley violin wagon wall wheel whistle workshop writer anchor apron arrow
    badge balloon barrel beacon bell bench bicycle blossom boulder bracelet branch breeze brush
    cabin cable camera canal canyon captain cart cathedral chimney circuit cliff clock collar
    comet crate crystal curtain dancer diary dolphin dragon drum eagle elevator envelope falcon
    ferry folder fossil furnace gallery glove granary guitar helmet hive horizon jacket jungle
    kite lighthouse magnet mailbox map marble meteor microscope mill monument mosaic nest novel
    oven owl paddle parrot pebble pendulum piano pillow pipeline plateau plow pumpkin quarry
    quilt radar raft reef rocket sandal satellite scarf sculpture shovel skyline sled spoon
    stove suitcase switch tapestry terrace thread tide tortoise trumpet umbrella vase vessel
    volcano wardrobe waterfall windmill wrench yacht zebra archive attic ballad barn beetle
    biscuit blueprint bonfire canopy caravan chapel cobbler courtyard dune estate fjord
    harvest inlet kiosk ledger loom meadowlark observatory pantry pavilion quarter ravine"""
)
VERBS = _words(
    """follows carries builds finds watches moves holds opens closes paints measures repairs
    describes explains protects guides visits crosses reaches supports collects shapes marks
    covers lifts pulls pushes turns fills cleans checks counts draws sorts tests warms cools
    joins splits grows prepares records shares studies teaches traces trims wraps leads defends
    delivers explores improves inspects labels lights loads maps mends notices orders packs
    plants polishes presents questions rebuilds reflects replaces rescues reveals scans
    searches selects shelters signals sketches steers stores surrounds tracks trades translates
    unlocks updates values weighs welcomes writes borrows catches chooses decorates examines
    gathers hides imagines invites keeps launches lowers observes passes raises remembers"""
)
ADVERBS = _words(
    """quickly slowly carefully quietly gently rarely often always never openly calmly firmly
    freely gladly proudly simply suddenly usually warmly wisely barely boldly briskly eagerly
    evenly fairly kindly loosely neatly patiently"""
)
PREPOSITIONS = _words(
    "near behind beside under above across along around beyond inside over toward through past "
    "against within after before"
)
DETERMINERS = _words("the a this each every that one another")

CODE_VERBS = _words(
    "get set load save parse build count merge split sort check fetch update render compute "
    "scale filter group track clean read write find make apply"
)
SYSTEM_PROMPTS = [
    "You are a helpful assistant.",
    "You are an AI assistant. Think step by step and justify your answer.",
    "You are a teacher who explains things simply to a curious student.",
    "You are an AI assistant that follows instructions extremely well. Help as much as you can.",
    "You are a careful writer. Answer in plain English and keep to the facts you are given.",
    "You are an assistant that writes short, clear explanations for beginners.",
    "You should describe the task and explain your answer in detail.",
    "You are a patient tutor. Check each step before you give the final answer.",
    "",  # no system turn
    "",
]
QUESTION_LEADS = [
    "Explain why",
    "Describe how",
    "Tell me whether it is true that",
    "Summarize the idea that",
    "Write a short note about how",
    "Can you explain why",
    "Give three reasons why",
    "Rewrite the following so a child understands it:",
    "What happens when",
    "Continue the story in which",
    "Decide if this statement is correct:",
    "Answer briefly:",
]
CODE_LEADS = [
    "Write a Python function that handles this case:",
    "Show Python code for the following task:",
    "Implement a small Python class for this:",
    "Refactor this idea into a Python script:",
]
FOLLOW_LEADS = ["Why is that so?", "Can you give an example?", "And after that?", "Say more:"]

# Sentence patterns of equal length; slot ids index CATEGORIES.
CATEGORIES = ("det_cap", "det", "adj", "noun", "noun_end", "verb", "prep", "prep_cap", "adv")
_S = {name: i for i, name in enumerate(CATEGORIES)}
PATTERNS = np.array(
    [
        ["det_cap", "adj", "noun", "verb", "det", "adj", "noun", "prep", "det", "noun_end"],
        ["det_cap", "noun", "adv", "verb", "det", "noun", "prep", "det", "adj", "noun_end"],
        ["prep_cap", "det", "adj", "noun", "det", "noun", "verb", "det", "adj", "noun_end"],
        ["det_cap", "adj", "adj", "noun", "verb", "adv", "prep", "det", "adj", "noun_end"],
    ]
)
PATTERNS = np.vectorize(_S.get)(PATTERNS).astype(np.int64)
SENTENCE_WORDS = PATTERNS.shape[1]


def _vocabulary() -> tuple[pa.Array, np.ndarray, np.ndarray]:
    lists = {
        "det_cap": [w.capitalize() for w in DETERMINERS],
        "det": DETERMINERS,
        "adj": ADJECTIVES,
        "noun": NOUNS,
        "noun_end": [f"{w}." for w in NOUNS],
        "verb": VERBS,
        "prep": PREPOSITIONS,
        "prep_cap": [w.capitalize() for w in PREPOSITIONS],
        "adv": ADVERBS,
    }
    words: list[str] = []
    offsets, sizes = [], []
    for name in CATEGORIES:
        offsets.append(len(words))
        sizes.append(len(lists[name]))
        words.extend(lists[name])
    return pa.array(words, pa.string()), np.array(offsets), np.array(sizes)


VOCAB, CAT_OFFSET, CAT_SIZE = _vocabulary()
SWAP_WORDS = ADJECTIVES + NOUNS  # near duplicates replace interior words with these


# --- instruction text, vectorized ------------------------------------------------------------
def _prose(rng: np.random.Generator, n_sentences: np.ndarray) -> pa.Array:
    """One text per entry, of that many generated sentences (10 words each)."""
    n_sentences = np.asarray(n_sentences, dtype=np.int64)
    pattern = rng.integers(0, len(PATTERNS), int(n_sentences.sum()))
    slots = PATTERNS[pattern].ravel()
    index = CAT_OFFSET[slots] + (rng.random(slots.size) * CAT_SIZE[slots]).astype(np.int64)
    offsets = np.zeros(len(n_sentences) + 1, dtype=np.int64)
    np.cumsum(n_sentences * SENTENCE_WORDS, out=offsets[1:])
    words = VOCAB.take(pa.array(index))
    return pc.binary_join(pa.LargeListArray.from_arrays(pa.array(offsets), words), " ").cast(
        pa.string()
    )


def _pick(rng: np.random.Generator, options: list[str], n: int) -> pa.Array:
    return pa.array(options, pa.string()).take(pa.array(rng.integers(0, len(options), n)))


def _join(*parts: pa.Array | str) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")


def _code_pool(seed: int, size: int = 4096) -> pa.Array:
    """Lines of Python-looking code with generated names (one pool per seed)."""
    rng = random.Random(f"{seed}:code-pool")
    noun = lambda: rng.choice(NOUNS)  # noqa: E731
    verb = lambda: rng.choice(CODE_VERBS)  # noqa: E731
    num = lambda: str(rng.randint(2, 999))  # noqa: E731
    templates = [
        lambda: f"def {verb()}_{noun()}({noun()}, {noun()}_{noun()}):",
        lambda: f"    {noun()} = {noun()}.{verb()}({num()})",
        lambda: f"    for {noun()} in {noun()}_{noun()}s:",
        lambda: f"        {noun()}_{noun()}.append({noun()} * {num()})",
        lambda: f"    if {noun()} > {num()}:",
        lambda: f"        return {noun()}_{noun()}",
        lambda: f"    {noun()}s = [{noun()} for {noun()} in {noun()}_{noun()} if {noun()}]",
        lambda: f"    # {verb()} the {rng.choice(ADJECTIVES)} {noun()} before the {noun()}",
        lambda: f"class {noun().capitalize()}{noun().capitalize()}:",
        lambda: f"    def __init__(self, {noun()}, {noun()}={num()}):",
        lambda: f"        self.{noun()}_{noun()} = {noun()}",
        lambda: f"    return {{'{noun()}': {noun()}, '{verb()}': {num()}}}",
        lambda: f"        raise ValueError('{noun()} {rng.choice(ADJECTIVES)} {noun()}')",
        lambda: f"    with open('{noun()}_{num()}.txt') as {noun()}:",
    ]
    return pa.array([rng.choice(templates)() for _ in range(size)], pa.string())


def _code_answers(rng: np.random.Generator, n: int, pool: pa.Array) -> pa.Array:
    """Answers with a fenced Python block of 2-5 KB between two short paragraphs."""
    lines = rng.integers(70, 150, n)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lines, out=offsets[1:])
    picked = pool.take(pa.array(rng.integers(0, len(pool), int(offsets[-1]))))
    block = pc.binary_join(pa.LargeListArray.from_arrays(pa.array(offsets), picked), "\n")
    intro = _prose(rng, rng.integers(2, 4, n))
    outro = _prose(rng, rng.integers(1, 3, n))
    return _join(intro, "\n\n```python\n", block.cast(pa.string()), "\n```\n\n", outro)


def _near_copy(rng: random.Random, text: str, n_words: int) -> str:
    """``text`` with max(1, n_words/100) (at most 4) interior words replaced by others."""
    words = text.split(" ")
    # Interior words only: plain lower-case words, not a sentence's first or last.
    candidates = [
        i
        for i in range(1, len(words) - 1)
        if words[i].isalpha() and words[i].islower() and not words[i - 1].endswith(".")
    ]
    changes = min(4, max(1, round(n_words / 100)), len(candidates))
    for i in rng.sample(candidates, changes):
        new = rng.choice(SWAP_WORDS)
        while new == words[i]:
            new = rng.choice(SWAP_WORDS)
        words[i] = new
    return " ".join(words)


def _n_words(*texts: str) -> int:
    return sum(len(t.split()) for t in texts)


@dataclass(slots=True)
class _ShardPlan:
    """Which rows of a shard are copies: ``source[i] == i`` for a fresh row."""

    source: np.ndarray
    exact: np.ndarray  # positions of exact duplicates
    near: np.ndarray  # positions of near duplicates
    code: np.ndarray  # bool per row
    multi: np.ndarray  # exchanges per row (1 = single)


def _plan(rng: np.random.Generator, n: int, *, multi_share: float) -> _ShardPlan:
    n_exact, n_near = round(n * EXACT_SHARE), round(n * NEAR_SHARE)
    copies = rng.choice(np.arange(1, n), size=min(n - 1, n_exact + n_near), replace=False)
    exact, near = np.sort(copies[:n_exact]), np.sort(copies[n_exact:])
    is_copy = np.zeros(n, dtype=bool)
    is_copy[copies] = True
    fresh = np.flatnonzero(~is_copy)
    source = np.arange(n)
    for positions in (exact, near):
        before = np.searchsorted(fresh, positions)  # fresh rows earlier in the shard (>= 1)
        source[positions] = fresh[(rng.random(len(positions)) * before).astype(np.int64)]
    code = rng.random(n) < CODE_SHARE
    multi = np.where(rng.random(n) < multi_share, rng.integers(2, 4, n), 1)
    multi[code] = 1
    return _ShardPlan(source, exact, near, code, multi)


def _sharegpt_shard(rng: np.random.Generator, n: int, pool: pa.Array) -> tuple[pa.Table, dict]:
    plan = _plan(rng, n, multi_share=min(1.0, MULTI_TURN_SHARE / SLIMORCA_SHARE))
    system = _pick(rng, SYSTEM_PROMPTS, n)
    has_system = pc.not_equal(system, "").to_numpy(zero_copy_only=False)
    exchanges = plan.multi
    # Turn table of the fresh generation: system?, then (human, gpt) per exchange.
    counts = has_system.astype(np.int64) + 2 * exchanges
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    total = int(offsets[-1])
    role = np.empty(total, dtype=object)
    slots: dict[str, list[np.ndarray]] = {"system": [], "first": [], "follow": [], "gpt": []}
    sys_pos = offsets[:-1][has_system]
    role[sys_pos] = "system"
    slots["system"].append(sys_pos)
    start = offsets[:-1] + has_system
    for k in range(int(exchanges.max())):
        rows = np.flatnonzero(exchanges > k)
        human, gpt = start[rows] + 2 * k, start[rows] + 2 * k + 1
        role[human], role[gpt] = "human", "gpt"
        slots["first" if k == 0 else "follow"].append(human)
        slots["gpt"].append(gpt)
    pos = {
        name: np.concatenate(parts) if parts else np.array([], np.int64)
        for name, parts in slots.items()
    }
    row_of_pos = np.repeat(np.arange(n), counts)
    first_rows = row_of_pos[pos["first"]]
    gpt_rows = row_of_pos[pos["gpt"]]
    first_is_code = plan.code[first_rows]
    gpt_is_code = plan.code[gpt_rows]
    n_first, n_follow, n_gpt = len(pos["first"]), len(pos["follow"]), len(pos["gpt"])
    leads = np.where(first_is_code, 0, 1)
    first_text = _join(
        pc.if_else(
            pa.array(leads == 0),
            _pick(rng, CODE_LEADS, n_first),
            _pick(rng, QUESTION_LEADS, n_first),
        ),
        " ",
        _prose(rng, rng.integers(2, 6, n_first)),
    )
    follow_text = _join(
        _pick(rng, FOLLOW_LEADS, n_follow), " ", _prose(rng, rng.integers(1, 3, n_follow))
    )
    gpt_plain = _prose(rng, rng.integers(6, 26, n_gpt))
    n_code = int(gpt_is_code.sum())
    gpt_code = _code_answers(rng, n_code, pool)
    code_slot = np.cumsum(gpt_is_code) - 1
    gpt_text = pc.if_else(
        pa.array(gpt_is_code),
        gpt_code.take(pa.array(np.where(gpt_is_code, code_slot, 0))) if n_code else gpt_plain,
        gpt_plain,
    )
    sys_text = system.filter(pa.array(has_system))
    values = pa.concat_arrays([sys_text, first_text, follow_text, gpt_text])
    where = np.concatenate([pos["system"], pos["first"], pos["follow"], pos["gpt"]])
    values = values.take(pa.array(np.argsort(where, kind="stable")))
    # Rows that are copies take their source's turns.
    src_counts = counts[plan.source]
    out_offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(src_counts, out=out_offsets[1:])
    gather = np.repeat(offsets[:-1][plan.source] - out_offsets[:-1], src_counts) + np.arange(
        int(out_offsets[-1])
    )
    values = values.take(pa.array(gather))
    roles = role[gather]
    # Near duplicates: a few words of the last answer replaced.
    py = random.Random(int(rng.integers(1 << 62)))
    last_gpt = out_offsets[1:][plan.near] - 1
    replacements = []
    for row, at in zip(plan.near, last_gpt, strict=True):
        turns = values.slice(out_offsets[row], out_offsets[row + 1] - out_offsets[row])
        texts = [
            t
            for t, r in zip(
                turns.to_pylist(), roles[out_offsets[row] : out_offsets[row + 1]], strict=True
            )
            if r != "system"
        ]
        replacements.append(_near_copy(py, values[int(at)].as_py(), _n_words(*texts)))
    if len(plan.near):
        mask = np.zeros(len(values), dtype=bool)
        mask[last_gpt] = True
        values = pc.replace_with_mask(values, pa.array(mask), pa.array(replacements, pa.string()))
    weight = np.where(roles == "gpt", 1.0, 0.0)
    turns = pa.StructArray.from_arrays(
        [
            pa.array(roles.tolist(), pa.string()),
            values,
            pa.array(weight, pa.float64(), mask=roles == "system"),
        ],
        names=["from", "value", "weight"],
    )
    conversations = pa.ListArray.from_arrays(pa.array(out_offsets, pa.int32()), turns)
    stats = _shard_stats(plan)
    return pa.Table.from_arrays([conversations], schema=HF_SCHEMA["sharegpt"]), stats


def _alpaca_shard(rng: np.random.Generator, n: int, pool: pa.Array) -> tuple[pa.Table, dict]:
    plan = _plan(rng, n, multi_share=0.0)
    instruction = _join(
        pc.if_else(pa.array(plan.code), _pick(rng, CODE_LEADS, n), _pick(rng, QUESTION_LEADS, n)),
        " ",
        _prose(rng, rng.integers(1, 5, n)),
    )
    with_input = rng.random(n) < 0.4
    context = pc.if_else(pa.array(with_input), _prose(rng, rng.integers(1, 5, n)), "")
    plain = _prose(rng, rng.integers(6, 26, n))
    n_code = int(plan.code.sum())
    if n_code:
        code = _code_answers(rng, n_code, pool)
        slot = np.where(plan.code, np.cumsum(plan.code) - 1, 0)
        output = pc.if_else(pa.array(plan.code), code.take(pa.array(slot)), plain)
    else:
        output = plain
    take = pa.array(plan.source)
    instruction, context, output = instruction.take(take), context.take(take), output.take(take)
    py = random.Random(int(rng.integers(1 << 62)))
    if len(plan.near):
        replacements = [
            _near_copy(
                py,
                output[int(i)].as_py(),
                _n_words(
                    instruction[int(i)].as_py(), context[int(i)].as_py(), output[int(i)].as_py()
                ),
            )
            for i in plan.near
        ]
        mask = np.zeros(n, dtype=bool)
        mask[plan.near] = True
        output = pc.replace_with_mask(output, pa.array(mask), pa.array(replacements, pa.string()))
    table = pa.Table.from_arrays([instruction, context, output], schema=HF_SCHEMA["alpaca"])
    return table, _shard_stats(plan)


def _shard_stats(plan: _ShardPlan) -> dict[str, int]:
    rows = len(plan.source)
    return {
        "rows": rows,
        "exact_duplicates": len(plan.exact),
        "near_duplicates": len(plan.near),
        "code_rows": int(plan.code[plan.source].sum()),
        "multi_turn_rows": int((plan.multi[plan.source] > 1).sum()),
    }


DATASETS = ((SLIMORCA, "sharegpt", 0), (OPENHERMES, "alpaca", 1))


def _dataset_rows(instruction_rows: int) -> dict[str, int]:
    slim = round(instruction_rows * SLIMORCA_SHARE)
    return {SLIMORCA: slim, OPENHERMES: instruction_rows - slim}


def _shard_sizes(rows: int) -> list[int]:
    shards = max(MIN_SHARDS, math.ceil(rows / SHARD_ROWS))
    base, extra = divmod(rows, shards)
    return [base + (1 if i < extra else 0) for i in range(shards)]


def _shard_name(index: int, count: int) -> str:
    return f"data/train-{index:05d}-of-{count:05d}.parquet"


def _write(table: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".parquet.tmp")
    pq.write_table(table, tmp, compression="zstd", row_group_size=ROW_GROUP_ROWS)
    tmp.replace(path)


def _write_instructions(root: Path, instruction_rows: int, seed: int) -> tuple[dict, dict]:
    """Write every shard, one row group at a time; returns (files per dataset, counts).

    Each row group is generated on its own (its duplicates copy rows of the same group), so
    memory holds one group, whatever the size."""
    pool = _code_pool(seed)
    files: dict[str, list[str]] = {}
    totals: Counter[str] = Counter()
    for dataset, shape, code in DATASETS:
        sizes = _shard_sizes(_dataset_rows(instruction_rows)[dataset])
        make = _sharegpt_shard if shape == "sharegpt" else _alpaca_shard
        key = "slimorca" if dataset == SLIMORCA else "openhermes"
        files[dataset] = []
        for index, rows in enumerate(sizes):
            relative = f"hf/{dataset}/{_shard_name(index, len(sizes))}"
            path = root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".parquet.tmp")
            with pq.ParquetWriter(tmp, HF_SCHEMA[shape], compression="zstd") as writer:
                for group, start in enumerate(range(0, rows, ROW_GROUP_ROWS)):
                    n = min(ROW_GROUP_ROWS, rows - start)
                    rng = np.random.default_rng([seed, code, index, group, n])
                    table, stats = make(rng, n, pool)
                    writer.write_table(table, row_group_size=ROW_GROUP_ROWS)
                    totals[f"hf_rows_{key}"] += stats["rows"]
                    for name, value in stats.items():
                        totals[f"hf_{name}"] += value
            tmp.replace(path)
            files[dataset].append(relative)
    return files, dict(totals)


# --- news --------------------------------------------------------------------------------------
CITIES = [
    ("Roma", "lazio", "Lazio"),
    ("Milano", "lombardia", "Lombardia"),
    ("Napoli", "campania", "Campania"),
    ("Torino", "piemonte", "Piemonte"),
    ("Palermo", "sicilia", "Sicilia"),
    ("Genova", "liguria", "Liguria"),
    ("Bologna", "emiliaromagna", "Emilia-Romagna"),
    ("Firenze", "toscana", "Toscana"),
    ("Bari", "puglia", "Puglia"),
    ("Catania", "sicilia", "Sicilia"),
    ("Venezia", "veneto", "Veneto"),
    ("Verona", "veneto", "Veneto"),
    ("Messina", "sicilia", "Sicilia"),
    ("Padova", "veneto", "Veneto"),
    ("Trieste", "friuliveneziagiulia", "Friuli Venezia Giulia"),
    ("Brescia", "lombardia", "Lombardia"),
    ("Parma", "emiliaromagna", "Emilia-Romagna"),
    ("Taranto", "puglia", "Puglia"),
    ("Prato", "toscana", "Toscana"),
    ("Modena", "emiliaromagna", "Emilia-Romagna"),
    ("Reggio Calabria", "calabria", "Calabria"),
    ("Perugia", "umbria", "Umbria"),
    ("Cagliari", "sardegna", "Sardegna"),
    ("Livorno", "toscana", "Toscana"),
    ("Ravenna", "emiliaromagna", "Emilia-Romagna"),
    ("Rimini", "emiliaromagna", "Emilia-Romagna"),
    ("Salerno", "campania", "Campania"),
    ("Ferrara", "emiliaromagna", "Emilia-Romagna"),
    ("Sassari", "sardegna", "Sardegna"),
    ("Latina", "lazio", "Lazio"),
    ("Pescara", "abruzzo", "Abruzzo"),
    ("Bergamo", "lombardia", "Lombardia"),
    ("Trento", "trentino", "Trentino-Alto Adige"),
    ("Bolzano", "trentino", "Trentino-Alto Adige"),
    ("Ancona", "marche", "Marche"),
    ("Udine", "friuliveneziagiulia", "Friuli Venezia Giulia"),
    ("Lecce", "puglia", "Puglia"),
    ("Potenza", "basilicata", "Basilicata"),
    ("Campobasso", "molise", "Molise"),
    ("Aosta", "valledaosta", "Valle d'Aosta"),
    ("Cosenza", "calabria", "Calabria"),
    ("Siracusa", "sicilia", "Sicilia"),
    ("Novara", "piemonte", "Piemonte"),
    ("Como", "lombardia", "Lombardia"),
    ("Pisa", "toscana", "Toscana"),
    ("Lucca", "toscana", "Toscana"),
    ("Arezzo", "toscana", "Toscana"),
    ("Vicenza", "veneto", "Veneto"),
    ("Treviso", "veneto", "Veneto"),
    ("Matera", "basilicata", "Basilicata"),
]
FIRST_NAMES = _words(
    "Marco Giulia Luca Sara Andrea Chiara Paolo Elena Matteo Francesca Davide Martina Stefano "
    "Valentina Alessandro Federica Giorgio Silvia Lorenzo Anna Simone Laura Riccardo Ilaria "
    "Tommaso Beatrice Emanuele Roberta Filippo Alessia Nicola Caterina Pietro Marta Claudio Irene"
)
SURNAMES = _words(
    "Rossi Bianchi Ferrari Russo Romano Colombo Bruno Gallo Conti Esposito Ricci Marino Greco "
    "Lombardi Moretti Barbieri Fontana Santoro Mariani Rinaldi Caruso Ferrara Galli Martini "
    "Leone Longo Gentile Martinelli Vitale Serra Coppola Donati Fabbri Monti Pellegrini Orlando "
    "Benedetti Palumbo Sanna Farina Cattaneo Morelli Riva Valentini Marchi Grasso Parisi Testa"
)
ROLES = [
    "il sindaco di {city}",
    "la sindaca di {city}",
    "il prefetto di {city}",
    "l'assessore regionale",
    "la presidente della Regione {region}",
    "il portavoce del comitato",
    "il segretario del sindacato",
    "la dirigente dell'ufficio scolastico",
    "il direttore sanitario",
    "il comandante dei vigili del fuoco",
    "la procuratrice di {city}",
    "il presidente dell'associazione dei commercianti",
]
TOPICS: dict[str, dict[str, Any]] = {
    "maltempo": {
        "tags": ["Cronaca", "Meteo", "Maltempo"],
        "entities": [
            "l'allerta rossa su {city}",
            "la frana sulla provinciale per {city}",
            "l'esondazione del torrente a {city}",
            "la grandinata su {city}",
            "il nubifragio nel centro di {city}",
        ],
        "subjects": ["i vigili del fuoco", "la protezione civile", "i volontari", "{role}"],
        "objects": [
            "l'evacuazione di {n} famiglie",
            "la chiusura delle scuole",
            "lo stato di emergenza",
            "un piano di interventi da {n} milioni di euro",
            "la riapertura della strada",
            "nuovi controlli sugli argini",
        ],
        "titles": [
            "{Entity}: {n} famiglie fuori casa",
            "Maltempo, {entity} blocca la città",
            "{Entity}, chiuse le scuole per {k} giorni",
            "{Entity}: la conta dei danni",
        ],
    },
    "sciopero": {
        "tags": ["Lavoro", "Trasporti", "Sciopero"],
        "entities": [
            "lo sciopero dei treni regionali in {region}",
            "lo sciopero del trasporto pubblico a {city}",
            "la vertenza dello stabilimento di {city}",
            "il presidio dei lavoratori del porto di {city}",
        ],
        "subjects": ["i sindacati", "i lavoratori", "l'azienda", "{role}", "i pendolari"],
        "objects": [
            "le fasce di garanzia",
            "un incontro al ministero",
            "{n} esuberi",
            "un aumento di {n} euro al mese",
            "il nuovo contratto integrativo",
            "la sospensione della protesta",
        ],
        "titles": [
            "{Entity}, stop di {k} ore",
            "{Entity}: cosa sapere",
            "{Entity}, adesione oltre il {pct} per cento",
            "{Entity}: nessun accordo",
        ],
    },
    "incidente": {
        "tags": ["Cronaca", "Incidenti"],
        "entities": [
            "l'incidente sulla tangenziale di {city}",
            "lo scontro tra due auto alle porte di {city}",
            "il crollo di una palazzina a {city}",
            "l'incendio in un capannone a {city}",
        ],
        "subjects": [
            "i soccorritori",
            "la polizia stradale",
            "i carabinieri",
            "{role}",
            "i testimoni",
        ],
        "objects": [
            "{n} feriti",
            "la dinamica dello scontro",
            "la chiusura di un tratto di strada",
            "i rilievi sul posto",
            "un'indagine per omicidio stradale",
            "la messa in sicurezza dell'area",
        ],
        "titles": [
            "{Entity}, {n} feriti",
            "{Entity}: aperta un'indagine",
            "{Entity}, traffico in tilt per ore",
            "{Entity}: le immagini",
        ],
    },
    "politica": {
        "tags": ["Politica"],
        "entities": [
            "il bilancio del Comune di {city}",
            "la legge regionale sulle aree interne della {region}",
            "la mozione di sfiducia in consiglio comunale a {city}",
            "il nuovo piano urbanistico di {city}",
        ],
        "subjects": ["la maggioranza", "l'opposizione", "la giunta", "{role}", "i consiglieri"],
        "objects": [
            "un emendamento da {n} milioni",
            "il voto in aula",
            "le dimissioni dell'assessore",
            "una commissione d'inchiesta",
            "il rinvio della seduta",
            "un referendum cittadino",
        ],
        "titles": [
            "{Entity}, scontro in aula",
            "{Entity}: via libera con {n} voti",
            "{Entity}, la maggioranza si divide",
            "{Entity}: cosa cambia",
        ],
    },
    "economia": {
        "tags": ["Economia"],
        "entities": [
            "la crisi dell'acciaieria di {city}",
            "il rincaro delle bollette in {region}",
            "l'export delle aziende di {city}",
            "il nuovo polo logistico di {city}",
        ],
        "subjects": ["le imprese", "gli analisti", "l'associazione degli industriali", "{role}"],
        "objects": [
            "una crescita del {pct} per cento",
            "{n} nuove assunzioni",
            "un calo degli ordini",
            "un fondo da {n} milioni di euro",
            "la cassa integrazione",
            "nuovi investimenti",
        ],
        "titles": [
            "{Entity}, {n} posti in bilico",
            "{Entity}: più {pct} per cento",
            "{Entity}, i numeri",
            "{Entity}: la Regione convoca il tavolo",
        ],
    },
    "sanita": {
        "tags": ["Sanità", "Salute"],
        "entities": [
            "il nuovo pronto soccorso di {city}",
            "le liste d'attesa negli ospedali della {region}",
            "il focolaio di influenza a {city}",
            "la carenza di medici di famiglia a {city}",
        ],
        "subjects": ["i medici", "l'azienda sanitaria", "i pazienti", "{role}", "gli infermieri"],
        "objects": [
            "{n} nuovi posti letto",
            "tempi di attesa di {k} mesi",
            "un piano straordinario",
            "nuove assunzioni di personale",
            "l'apertura serale degli ambulatori",
            "il ricorso ai medici in pensione",
        ],
        "titles": [
            "{Entity}, {n} pazienti in attesa",
            "{Entity}: il piano della Regione",
            "{Entity}, la protesta dei medici",
            "{Entity}: cosa cambia per i cittadini",
        ],
    },
    "scuola": {
        "tags": ["Scuola", "Istruzione"],
        "entities": [
            "le iscrizioni alle superiori a {city}",
            "il caro mense nelle scuole di {city}",
            "l'edilizia scolastica in {region}",
            "il concorso per gli insegnanti in {region}",
        ],
        "subjects": ["i presidi", "le famiglie", "gli studenti", "{role}", "i docenti"],
        "objects": [
            "{n} nuove aule",
            "lo sconto sulle rette",
            "un bando da {n} milioni",
            "i lavori durante l'estate",
            "il calendario delle prove",
            "più ore di laboratorio",
        ],
        "titles": [
            "{Entity}, {n} domande in più",
            "{Entity}: le novità",
            "{Entity}, la protesta dei genitori",
            "{Entity}: i dati",
        ],
    },
    "cultura": {
        "tags": ["Cultura", "Spettacoli"],
        "entities": [
            "il festival del cinema di {city}",
            "la mostra sul Rinascimento a {city}",
            "la riapertura del teatro comunale di {city}",
            "il nuovo museo archeologico di {city}",
        ],
        "subjects": ["gli organizzatori", "il curatore", "i visitatori", "{role}", "la fondazione"],
        "objects": [
            "{n} visitatori",
            "il programma completo",
            "ingressi gratuiti la domenica",
            "un ciclo di incontri",
            "le opere in prestito",
            "la proroga fino a primavera",
        ],
        "titles": [
            "{Entity}, {n} presenze",
            "{Entity}: il programma",
            "{Entity}, record di biglietti",
            "{Entity}: cosa vedere",
        ],
    },
    "sport": {
        "tags": ["Sport", "Calcio"],
        "entities": [
            "il derby di {city}",
            "il nuovo stadio di {city}",
            "la maratona di {city}",
            "la promozione della squadra di {city}",
        ],
        "subjects": ["l'allenatore", "i tifosi", "la società", "{role}", "i giocatori"],
        "objects": [
            "{n} spettatori",
            "il rinnovo del contratto",
            "la vittoria per {k} a uno",
            "un progetto da {n} milioni",
            "la squalifica del capitano",
            "il ritiro estivo",
        ],
        "titles": [
            "{Entity}, {n} spettatori",
            "{Entity}: la festa",
            "{Entity}, polemiche sull'arbitro",
            "{Entity}: il progetto",
        ],
    },
    "giustizia": {
        "tags": ["Cronaca", "Giustizia"],
        "entities": [
            "l'inchiesta sugli appalti a {city}",
            "il processo per la truffa sui fondi europei a {city}",
            "la maxi operazione antidroga a {city}",
            "il sequestro di beni a un imprenditore di {city}",
        ],
        "subjects": ["la procura", "gli investigatori", "la difesa", "{role}", "i giudici"],
        "objects": [
            "{n} indagati",
            "il sequestro di {n} milioni di euro",
            "una nuova udienza",
            "gli arresti domiciliari",
            "una perizia tecnica",
            "il rinvio a giudizio",
        ],
        "titles": [
            "{Entity}, {n} indagati",
            "{Entity}: le accuse",
            "{Entity}, la difesa ricorre",
            "{Entity}: nuove perquisizioni",
        ],
    },
    "ambiente": {
        "tags": ["Ambiente"],
        "entities": [
            "la siccità nelle campagne di {city}",
            "lo smog a {city}",
            "il parco eolico al largo di {city}",
            "la discarica abusiva vicino a {city}",
        ],
        "subjects": ["gli ambientalisti", "gli agricoltori", "l'agenzia regionale", "{role}"],
        "objects": [
            "il blocco del traffico",
            "limiti superati per {k} giorni",
            "un piano di bonifica",
            "{n} ettari a rischio",
            "nuove centraline di controllo",
            "il razionamento dell'acqua",
        ],
        "titles": [
            "{Entity}, {k} giorni oltre i limiti",
            "{Entity}: il piano",
            "{Entity}, la protesta dei residenti",
            "{Entity}: i dati dell'agenzia",
        ],
    },
    "trasporti": {
        "tags": ["Trasporti"],
        "entities": [
            "i lavori sulla linea ferroviaria per {city}",
            "la nuova linea del tram di {city}",
            "i ritardi dei voli all'aeroporto di {city}",
            "il cantiere dell'autostrada vicino a {city}",
        ],
        "subjects": ["i pendolari", "l'azienda dei trasporti", "i comitati", "{role}"],
        "objects": [
            "{n} corse soppresse",
            "bus sostitutivi per {k} settimane",
            "un investimento da {n} milioni",
            "la consegna dei lavori",
            "nuovi orari",
            "rimborsi per gli abbonati",
        ],
        "titles": [
            "{Entity}, {n} corse in meno",
            "{Entity}: i nuovi orari",
            "{Entity}, disagi per i pendolari",
            "{Entity}: quando finiranno i lavori",
        ],
    },
}
TOPIC_NAMES = tuple(TOPICS)
OPENINGS = [
    "Secondo quanto si apprende,",
    "Nella mattinata di oggi",
    "Già da ieri sera",
    "Intanto",
    "Dopo settimane di attesa",
    "In serata",
    "Come previsto,",
    "Nel frattempo",
    "Nelle ultime ore",
    "Per il momento",
    "A quanto risulta,",
    "Dopo il vertice in prefettura",
    "Su questo punto",
    "Nel primo pomeriggio",
    "Stando alle prime ricostruzioni,",
    "Alla fine",
    "Da parte sua",
    "Ancora una volta",
    "Non a caso",
    "In una nota",
]
VERBS_IT = [
    "ha annunciato",
    "ha confermato",
    "ha chiesto",
    "ha denunciato",
    "ha presentato",
    "ha respinto",
    "ha sospeso",
    "ha avviato",
    "ha rinviato",
    "ha approvato",
    "ha criticato",
    "ha difeso",
    "ha ottenuto",
    "ha proposto",
    "ha escluso",
    "ha ricordato",
    "sta valutando",
    "ha messo in discussione",
    "ha rilanciato",
    "attende",
]
COMPLEMENTS = [
    "per i prossimi {k} giorni",
    "entro la fine del mese",
    "nonostante le proteste dei residenti",
    "in attesa del parere del ministero",
    "dopo un lungo confronto",
    "senza fornire altri dettagli",
    "come chiesto da mesi",
    "con un comunicato diffuso in serata",
    "davanti ai giornalisti",
    "in vista del fine settimana",
    "per evitare nuovi disagi",
    "con il sostegno dei comuni vicini",
    "mentre proseguono le verifiche",
    "a partire da lunedì",
    "fino a nuova comunicazione",
    "dopo le segnalazioni arrivate negli ultimi giorni",
    "in una riunione a porte chiuse",
    "con tempi ancora da definire",
    "secondo fonti vicine al dossier",
    "nel corso di un sopralluogo",
]
QUOTES = [
    '"{Object} è la priorità", ha detto {person}.',
    '"Serve chiarezza", ha spiegato {person}, a proposito di {object}.',
    '"Non ci fermeremo", ha aggiunto {person}.',
    '"Abbiamo fatto tutto il possibile", ha assicurato {person}.',
    '"Aspettiamo risposte concrete", ha commentato {person}.',
]
MONTHS_IT = (
    "gennaio febbraio marzo aprile maggio giugno luglio agosto settembre ottobre novembre dicembre"
).split()
AUTHORS = [f"{f} {s}" for f, s in zip(FIRST_NAMES, SURNAMES, strict=False)]


def _day_date(day: int) -> date:
    return DAY_ONE + timedelta(days=day - 1)


def _upper_first(text: str) -> str:
    return text[:1].upper() + text[1:]


def _slug(text: str, words: int = 9) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    parts = "".join(c if c.isalnum() else " " for c in plain).split()
    return "-".join(parts[:words]) or "articolo"


@dataclass(slots=True)
class _Story:
    story_id: str
    topic: str
    city: str
    region_slug: str
    region: str
    entity: str
    person: str
    facts: list[str]
    start: int
    length: int
    coverage: dict[int, list[str]]  # day offset -> outlets
    live: str | None  # the outlet with a live page, if any


def _fill(rng: random.Random, template: str, ctx: dict[str, str]) -> str:
    values = dict(ctx)
    values.setdefault("n", str(rng.choice([3, 5, 8, 12, 15, 20, 40, 60, 120, 250, 800])))
    values.setdefault("k", str(rng.randint(2, 9)))
    values.setdefault("pct", str(rng.randint(5, 90)))
    return template.format(**values)


def _person(rng: random.Random, city: str, region: str) -> str:
    role = rng.choice(ROLES).format(city=city, region=region)
    return f"{role}, {rng.choice(FIRST_NAMES)} {rng.choice(SURNAMES)}"


def _sentence(rng: random.Random, topic: str, ctx: dict[str, str]) -> str:
    spec = TOPICS[topic]
    if rng.random() < 0.12:
        obj = _fill(rng, rng.choice(spec["objects"]), ctx)
        return _fill(rng, rng.choice(QUOTES), ctx | {"object": obj, "Object": _upper_first(obj)})
    subject = _fill(rng, rng.choice(spec["subjects"]), ctx)
    text = " ".join(
        [
            rng.choice(OPENINGS),
            subject,
            _verb(rng, subject),
            _fill(rng, rng.choice(spec["objects"]), ctx),
            _fill(rng, rng.choice(COMPLEMENTS), ctx),
        ]
    )
    return _upper_first(text) + "."


def _verb(rng: random.Random, subject: str) -> str:
    """A verb that agrees with ``subject`` (plural when it starts with i/gli/le)."""
    verb = rng.choice(VERBS_IT)
    if subject.split(" ", 1)[0] not in ("i", "gli", "le"):
        return verb
    first, _, rest = verb.partition(" ")
    plural = {"ha": "hanno", "sta": "stanno", "attende": "attendono"}[first]
    return f"{plural} {rest}".strip()


def _context(rng: random.Random, city: str, region: str, entity: str, person: str) -> dict:
    role = rng.choice(ROLES).format(city=city, region=region)
    return {"city": city, "region": region, "entity": entity, "person": person, "role": role}


def _story(seed: int, start: int, j: int) -> _Story:
    rng = random.Random(f"{seed}:story:{start}:{j}")
    topic = rng.choice(TOPIC_NAMES)
    city, region_slug, region = rng.choice(CITIES)
    entity = rng.choice(TOPICS[topic]["entities"]).format(city=city, region=region)
    person = _person(rng, city, region)
    ctx = _context(rng, city, region, entity, person)
    facts = [_sentence(rng, topic, ctx) for _ in range(3)]
    length = rng.choices([d for d, _ in STORY_DAYS], [w for _, w in STORY_DAYS])[0]
    coverage = {}
    for offset in range(length):
        lo = 2 if offset == 0 else 1
        coverage[offset] = sorted(rng.sample(list(OUTLET_TARGET), rng.randint(lo, 3)))
    live = rng.choice(coverage[0]) if rng.random() < LIVE_SHARE else None
    return _Story(
        f"s{start:04d}-{j:02d}",
        topic,
        city,
        region_slug,
        region,
        entity,
        person,
        facts,
        start,
        length,
        coverage,
        live,
    )


def _stories_on(seed: int, day: int, share: float = 1.0) -> list[_Story]:
    stories = []
    for start in range(day - MAX_STORY_DAYS + 1, day + 1):
        for j in range(max(1, round(STORIES_PER_DAY * share))):
            story = _story(seed, start, j)
            if start + story.length > day:
                stories.append(story)
    return stories


@dataclass(slots=True)
class _Article:
    outlet: str
    topic: str
    city: str
    region_slug: str
    region: str
    title: str
    subtitle: str
    paragraphs: list[str]
    published: datetime  # local time, Europe/Rome
    story_id: str | None = None
    live: bool = False
    early: list[str] | None = None  # a live page's earlier capture, if the crawl has one
    url: str = ""


def _article(
    rng: random.Random,
    outlet: str,
    day: int,
    topic: str,
    ctx: dict[str, str],
    region_slug: str,
    facts: list[str],
) -> _Article:
    spec = TOPICS[topic]
    entity = ctx["entity"]
    title = _fill(rng, rng.choice(spec["titles"]), ctx | {"Entity": _upper_first(entity)})
    sentences = [_sentence(rng, topic, ctx) for _ in range(rng.randint(9, 16))]
    for fact in rng.sample(facts, min(len(facts), 2)):
        sentences.insert(rng.randrange(len(sentences) + 1), fact)
    subject = _fill(rng, rng.choice(spec["subjects"]), ctx)
    obj = _fill(rng, rng.choice(spec["objects"]), ctx)
    lead = _upper_first(f"{entity}: {subject} {_verb(rng, subject)} {obj}.")
    sentences.insert(0, lead)
    paragraphs, i = [], 0
    while i < len(sentences):
        step = rng.randint(2, 4)
        paragraphs.append(" ".join(sentences[i : i + step]))
        i += step
    published = datetime.combine(_day_date(day), datetime.min.time(), ROME) + timedelta(
        minutes=rng.randint(6 * 60, 23 * 60 + 30)
    )
    return _Article(
        outlet,
        topic,
        ctx["city"],
        region_slug,
        ctx["region"],
        title,
        _sentence(rng, topic, ctx),
        paragraphs,
        published,
    )


def _live_page(rng: random.Random, article: _Article, topic: str, ctx: dict[str, str]) -> _Article:
    """The story's live page: timestamped updates, newest first; with even odds the crawl
    also holds an earlier capture of it (the older half of the updates)."""
    updates = []
    clock = article.published - timedelta(minutes=rng.randint(30, 180))
    published = clock
    for _ in range(rng.randint(8, 18)):
        text = " ".join(_sentence(rng, topic, ctx) for _ in range(rng.randint(1, 3)))
        updates.append(f"Ore {clock:%H:%M} - {text}")
        clock += timedelta(minutes=rng.randint(10, 50))
    updates.reverse()  # newest first, as live pages show them
    title = f"{article.title}, la diretta" if rng.random() < 0.5 else f"LIVE | {article.title}"
    early = updates[len(updates) // 2 :] if rng.random() < 0.5 else None
    return replace(
        article, title=title, paragraphs=updates, published=published, live=True, early=early
    )


def _render(rng: random.Random, article: _Article, used: set[tuple[str, str]]) -> dict[str, Any]:
    """The record as the outlet's crawl writes it (url, date form, tags, body list)."""
    day = article.published.date()
    slug = _slug(article.title) + ("-diretta" if article.live else "")
    base, n = slug, 2
    while (article.outlet, slug) in used:
        slug, n = f"{base}-{n}", n + 1
    used.add((article.outlet, slug))
    paragraphs = list(article.paragraphs)
    tags = list(dict.fromkeys([*TOPICS[article.topic]["tags"], article.region]))
    author: str | None = None
    if article.outlet == "ansa":
        uuid = f"{rng.getrandbits(128):032x}"
        uuid = f"{uuid[:8]}-{uuid[8:12]}-{uuid[12:16]}-{uuid[16:20]}-{uuid[20:]}"
        url = f"https://www.ansa.it/{article.region_slug}/notizie/{day:%Y/%m/%d}/{slug}_{uuid}.html"
        stamp = f"{day:%d} {MONTHS_IT[day.month - 1]} {day:%Y}, {article.published:%H:%M}"
        if not article.live:
            dateline = f"{article.city.upper()}, {day:%d} {MONTHS_IT[day.month - 1][:3].upper()}"
            paragraphs[0] = f"{dateline} - {paragraphs[0]}"
            paragraphs[-1] = f"{paragraphs[-1]} (ANSA)."
    elif article.outlet == "ilpost":
        url = f"https://www.ilpost.it/{day:%Y/%m/%d}/{slug}/"
        stamp = article.published.replace(second=0).isoformat()
        author = rng.choice(AUTHORS) if rng.random() < 0.3 else None
    else:
        url = f"https://www.open.online/{day:%Y/%m/%d}/{slug}/"
        stamp = f"{day.day} {MONTHS_IT[day.month - 1].capitalize()} {day:%Y}"
        author = rng.choice(AUTHORS)
    return {
        "url": url,
        "outlet": article.outlet,
        "title": article.title,
        "subtitle": article.subtitle,
        "author": author,
        "date": stamp,
        "tags": ", ".join(tags) if article.outlet == "open" and rng.random() < 0.5 else tags,
        "body": paragraphs,
    }


def _snapshot(rng: random.Random, record: dict[str, Any], published: datetime, days: int) -> dict:
    captured = published.astimezone(UTC) + timedelta(days=days, minutes=rng.randint(0, 600))
    return record | {"url": f"https://web.archive.org/web/{captured:%Y%m%d%H%M%S}/{record['url']}"}


def _base_day(seed: int, day: int, share: float = 1.0) -> list[tuple[_Article, dict[str, Any]]]:
    """The day's articles and their records, in publication order, before archive copies;
    ``share`` scales the day's volume (stories and articles) down from ~500 articles."""
    rng = random.Random(f"{seed}:news:{day}")
    articles: list[_Article] = []
    per_outlet: Counter[str] = Counter()
    for story in _stories_on(seed, day, share):
        offset = day - story.start
        ctx_rng = random.Random(f"{seed}:story-ctx:{story.story_id}:{day}")
        ctx = _context(ctx_rng, story.city, story.region, story.entity, story.person)
        for outlet in story.coverage[offset]:
            art = _article(ctx_rng, outlet, day, story.topic, ctx, story.region_slug, story.facts)
            art.story_id = story.story_id
            articles.append(art)
            per_outlet[outlet] += 1
            if story.live == outlet and offset <= 1:
                articles.append(_live_page(ctx_rng, art, story.topic, ctx))
                per_outlet[outlet] += 1
    for outlet, target in OUTLET_TARGET.items():
        wanted = round(target * share * rng.uniform(0.9, 1.1)) - per_outlet[outlet]
        for _ in range(max(0, wanted)):
            topic = rng.choice(TOPIC_NAMES)
            city, region_slug, region = rng.choice(CITIES)
            entity = rng.choice(TOPICS[topic]["entities"]).format(city=city, region=region)
            ctx = _context(rng, city, region, entity, _person(rng, city, region))
            facts = [_sentence(rng, topic, ctx)]
            articles.append(_article(rng, outlet, day, topic, ctx, region_slug, facts))
    articles.sort(key=lambda a: (a.published, a.outlet, a.live, a.title))
    used: set[tuple[str, str]] = set()
    rendered = []
    for art in articles:
        record = _render(rng, art, used)
        art.url = record["url"]
        rendered.append((art, record))
    return rendered


def _archived(seed: int, day: int, rendered: list[tuple[_Article, dict[str, Any]]]) -> list[bool]:
    """Which of the day's articles the crawl got from the archive only (not live pages)."""
    pick = random.Random(f"{seed}:archive-pick:{day}")
    return [not art.live and pick.random() < SNAPSHOT_SHARE for art, _ in rendered]


def news_day(
    seed: int, day: int, share: float = 1.0
) -> tuple[list[dict[str, Any]], dict[str, str], dict[str, int]]:
    """(records of the day's crawl file, url -> story id, counts); depends on (seed, day) only.

    Counts: ``news_articles`` are the day's new articles (distinct original URLs; the lake
    gains one raw row each), ``news_duplicate_captures`` the earlier live captures the
    importer rejects as ``duplicate_url``, ``news_snapshot_copies`` the archive copies of
    the day before's articles (``unchanged`` on import).
    """
    rendered = _base_day(seed, day, share)
    stamps = random.Random(f"{seed}:archive-stamp:{day}")
    records: list[dict[str, Any]] = []
    counts: Counter[str] = Counter()
    for (art, record), archived in zip(rendered, _archived(seed, day, rendered), strict=True):
        if art.early is not None:
            records.append(record | {"body": list(art.early)})
            counts["news_duplicate_captures"] += 1
        if archived:
            record = _snapshot(stamps, record, art.published, stamps.randint(1, 2))
            counts["news_snapshot_records"] += 1
        records.append(record)
    counts["news_articles"] = len(rendered)
    if day >= 2:
        before = _base_day(seed, day - 1, share)
        copies = random.Random(f"{seed}:archive-copy:{day}")
        for (art, record), archived in zip(before, _archived(seed, day - 1, before), strict=True):
            if copies.random() < SNAPSHOT_COPY_SHARE and not (art.live or archived):
                records.append(_snapshot(copies, record, art.published, 1))
                counts["news_snapshot_records"] += 1
                counts["news_snapshot_copies"] += 1
    counts["news_records"] = len(records)
    counts["news_live_pages"] = sum(1 for art, _ in rendered if art.live)
    counts["news_story_articles"] = sum(1 for art, _ in rendered if art.story_id and not art.live)
    counts["news_stories"] = len({art.story_id for art, _ in rendered if art.story_id})
    truth = {art.url: art.story_id for art, _ in rendered if art.story_id is not None}
    return records, truth, dict(counts)


def _news_file(day: int) -> str:
    return f"news/{_day_date(day):%Y-%m-%d}.jsonl"


def _write_news_day(root: Path, seed: int, day: int, share: float = 1.0) -> dict[str, int]:
    records, truth, counts = news_day(seed, day, share)
    path = root / _news_file(day)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    path.write_text(lines, encoding="utf-8")
    truth_path = root / "truth" / f"stories-{_day_date(day):%Y-%m-%d}.csv"
    truth_path.parent.mkdir(parents=True, exist_ok=True)
    with truth_path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["url", "story_id"])
        writer.writerows(sorted(truth.items()))
    return counts


# --- the folder --------------------------------------------------------------------------------
def _toml_list(items: list[str]) -> str:
    return "[\n" + "".join(f'    "{item}",\n' for item in items) + "]"


def _write_manifest(root: Path, entries: list[dict[str, Any]], news: list[str]) -> Path:
    lines = [
        "# Generated by bench/rehearsal_inputs.py (issue 17): seed-scale inputs.",
        "# `synthlake run --inputs DIR --news none` or `synthlake ingest folder DIR`.",
        "",
    ]
    for entry in entries:
        lines += [
            "[[hf]]",
            f'dataset = "{entry["dataset"]}"',
            f'revision = "{entry["revision"]}"',
            'language = "en"',
            f"files = {_toml_list(entry['files'])}",
            "",
        ]
    lines += ["[[news]]", f"files = {_toml_list(news)}", ""]
    path = root / "manifest.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _write_datasets_csv(root: Path, entries: list[dict[str, Any]]) -> Path:
    files: dict[str, list[str]] = {}
    for entry in entries:
        prefix = f"hf/{entry['dataset']}/"
        files.setdefault(entry["dataset"], []).extend(
            f.removeprefix(prefix) for f in entry["files"]
        )
    path = root / "hf_datasets.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["dataset", "revision", "files", "language"])
        for dataset, names in files.items():
            writer.writerow([dataset, "main", ";".join(names), "en"])
    return path


def inputs_from_state(root: Path, state: dict[str, Any]) -> Inputs:
    expected = dict(state["expected"])
    return Inputs(
        instructions_dir=root / "hf",
        news_dir=root / "news",
        instruction_rows=expected.get("hf_rows", 0),
        news_articles=expected.get("news_articles", 0),
        news_days=len(state["news"]),
        config_overrides={
            "SYNTHLAKE_SAMPLE_DIR": str(root),
            "SYNTHLAKE_HF_DATASETS_FILE": str(root / "hf_datasets.csv"),
        },
        manifest=root / "manifest.toml",
        expected=expected,
    )


def _save_state(root: Path, state: dict[str, Any]) -> Inputs:
    _write_manifest(root, state["hf"], state["news"])
    _write_datasets_csv(root, state["hf"])
    (root / "inputs.json").write_text(json.dumps(state, indent=2, sort_keys=True) + "\n")
    return inputs_from_state(root, state)


def generate(
    out_dir: Path,
    *,
    instruction_rows: int,
    news_days: int,
    seed: int = 17,
    news_share: float = 1.0,
) -> Inputs:
    """Write the inputs of a first run into ``out_dir`` (its hf/, news/, truth/ are replaced);
    ``news_share`` scales the ~500 articles a day down (the smoke size uses a tenth)."""
    if not 0 < news_share <= 1:
        raise ValueError("news_share must be in (0, 1]")
    if instruction_rows < 100:
        raise ValueError("instruction_rows must be at least 100 (two shards per dataset)")
    root = Path(out_dir)
    for name in ("hf", "news", "truth"):
        shutil.rmtree(root / name, ignore_errors=True)
    root.mkdir(parents=True, exist_ok=True)
    files, counts = _write_instructions(root, instruction_rows, seed)
    expected: Counter[str] = Counter(counts)
    expected.setdefault("hf_changed_rows", 0)
    news = []
    for day in range(1, news_days + 1):
        expected.update(_write_news_day(root, seed, day, news_share))
        news.append(_news_file(day))
    state = {
        "seed": seed,
        "news_share": news_share,
        "hf": [
            {"dataset": d, "revision": REVISION.format(seed=seed), "files": f}
            for d, f in files.items()
        ],
        "news": news,
        "expected": dict(expected),
    }
    return _save_state(root, state)


def _changed_versions(
    rng: np.random.Generator, table: pa.Table, shape: str, pool: pa.Array
) -> pa.Table:
    """The rows with every answer regenerated (same system and user turns)."""
    n = table.num_rows
    if shape == "alpaca":
        output = _prose(rng, rng.integers(6, 26, n))
        return table.set_column(2, "output", output)
    rows = table.column("conversations").to_pylist()
    answers = iter(
        _prose(
            rng, rng.integers(6, 26, sum(t["from"] == "gpt" for r in rows for t in r))
        ).to_pylist()
    )
    for row in rows:
        for turn in row:
            if turn["from"] == "gpt":
                turn["value"] = next(answers)
    return pa.Table.from_pylist([{"conversations": r} for r in rows], schema=HF_SCHEMA["sharegpt"])


def generate_increment(
    out_dir: Path, inputs: Inputs, *, day: int, changed_share: float = 0.01, seed: int = 17
) -> Inputs:
    """Add day ``day``'s news file and an update shard per dataset with ``changed_share`` of
    the base rows changed (answers regenerated); the files already there are not touched."""
    root = Path(out_dir)
    state = json.loads((root / "inputs.json").read_text())
    if state["seed"] != seed:
        raise ValueError(f"{root} was generated with seed {state['seed']}, not {seed}")
    expected: Counter[str] = Counter(state["expected"])
    news_file = _news_file(day)
    if news_file not in state["news"]:
        expected.update(_write_news_day(root, seed, day, state.get("news_share", 1.0)))
        state["news"].append(news_file)
    stamp = f"{_day_date(day):%Y%m%d}"
    revision = f"{REVISION.format(seed=seed)}-update-{stamp}"
    if changed_share > 0 and not any(e["revision"] == revision for e in state["hf"]):
        pool = _code_pool(seed)
        base = [e for e in state["hf"] if e["revision"] == REVISION.format(seed=seed)]
        for entry in base:
            dataset = entry["dataset"]
            shape = dict((d, s) for d, s, _ in DATASETS)[dataset]
            code = dict((d, c) for d, _, c in DATASETS)[dataset]
            rng = np.random.default_rng([seed, code, day, 1_000_003])
            parts = []
            for relative in entry["files"]:
                shard = pq.read_table(root / relative)
                n = shard.num_rows
                picked = np.flatnonzero(rng.random(n) < changed_share)
                if len(picked):
                    parts.append(_changed_versions(rng, shard.take(pa.array(picked)), shape, pool))
                del shard
            if not parts:
                continue
            update = pa.concat_tables(parts)
            relative = f"hf/{dataset}/data/train-update-{stamp}-00000-of-00001.parquet"
            _write(update, root / relative)
            state["hf"].append({"dataset": dataset, "revision": revision, "files": [relative]})
            expected["hf_rows"] += update.num_rows
            expected["hf_changed_rows"] += update.num_rows
            key = "slimorca" if dataset == SLIMORCA else "openhermes"
            expected[f"hf_rows_{key}"] += update.num_rows
    state["expected"] = dict(expected)
    return _save_state(root, state)


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), help="default: small")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--rows", type=int, help="instruction rows (overrides --size)")
    parser.add_argument("--days", type=int, help="news days (overrides --size)")
    parser.add_argument("--increment-day", type=int, help="then add this day's increment")
    parser.add_argument("--changed-share", type=float, default=0.01)
    args = parser.parse_args(argv)
    size = args.size or "small"
    rows, days = SIZES[size]
    rows, days = args.rows or rows, args.days or days
    # --rows/--days without --size: every article of a day, not the smoke size's tenth (a
    # 10-day run once got 498 articles in all)
    news_share = NEWS_SHARE.get(size, 1.0) if args.size or not (args.rows or args.days) else 1.0
    started = time.perf_counter()
    inputs = generate(
        args.out,
        instruction_rows=rows,
        news_days=days,
        seed=args.seed,
        news_share=news_share,
    )
    took = time.perf_counter() - started
    hf_mb, news_mb = _size(inputs.instructions_dir) / 1e6, _size(inputs.news_dir) / 1e6
    label = args.size or ("custom" if args.rows or args.days else "small")
    print(f"generated {label} inputs in {args.out} in {took:.1f} s (seed {args.seed})")
    print(f"  instructions: {inputs.instruction_rows:,} rows, {hf_mb:.1f} MB of Parquet")
    print(f"  news: {inputs.news_days} days, {inputs.news_articles:,} articles, {news_mb:.1f} MB")
    print(f"  rows/s: {inputs.instruction_rows / took:,.0f} (everything included)")
    for name, value in sorted(inputs.expected.items()):
        print(f"    {name:28s} {value:>10,}")
    if args.increment_day:
        started = time.perf_counter()
        after = generate_increment(
            args.out,
            inputs,
            day=args.increment_day,
            changed_share=args.changed_share,
            seed=args.seed,
        )
        took = time.perf_counter() - started
        print(
            f"increment day {args.increment_day} in {took:.1f} s: "
            f"+{after.expected['hf_changed_rows']:,} changed rows, "
            f"+{after.news_articles - inputs.news_articles:,} articles"
        )
    print("environment: " + " ".join(f"{k}={v}" for k, v in inputs.config_overrides.items()))


if __name__ == "__main__":
    main()
