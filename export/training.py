"""Write the training dataset: ``exp_train__sft`` -> ``lake/exports/training/``.

The mart has already decided everything (which pairs are fit to train on, and the seeded
split; see ``models/marts/exports/exp_train__sft.sql``); this module reads the rows whose
``exclude_reason`` is null from the warehouse (read-only) and writes:

- ``train.jsonl``, ``validation.jsonl``, ``eval.jsonl`` (always, empty when a split is), one
  row per QA pair in the chat format other tools (and ``train/``) rely on, and the same rows
  as ``data/<split>-00000-of-00001.parquet`` for each split that has rows::

    {"id": qa_id, "messages": [{"role": "system"|"user"|"assistant", "content": str}, ...],
     "language": "it", "domain": "instructions"|"news", "source_dataset": str|null,
     "split": "train"|"validation"|"eval", "judge_score": float|null,
     "sources": [{"title": str, "content": str}] (news only, else []),
     "reference_model": str|null (the LLM that wrote a news answer)}

- ``manifest.json``: ``snapshot_id`` (sha256 of the rows sorted by id, so the same rows give
  the same id whatever the run), counts, the thresholds the mart applied, ``created_at``.
- ``README.md``: the dataset card (sources and licenses, counts, score distribution,
  thresholds, dedup and quarantine counts, models and prompt versions, how to load it).

Loading with Hugging Face ``datasets``: a split with no rows makes ``load_dataset`` fail
(``Instruction "eval" corresponds to no data!``), so the card's ``configs`` name only the
splits that have rows, and only those get a Parquet file. The Parquet files follow the
hub's own layout (``data/{split}-00000-of-00001.parquet``), which ``datasets`` reads with
the split names as they are, so both ``load_dataset("<folder>")`` and
``load_dataset("parquet", data_dir="<folder>")`` give ``train``/``validation``/``eval``
(the JSONL files beside them are not picked up by either call).

The rows stream from the warehouse in id order, ``READ_BATCH_ROWS`` at a time: each is
written to its split's JSONL file and Parquet writer and folded into ``snapshot_id`` and the
card's tallies as it passes, so Python holds a few batches, not the dataset. Reading the
warehouse is DuckDB's sort by id, under the build's memory limit. On the medium
rehearsal's lake with every pair exported (95k rows), the export's peak RSS went from
972 MB (every row a Python dict) to 638 MB, with the same snapshot id.

The files are written into a temporary folder beside the target and swapped in with
renames, so a failure at any point before the swap leaves the previous export as it was.
``push_to_hub`` uploads the folder with ``huggingface_hub`` (``HF_ENDPOINT``, ``HF_TOKEN``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from synthlake.errors import DependencyMissing, ExportError, LakeError
from synthlake.lake import Lake, read_only_warehouse, replace_folder
from synthlake.training import training_thresholds

if TYPE_CHECKING:
    from synthlake.settings import Settings

log = logging.getLogger(__name__)

MART = "exp_train__sft"
THRESHOLDS_TABLE = "int_training_thresholds"
SPLITS = ("train", "validation", "eval")
FORMAT_VERSION = 2  # 2: Parquet under data/ (hub layout), only for the splits with rows
READ_BATCH_ROWS = 5_000  # rows per batch read from the warehouse (and per Parquet row group)

# The columns the export reads; a mart without them was built by older code.
REQUIRED_COLUMNS = (
    "qa_id",
    "messages",
    "language",
    "domain",
    "source_dataset",
    "split",
    "judge_score",
    "sources",
    "reference_model",
    "exclude_reason",
)

MESSAGE = pa.struct([("role", pa.string()), ("content", pa.string())])
SOURCE = pa.struct([("title", pa.string()), ("content", pa.string())])
ROW_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("messages", pa.list_(MESSAGE)),
        ("language", pa.string()),
        ("domain", pa.string()),
        ("source_dataset", pa.string()),
        ("split", pa.string()),
        ("judge_score", pa.float64()),
        ("sources", pa.list_(SOURCE)),
        ("reference_model", pa.string()),
    ]
)

# What is known of each source's terms; anything else points at its dataset page.
LICENSES = {
    "open-orca/slimorca": "MIT",
}
NEWS_TERMS = (
    "the outlets' own terms (ANSA, Il Post, Open): articles are quoted as sources of "
    "generated summaries, for research use; check each outlet's terms before any other use"
)


@dataclass(slots=True)
class TrainingExport:
    """What ``export_training`` wrote (and pushed)."""

    directory: Path
    snapshot_id: str
    counts: dict[str, int]
    excluded: dict[str, int]
    files: dict[str, Path] = field(default_factory=dict)
    pushed_to: str | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def n_rows(self) -> int:
        return sum(self.counts.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "directory": str(self.directory),
            "snapshot_id": self.snapshot_id,
            "rows": self.n_rows,
            "counts": dict(self.counts),
            "excluded": dict(self.excluded),
            "files": {name: str(path) for name, path in self.files.items()},
            "pushed_to": self.pushed_to,
            "warnings": list(self.warnings),
        }


@dataclass(slots=True)
class _Snapshot:
    # Contract rows: a list (any order), or the warehouse's stream, which comes in id order
    # and can be read once (``open_snapshot``).
    rows: Iterable[dict[str, Any]]
    thresholds: dict[str, Any]
    excluded: dict[str, int]
    scores: list[dict[str, Any]]
    models: dict[str, list[str]]
    funnel: list[dict[str, Any]] | None
    quarantine: list[dict[str, Any]] | None
    warnings: list[str]


# --- reading --------------------------------------------------------------------------------
def _tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    rows = con.execute("select table_name from information_schema.tables").fetchall()
    return {row[0] for row in rows}


def _dicts(con: duckdb.DuckDBPyConnection, sql: str) -> list[dict[str, Any]]:
    cursor = con.execute(sql)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _contract_row(row: dict[str, Any]) -> dict[str, Any]:
    """One mart row in the JSONL contract (keys and their order fixed)."""
    score = row["judge_score"]
    return {
        "id": row["qa_id"],
        "messages": [{"role": m["role"], "content": m["content"]} for m in row["messages"] or []],
        "language": row["language"],
        "domain": row["domain"],
        "source_dataset": row["source_dataset"],
        "split": row["split"],
        "judge_score": None if score is None else float(score),
        "sources": [
            {"title": s["title"] or "", "content": s["content"] or ""}
            for s in (row["sources"] or [])
        ]
        if row["domain"] == "news"
        else [],
        "reference_model": row["reference_model"] if row["domain"] == "news" else None,
    }


def read_snapshot(warehouse: Path, settings: Settings | None = None) -> _Snapshot:
    """Read the exportable rows (as a list) and what the card reports from the warehouse."""
    with open_snapshot(warehouse, settings) as snapshot:
        snapshot.rows = list(snapshot.rows)
        return snapshot


@contextmanager
def open_snapshot(warehouse: Path, settings: Settings | None = None) -> Iterator[_Snapshot]:
    """The warehouse's snapshot (read-only) with its rows as a stream, readable while the
    connection is open: inside the ``with``."""
    if not warehouse.is_file():
        raise LakeError(f"no warehouse at {warehouse}: run `synthlake build` first")
    limit = "auto" if settings is None else settings.duckdb_memory_limit
    try:  # under the build's memory limit: the sort by id spills rather than grows
        con = read_only_warehouse(warehouse, limit)
    except duckdb.Error as exc:
        raise LakeError(f"cannot open the warehouse {warehouse}: {exc}") from exc
    with con:
        try:
            snapshot = _read(con, warehouse, settings)
        except duckdb.Error as exc:
            raise ExportError(f"reading {MART} from {warehouse} failed: {exc}") from exc
        yield snapshot


def _read(con: duckdb.DuckDBPyConnection, warehouse: Path, settings: Settings | None) -> _Snapshot:
    tables = _tables(con)
    if MART not in tables:
        raise ExportError(
            f"the warehouse {warehouse} has no {MART} mart: run `synthlake build` "
            "(it is built from qa_pairs)"
        )
    columns = {
        row[0]
        for row in con.execute(
            "select column_name from information_schema.columns where table_name = ?",
            [MART],
        ).fetchall()
    }
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise ExportError(
            f"{MART} in {warehouse} lacks the column(s) {', '.join(missing)}: it was built "
            "by other code; run `synthlake build`"
        )
    splits = ", ".join(f"'{s}'" for s in SPLITS)
    bad = con.execute(
        f"select min(qa_id), count(*) from {MART} where exclude_reason is null "
        f"and (split is null or split not in ({splits}))"
    ).fetchone()
    if bad and bad[1]:
        raise ExportError(
            f"{MART}: exported row(s) without a valid split, e.g. {bad[0]!r} "
            f"({bad[1]} in all): the mart is inconsistent, rebuild it"
        )
    excluded = dict(
        con.execute(
            f"select exclude_reason, count(*) from {MART} where exclude_reason is not null "
            "group by 1 order by 1"
        ).fetchall()
    )
    warnings: list[str] = []
    thresholds = _thresholds(con, tables, settings, warnings)
    scores = _score_distribution(con)
    models = _models(con, columns)
    funnel = _optional(
        con,
        tables,
        "rpt_funnel",
        "select domain, stage, measure, reason, n_rows from rpt_funnel "
        "where measure in ('rows_dropped', 'rows_flagged') and n_rows > 0 "
        "order by domain, stage_order, measure, reason",
        warnings,
    )
    quarantine = _optional(
        con,
        tables,
        "llm_failures",
        "select stage, reason, count(*) as n_rows from llm_failures group by all "
        "order by stage, reason",
        warnings,
    )
    return _Snapshot(
        rows=_stream_rows(con, warehouse),
        thresholds=thresholds,
        excluded={str(k): int(v) for k, v in excluded.items()},
        scores=scores,
        models=models,
        funnel=funnel,
        quarantine=quarantine,
        warnings=warnings,
    )


def _stream_rows(con: duckdb.DuckDBPyConnection, warehouse: Path) -> Iterator[dict[str, Any]]:
    """The exportable rows in id order, as contract rows, read a batch at a time."""
    sql = (
        f"select {', '.join(REQUIRED_COLUMNS)} from {MART} "
        "where exclude_reason is null order by qa_id"
    )
    try:
        reader = con.sql(sql).to_arrow_reader(READ_BATCH_ROWS)
        for batch in reader:
            yield from (_contract_row(r) for r in batch.to_pylist())
    except (duckdb.Error, pa.ArrowException) as exc:
        raise ExportError(f"reading {MART} from {warehouse} failed: {exc}") from exc


def _optional(
    con: duckdb.DuckDBPyConnection,
    tables: set[str],
    table: str,
    sql: str,
    warnings: list[str],
) -> list[dict[str, Any]] | None:
    """A report the card quotes if the warehouse has it (None when absent or unreadable)."""
    if table not in tables:
        return None
    try:
        return _dicts(con, sql)
    except duckdb.Error as exc:
        warnings.append(f"{table} could not be read for the dataset card: {exc}")
        return None


def _thresholds(
    con: duckdb.DuckDBPyConnection, tables: set[str], settings: Settings | None, warnings: list[str]
) -> dict[str, Any]:
    """The thresholds the mart was built with; a difference from the settings is a warning."""
    current = training_thresholds(settings) if settings is not None else None
    if THRESHOLDS_TABLE not in tables:
        if current is None:
            return {}
        warnings.append(f"no {THRESHOLDS_TABLE} in the warehouse: thresholds from the settings")
        return current
    found = _dicts(con, f"select * exclude (thresholds_id) from {THRESHOLDS_TABLE}")
    if not found:
        raise ExportError(f"{THRESHOLDS_TABLE} is empty: run `synthlake build`")
    built = found[0]
    built = {k: (float(v) if isinstance(v, float) else v) for k, v in built.items()}
    if current is not None:
        changed = sorted(k for k in current if k in built and current[k] != built[k])
        if changed:
            warnings.append(
                "the warehouse was built with other training settings ("
                + ", ".join(f"{k}: built {built[k]!r}, now {current[k]!r}" for k in changed)
                + "): run `synthlake build` to apply the current ones"
            )
    return built


def _score_distribution(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    return _dicts(
        con,
        f"""
        select
            domain,
            case
                when judge_score is null then 'not scored'
                when judge_score >= 5 then '5'
                else cast(floor(judge_score) as integer) || '-' ||
                    cast(floor(judge_score) as integer) + 1
            end as score,
            count(*) filter (where exclude_reason is null) as exported,
            count(*) as all_pairs,
        from {MART}
        group by all
        order by domain, score
        """,
    )


def _models(con: duckdb.DuckDBPyConnection, columns: set[str]) -> dict[str, list[str]]:
    """Models and prompt versions behind the exported rows (label -> sorted names)."""
    wanted = {
        "judge": ("judge_llm", None),
        "judge prompts": ("judge_prompt_versions", None),
        "news answers / translations": ("generator_llm", None),
        "news / translation prompt versions": ("generator_prompt_version", None),
        "toxicity (Detoxify)": ("toxicity_model", "toxicity_status = 'ok'"),
    }
    out: dict[str, list[str]] = {}
    for label, (column, condition) in wanted.items():
        if column not in columns or (condition and "toxicity_status" not in columns):
            continue
        values = con.execute(
            f"select distinct {column} from {MART} "
            f"where exclude_reason is null and {column} is not null "
            f"and {condition or 'true'} order by 1"
        ).fetchall()
        names = sorted({part for (v,) in values for part in str(v).split(",") if part})
        if names:
            out[label] = names
    return out


# --- writing --------------------------------------------------------------------------------
def snapshot_id(rows: list[dict[str, Any]]) -> str:
    """sha256 of the rows sorted by id (each as canonical JSON): same rows, same id."""
    digest = _StreamDigest()
    for row in sorted(rows, key=lambda r: r["id"]):
        digest.add(row)
    return digest.hexdigest()


class _StreamDigest:
    """``snapshot_id`` of rows that pass by in id order (the warehouse's stream, or a list
    ``snapshot_id`` sorted), without holding the rows. A row out of order is an error, as
    the id would then depend on the order the rows came in."""

    def __init__(self) -> None:
        self._sha = hashlib.sha256()
        self._last: str | None = None

    def add(self, row: dict[str, Any]) -> None:
        if self._last is not None and row["id"] < self._last:
            raise ExportError(
                f"{MART} rows came out of id order ({row['id']!r} after {self._last!r}): "
                "the snapshot id needs them sorted"
            )
        self._last = row["id"]
        self._sha.update(json.dumps(row, sort_keys=True, ensure_ascii=False).encode() + b"\n")

    def hexdigest(self) -> str:
        return self._sha.hexdigest()


@dataclass(slots=True)
class _Tally:
    """What the manifest and the card count over the rows, gathered as they are written."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SPLITS, 0))
    strata: Counter = field(default_factory=Counter)  # (language, domain, split) -> rows
    sources: Counter = field(default_factory=Counter)  # (domain, source_dataset) -> rows

    def add(self, row: dict[str, Any]) -> None:
        self.counts[row["split"]] += 1
        self.strata[(row["language"], row["domain"], row["split"])] += 1
        self.sources[(row["domain"], row["source_dataset"])] += 1

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def languages(self) -> list[str]:
        return sorted({language for language, _, _ in self.strata})

    def by_stratum(self) -> list[dict[str, Any]]:
        strata: dict[tuple[str, str], dict[str, Any]] = {}
        for (language, domain, split), n in self.strata.items():
            entry = strata.setdefault(
                (language, domain),
                {"language": language, "domain": domain} | dict.fromkeys(SPLITS, 0),
            )
            entry[split] = n
        return [strata[key] for key in sorted(strata)]


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def parquet_name(split: str) -> str:
    """A split's Parquet file, in the hub's layout (``datasets`` keeps the split name)."""
    return f"data/{split}-00000-of-00001.parquet"


class _SplitWriter:
    """One split's JSONL file, and its Parquet file once it has a row (an empty split has
    none: `datasets` refuses a split without rows). Rows reach Parquet a row group at a time."""

    def __init__(self, folder: Path, split: str) -> None:
        self.folder, self.split = folder, split
        self.jsonl = folder / f"{split}.jsonl"
        self._fh = self.jsonl.open("w", encoding="utf-8")
        self._parquet: pq.ParquetWriter | None = None
        self._pending: list[dict[str, Any]] = []

    def add(self, row: dict[str, Any]) -> None:
        self._fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        self._pending.append(row)
        if len(self._pending) >= READ_BATCH_ROWS:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        if self._parquet is None:
            path = self.folder / parquet_name(self.split)
            path.parent.mkdir(exist_ok=True)
            self._parquet = pq.ParquetWriter(path, ROW_SCHEMA)
        self._parquet.write_table(pa.Table.from_pylist(self._pending, schema=ROW_SCHEMA))
        self._pending = []

    def close(self) -> dict[str, Path]:
        """Flush and close; the files written, by their name in the export."""
        try:
            self._flush()
        finally:
            self._fh.close()
            if self._parquet is not None:
                self._parquet.close()
        files = {f"{self.split}.jsonl": self.jsonl}
        if self._parquet is not None:
            files[parquet_name(self.split)] = self.folder / parquet_name(self.split)
        return files

    def abandon(self) -> None:
        """Close the files without flushing (the folder is about to be removed)."""
        self._fh.close()
        if self._parquet is not None:
            self._parquet.close()


def _write_rows(
    folder: Path, rows: Iterable[dict[str, Any]]
) -> tuple[dict[str, Path], _Tally, str]:
    """Write every split's files in one pass over ``rows``; the files, tallies, snapshot id."""
    held = isinstance(rows, list)  # a list may be in any order: its id sorts a copy
    digest = None if held else _StreamDigest()
    tally = _Tally()
    writers = {split: _SplitWriter(folder, split) for split in SPLITS}
    try:
        for row in rows:
            if row["split"] not in writers:
                raise ExportError(
                    f"{MART}: exported row {row['id']!r} has no valid split "
                    f"({row['split']!r}): the mart is inconsistent, rebuild it"
                )
            writers[row["split"]].add(row)
            tally.add(row)
            if digest is not None:
                digest.add(row)
        files: dict[str, Path] = {}
        for split in SPLITS:
            files.update(writers.pop(split).close())
    finally:
        for writer in writers.values():
            writer.abandon()
    snap = snapshot_id(rows) if held else digest.hexdigest()
    return files, tally, snap


def _recover(target: Path) -> None:
    """A crash between the renames of ``replace_folder`` leaves ``.<name>.old-*``: restore it."""
    parent = target.parent
    if target.exists() or not parent.is_dir():
        return
    olds = sorted(parent.glob(f".{target.name}.old-*"), key=lambda p: p.stat().st_mtime)
    if olds:
        os.replace(olds[-1], target)
        log.warning("restored the previous training export from %s", olds[-1])


def write_export(
    snapshot: _Snapshot,
    target: Path,
    *,
    now: datetime | None = None,
) -> TrainingExport:
    """Write the files into a temporary folder beside ``target``, then swap it in."""
    _recover(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    created_at = (now or datetime.now(UTC)).isoformat()
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    tmp.mkdir()
    try:
        files, tally, snap = _write_rows(tmp, snapshot.rows)
        manifest = {
            "format_version": FORMAT_VERSION,
            "snapshot_id": snap,
            "created_at": created_at,
            "counts": tally.counts | {"total": tally.total},
            "counts_by_stratum": tally.by_stratum(),
            "excluded": snapshot.excluded,
            "thresholds": snapshot.thresholds,
            "models": snapshot.models,
            "files": {
                name: {"sha256": _sha256_file(path), "bytes": path.stat().st_size}
                for name, path in sorted(files.items())
            },
        }
        (tmp / "manifest.json").write_text(
            json.dumps(manifest, indent=2, ensure_ascii=False, default=str) + "\n",
            encoding="utf-8",
        )
        (tmp / "README.md").write_text(dataset_card(snapshot, manifest, tally), encoding="utf-8")
        replace_folder(tmp, target)
    except (OSError, pa.ArrowException, TypeError, ValueError) as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ExportError(f"writing the training export to {target} failed: {exc}") from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    final_files = {name: target / name for name in sorted(files)}
    final_files["manifest.json"] = target / "manifest.json"
    final_files["README.md"] = target / "README.md"
    return TrainingExport(
        directory=target,
        snapshot_id=snap,
        counts=dict(tally.counts),
        excluded=dict(snapshot.excluded),
        files=final_files,
        warnings=list(snapshot.warnings),
    )


# --- the dataset card -----------------------------------------------------------------------
def _table(headers: list[str], rows: list[list[Any]]) -> str:
    def cell(value: Any) -> str:
        return "" if value is None else str(value).replace("|", "\\|")

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _license(dataset: str | None) -> str:
    if dataset is None:
        return NEWS_TERMS
    known = LICENSES.get(dataset.lower())
    page = f"https://huggingface.co/datasets/{dataset}"
    return f"{known} ({page})" if known else f"see the dataset page: {page}"


def dataset_card(snapshot: _Snapshot, manifest: dict[str, Any], tally: _Tally) -> str:
    """The README.md beside the files (Hugging Face dataset card, YAML header first)."""
    languages = tally.languages
    counts = manifest["counts"]
    sources = tally.sources
    all_mit = bool(sources) and all(
        LICENSES.get((dataset or "").lower()) == "MIT" for _, dataset in sources
    )
    licenses = "mit" if all_mit else "other"
    filled = [s for s in SPLITS if counts[s]]  # `datasets` refuses a split with no rows
    configs = [
        "configs:",
        "- config_name: default",
        "  data_files:",
        *[f"  - split: {s}\n    path: {parquet_name(s)}" for s in filled],
    ]
    header = [
        "---",
        f"license: {licenses}",
        "language:",
        *[f"- {lang}" for lang in languages or ["it"]],
        "task_categories:",
        "- text-generation",
        *(configs if filled else []),
        "---",
        "",
    ]
    out = header + [
        "# synthlake supervised fine-tuning dataset",
        "",
        "Chat-format QA pairs built by synthlake: "
        "instruction datasets from Hugging Face, made multilingual by verified translation, "
        "and QA pairs integrating Italian news articles, every pair scored by an LLM judge "
        "and Detoxify and filtered by the thresholds below.",
        "",
        f"- snapshot_id: `{manifest['snapshot_id']}` (sha256 of the rows sorted by id)",
        f"- created_at: {manifest['created_at']}",
        f"- rows: {counts['total']} (train {counts['train']}, validation "
        f"{counts['validation']}, eval {counts['eval']})",
        "",
        "## Row format",
        "",
        "One JSON object per line (the Parquet files hold the same columns):",
        "",
        "```json",
        '{"id": "ins:...", "messages": [{"role": "system", "content": "..."}, '
        '{"role": "user", "content": "..."}, {"role": "assistant", "content": "..."}], '
        '"language": "it", "domain": "instructions", "source_dataset": "Open-Orca/SlimOrca", '
        '"split": "train", "judge_score": 4.0, "sources": [], "reference_model": null}',
        "```",
        "",
        "`messages` holds the system turn if any, then every user/assistant turn (multi-turn "
        "conversations whole). News pairs carry their `sources` (title, content) and the "
        "`reference_model` that wrote the answer. `judge_score` is the lowest score the "
        "judge gave over the configured dimensions (0-5), null when it could not score.",
        "",
        "## Splits",
        "",
        "`eval` is held out: it is never in `train` or `validation`. The split is a seeded "
        "hash bucket of each pair's key (md5 of `seed:key`, independent of the other rows), "
        "so each (language, domain) stratum gets the configured fractions in expectation and "
        "a pair keeps its split when later exports add rows; a translation shares the split "
        "of its original, so no translation of an eval pair is trained on.",
        "",
        "## Sources and licenses",
        "",
        _table(
            ["domain", "source", "rows", "license / terms"],
            [
                [domain, dataset or "news outlets (ANSA, Il Post, Open)", n, _license(dataset)]
                for (domain, dataset), n in sorted(sources.items(), key=lambda kv: str(kv[0]))
            ],
        ),
        "",
        "News articles remain the outlets' property; the pairs are meant for research. "
        "Instruction rows keep their source dataset's license; for any source not "
        "marked above, see its dataset page.",
        "",
        "## Counts per language, domain and split",
        "",
        _table(
            ["language", "domain", *SPLITS],
            [
                [s["language"], s["domain"], *[s[k] for k in SPLITS]]
                for s in manifest["counts_by_stratum"]
            ],
        ),
        "",
        "## Judge score distribution",
        "",
        "Lowest judge score per pair, over every QA pair of the warehouse and over the "
        "exported ones:",
        "",
        _table(
            ["domain", "score", "exported", "all pairs"],
            [[s["domain"], s["score"], s["exported"], s["all_pairs"]] for s in snapshot.scores],
        ),
        "",
        "## Thresholds used",
        "",
        _table(
            ["setting", "value"],
            [[f"training_{k}", v] for k, v in sorted(snapshot.thresholds.items())],
        ),
        "",
        "Pairs left out, by reason (first reason that applies):",
        "",
        _table(["reason", "pairs"], [[k, v] for k, v in sorted(snapshot.excluded.items())])
        if snapshot.excluded
        else "none",
        "",
        "With `training_unscored = exclude` (the default) a pair the judge could not score "
        "is left out: the bundled local judge (SmolLM2-135M) often fails to answer with a "
        "score, and an unscored answer is not evidence of quality. Set "
        "`SYNTHLAKE_TRAINING_UNSCORED=include` to export them (their `judge_score` is null).",
        "",
        "## Deduplication and quarantine",
        "",
    ]
    if snapshot.funnel is None:
        out.append("rpt_funnel is not in the warehouse (or unreadable): no funnel counts.")
    elif not snapshot.funnel:
        out.append("No row was dropped or flagged upstream.")
    else:
        out.append(
            _table(
                ["domain", "stage", "measure", "reason", "rows"],
                [
                    [f["domain"], f["stage"], f["measure"], f["reason"], f["n_rows"]]
                    for f in snapshot.funnel
                ],
            )
        )
    out += ["", "LLM answers quarantined (unusable, never stored as answers):", ""]
    if snapshot.quarantine is None:
        out.append("llm_failures is not in the warehouse (or unreadable): no quarantine counts.")
    elif not snapshot.quarantine:
        out.append("none")
    else:
        out.append(
            _table(
                ["stage", "reason", "requests"],
                [[q["stage"], q["reason"], q["n_rows"]] for q in snapshot.quarantine],
            )
        )
    out += [
        "",
        "## Models and prompt versions",
        "",
        _table(
            ["role", "models / prompts"], [[k, ", ".join(v)] for k, v in snapshot.models.items()]
        )
        if snapshot.models
        else "none recorded",
        "",
        "## How to load",
        "",
        "```python",
        "from datasets import load_dataset",
        "",
        'ds = load_dataset("path/to/this/folder")  # or the hub repo id it was pushed to',
        '# the same rows: load_dataset("parquet", data_dir="path/to/this/folder")',
        'ds["train"][0]["messages"]',
        "```",
        "",
        "The Parquet files (`data/<split>-00000-of-00001.parquet`, one per split with rows) "
        "are what both calls read; the JSONL files hold the same rows, one per line: "
        '`load_dataset("json", data_files={"train": "train.jsonl", ...})`. '
        "`manifest.json` lists the files with their sha256.",
        "",
    ]
    empty = [s for s in SPLITS if not counts[s]]
    if empty:
        out += [
            f"Split(s) with no rows in this snapshot: {', '.join(empty)}. `datasets` cannot "
            "load a split without rows, so they have no Parquet file and are not in the "
            "card's `configs` (their `.jsonl` files are empty); name only the others in "
            "`data_files`.",
            "",
        ]
    return "\n".join(out)


# --- the entry points -----------------------------------------------------------------------
def export_training(
    settings: Settings, lake: Lake, *, push: str | None = None, now: datetime | None = None
) -> TrainingExport:
    """Export ``exp_train__sft`` to ``lake/exports/training/`` (and push it if asked)."""
    with open_snapshot(lake.warehouse, settings) as snapshot:  # the rows stream while written
        result = write_export(snapshot, lake.exports / "training", now=now)
    if result.n_rows == 0 and result.excluded:
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(result.excluded.items()))
        hint = (
            " (SYNTHLAKE_TRAINING_UNSCORED=include exports the pairs the judge could not score)"
            if "unscored" in result.excluded
            else ""
        )
        result.warnings.append(
            f"the training dataset is empty: every pair was left out ({reasons}){hint}"
        )
    for warning in result.warnings:
        log.warning("training export: %s", warning)
    log.info(
        "training export: rows=%d train=%d validation=%d eval=%d excluded=%s -> %s",
        result.n_rows,
        result.counts["train"],
        result.counts["validation"],
        result.counts["eval"],
        result.excluded,
        result.directory,
    )
    if push:
        result.pushed_to = push_to_hub(result.directory, push)
    return result


def push_to_hub(folder: Path, repo_id: str, *, private: bool = True) -> str:
    """Upload ``folder`` to the dataset repo ``repo_id`` (created if missing); returns its URL.

    The hub is ``HF_ENDPOINT`` (default huggingface.co), the token ``HF_TOKEN`` (or the one
    ``huggingface-cli login`` stored); neither is logged.
    """
    try:
        from huggingface_hub import HfApi, constants
        from huggingface_hub.errors import HfHubHTTPError
    except ImportError as exc:  # pragma: no cover - huggingface_hub is a dependency
        raise DependencyMissing("huggingface_hub", "pushing the training dataset") from exc
    if constants.is_offline_mode():
        raise ExportError(
            f"cannot push to the hub dataset {repo_id}: HF_HUB_OFFLINE (or "
            f"TRANSFORMERS_OFFLINE) is set; the export stays in {folder}"
        )
    api = HfApi(
        endpoint=os.environ.get("HF_ENDPOINT") or None,
        token=os.environ.get("HF_TOKEN") or None,
    )
    try:
        repo = api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        api.upload_folder(
            repo_id=repo_id,
            repo_type="dataset",
            folder_path=str(folder),
            commit_message=f"synthlake training export {manifest['snapshot_id'][:12]}",
        )
    except HfHubHTTPError as exc:
        raise ExportError(f"pushing {folder} to the hub dataset {repo_id} failed: {exc}") from exc
    except Exception as exc:  # a connection error (httpx), a malformed answer: one clear line
        raise ExportError(
            f"pushing {folder} to the hub dataset {repo_id} failed: {type(exc).__name__}: {exc}"
        ) from exc
    log.info("training export pushed to %s", repo)
    return str(repo)
