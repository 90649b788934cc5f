"""Export the ``exp_mongo__*`` marts to MongoDB: one document per mart row, keyed by lineage.

Why it is built this way:

- **The marts decide the documents.** One row is one document, a column is a field, DuckDB
  structs and lists become sub-documents and arrays. Nothing here names a score column, so
  a column added to a mart later (a new judge dimension, a new statistic) reaches MongoDB
  with no code change. The mart's ``doc_id`` (derived from lineage ids in SQL) is ``_id``.
  The one exception is ``BUILD_COLUMNS``, a mart's record of what a row was built from.
- **Idempotent.** Each document carries ``_export.hash``, a hash of its exported fields.
  A batch first reads the hashes stored for its ids, then sends only new or changed
  documents as one unordered bulk of ``UpdateOne(upsert=True)``. A rerun with no change in
  the marts writes nothing; ``MongoStats`` counts inserted / updated / unchanged / removed.
- **Resumable.** Batches are independent and keyed by ``_id``, so an export that died
  (server restart, killed process) is finished by running it again: no duplicate, nothing
  missing, and what was stored before the failure stays. The failure itself is one
  ``MongoExportError`` naming the redacted server, the collection and the batch.
- **Removal last.** Only after every batch went through are the documents whose ``_id`` left
  the mart deleted (default) or flagged with ``removed_at`` (``SYNTHLAKE_MONGODB_REMOVAL``):
  a failed run never removes anything.
- **The export owns the fields it wrote, and only those.** ``$set`` writes the mart's
  columns; a column the mart dropped is ``$unset`` (the names written last time are kept in
  ``_export.fields``); fields that someone else added to a document in MongoDB are left
  alone, which is why this uses ``UpdateOne`` and not ``ReplaceOne``.
- **Credentials never leave the URI.** Only ``redact_uri(...)`` is logged or put in errors.
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

import duckdb
from bson.decimal128 import Decimal128
from pymongo import IndexModel, MongoClient, UpdateOne
from pymongo.errors import (
    BulkWriteError,
    CollectionInvalid,
    ConnectionFailure,
    OperationFailure,
    PyMongoError,
)

from synthlake.errors import ExportError, LakeError
from synthlake.lake import Lake, read_only_warehouse
from synthlake.redact import redact_uri

if TYPE_CHECKING:
    from pymongo.collection import Collection
    from pymongo.database import Database

    from synthlake.settings import Settings

logger = logging.getLogger(__name__)

SKIPPED = "MONGODB_URI not set, skipping"

# Fields the export itself writes besides the mart's columns; a mart may not use them.
EXPORT_FIELD = "_export"
REMOVED_FIELD = "removed_at"
RESERVED = frozenset({"_id", EXPORT_FIELD, REMOVED_FIELD})
# Every mart must have these columns: they are what the validator requires.
CORE_COLUMNS = ("doc_id", "question", "answer", "language", "lineage_ids")
# A mart's own bookkeeping, not a field: the fingerprint of the inputs an incremental mart
# compares to build only the rows that changed (exp_mongo__instructions_qa).
BUILD_COLUMNS = frozenset({"input_hash"})

# Ids per `$in` lookup / removal. Real MongoDB takes far more, but mongoeco (the test
# server) turns `$in` into a nested expression and refuses about 500 values and up.
ID_CHUNK = 250

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
NUMBER = ["double", "int", "long", "decimal"]
TOXICITY_FIELDS = (
    "toxicity",
    "severe_toxicity",
    "obscene",
    "identity_attack",
    "insult",
    "threat",
    "sexual_explicit",
)

# The `$jsonSchema` both collections get: the core fields are required and typed; the
# known optional ones are typed when present (a similarity held as a string would silently
# pass `$not: {$elemMatch: {$lte: x}}`); anything else is allowed, so new columns need no
# change here.
VALIDATOR: dict[str, Any] = {
    "$jsonSchema": {
        "bsonType": "object",
        "required": ["question", "answer", "language", "lineage_ids"],
        "properties": {
            "question": {"bsonType": "string", "minLength": 1},
            "answer": {"bsonType": "string", "minLength": 1},
            "language": {"bsonType": "string", "minLength": 2},
            "lineage_ids": {"bsonType": "array", "minItems": 1, "items": {"bsonType": "string"}},
            "tags": {"bsonType": ["array", "null"], "items": {"bsonType": "string"}},
            "date": {"bsonType": ["date", "null"]},
            "sources": {"bsonType": ["array", "null"], "items": {"bsonType": "object"}},
            "similarity": {"bsonType": ["array", "null"], "items": {"bsonType": NUMBER}},
            "judge": {"bsonType": ["array", "null"], "items": {"bsonType": "object"}},
            **{name: {"bsonType": [*NUMBER, "null"]} for name in TOXICITY_FIELDS},
        },
        "additionalProperties": True,
    }
}


@dataclass(frozen=True, slots=True)
class Index:
    """One index: its name (stable, so creating it again is a no-op) and its keys."""

    name: str
    keys: tuple[tuple[str, int], ...]


COMMON_INDEXES = (
    Index("synthlake_language", (("language", 1),)),
    Index("synthlake_toxicity", (("toxicity", 1),)),
    Index("synthlake_judge", (("judge.dimension", 1), ("judge.score", -1))),
)
NEWS_INDEXES = (
    *COMMON_INDEXES,
    Index("synthlake_tags", (("tags", 1),)),
    Index("synthlake_date", (("date", -1),)),
    Index("synthlake_source_site", (("sources.source_site", 1),)),
    Index("synthlake_similarity_min", (("similarity_min", 1),)),
)
INSTRUCTION_INDEXES = (
    *COMMON_INDEXES,
    Index("synthlake_source_dataset", (("source_dataset", 1),)),
)


@dataclass(frozen=True, slots=True)
class MartSpec:
    """Which mart feeds which collection (named by a settings field) with which indexes."""

    relation: str
    collection_setting: str
    indexes: tuple[Index, ...]


MARTS = (
    MartSpec("exp_mongo__news_qa", "mongodb_news_collection", NEWS_INDEXES),
    MartSpec("exp_mongo__instructions_qa", "mongodb_instructions_collection", INSTRUCTION_INDEXES),
)


class MongoExportError(ExportError):
    """The MongoDB export failed; names the redacted server, collection and batch.

    ``transient`` is true for connection failures (a rerun or a retry can finish the job)
    and false for problems a rerun repeats (a mart that breaks the document contract).
    """

    def __init__(
        self,
        message: str,
        *,
        server: str,
        collection: str | None = None,
        batch: int | None = None,
        transient: bool = False,
    ) -> None:
        self.server = server
        self.collection = collection
        self.batch = batch
        self.transient = transient
        super().__init__(message)


@dataclass(slots=True)
class CollectionStats:
    """Counters of one mart -> collection export (``writes`` = documents written)."""

    relation: str
    collection: str
    rows: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    rejected: int = 0
    writes: int = 0
    batches: int = 0
    rejected_examples: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(slots=True)
class MongoStats:
    """What ``export_mongo`` did: ``status`` is 'skipped', 'ok' or 'rejected_rows'."""

    status: Literal["skipped", "ok", "rejected_rows"]
    message: str
    server: str | None = None
    database: str | None = None
    removal: str | None = None
    seconds: float = 0.0
    collections: dict[str, CollectionStats] = field(default_factory=dict)

    @property
    def writes(self) -> int:
        return sum(c.writes for c in self.collections.values())

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["writes"] = self.writes
        return out


@dataclass(frozen=True, slots=True)
class BatchProgress:
    """Passed to ``on_batch`` after each batch is stored (progress, tests' fault hooks)."""

    collection: str
    batch: int
    rows_done: int
    rows_total: int
    stats: CollectionStats


# --- rows -> documents ------------------------------------------------------------------


def to_bson(value: Any) -> Any:
    """A DuckDB Python value as a BSON-storable one, normalized so that hashing is stable.

    Timestamps become UTC datetimes truncated to milliseconds (what BSON keeps), dates
    midnight UTC, decimals doubles, integers past int64 ``Decimal128``, UUIDs strings.
    """
    if value is None or isinstance(value, bool | str | float | bytes):
        return value
    if isinstance(value, int):
        return value if INT64_MIN <= value <= INT64_MAX else Decimal128(str(value))
    if isinstance(value, dict):
        return {str(k): to_bson(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_bson(v) for v in value]
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        value = value.astimezone(dt.UTC)
        return value.replace(microsecond=value.microsecond // 1000 * 1000)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
    if isinstance(value, decimal.Decimal):
        # DuckDB types a literal like 0.81 DECIMAL; as Decimal128 it would not mix with the
        # doubles of the other scores in $avg or in the validator. Cast to VARCHAR in the
        # mart to keep exact digits.
        return float(value)
    if isinstance(value, dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    raise TypeError(f"no BSON mapping for {type(value).__name__}: {value!r}")


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return {"$date": value.isoformat()}
    if isinstance(value, bytes):
        return {"$binary": value.hex()}
    return {"$str": str(value)}  # Decimal128


def document_hash(fields: dict[str, Any]) -> str:
    """SHA-256 of the fields as canonical JSON: equal fields, equal hash, whatever the order."""
    text = json.dumps(
        fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_json_default
    )
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def row_document(columns: Sequence[str], row: Sequence[Any]) -> tuple[str, dict[str, Any]]:
    """(``_id``, fields) of one mart row: every column but ``doc_id`` is a field."""
    fields = {name: to_bson(value) for name, value in zip(columns, row, strict=True)}
    return fields.pop("doc_id"), fields


def check_columns(relation: str, columns: Sequence[str]) -> None:
    """Fail early, naming the mart, when its columns break the document contract."""
    missing = [c for c in CORE_COLUMNS if c not in columns]
    if missing:
        raise ExportError(f"{relation} lacks the column(s) {', '.join(missing)}")
    bad = sorted(c for c in columns if c in RESERVED or "." in c or c.startswith("$"))
    if bad:
        raise ExportError(
            f"{relation} has column(s) the export cannot use as field names: {', '.join(bad)} "
            f"(reserved: {', '.join(sorted(RESERVED))}; no '.' and no leading '$')"
        )


# --- the export -------------------------------------------------------------------------


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _scrub(text: str, uri: str) -> str:
    """Remove the URI's credentials from a driver message (belt and braces)."""
    text = text.replace(uri, redact_uri(uri))
    userinfo = urlsplit(uri).netloc.rpartition("@")[0] if "@" in uri else ""
    return text.replace(userinfo + "@", "***@") if userinfo else text


@contextmanager
def _mongo_errors(
    uri: str, where: str, *, collection: str | None = None, batch: int | None = None
) -> Iterator[None]:
    """Turn a driver error into one ``MongoExportError`` a person can act on."""
    try:
        yield
    except PyMongoError as exc:
        server = redact_uri(uri)
        transient = isinstance(exc, ConnectionFailure)
        hint = (
            " Documents stored before it are kept; run the export again to finish "
            "(it writes only what is missing or changed)."
            if transient
            else ""
        )
        if isinstance(exc, BulkWriteError):
            errors = exc.details.get("writeErrors") or [{}]
            first = errors[0]
            reason = (
                f"{len(errors)} write(s) refused, first: code {first.get('code')}: "
                f"{first.get('errmsg')}"
            )
        else:
            reason = f"{type(exc).__name__}: {exc}"
        reason = _scrub(reason, uri)
        if len(reason) > 600:
            reason = reason[:600] + "..."
        raise MongoExportError(
            f"MongoDB export to {server} failed {where}: {reason}.{hint}",
            server=server,
            collection=collection,
            batch=batch,
            transient=transient,
        ) from exc


def ensure_collection(db: Database, name: str, indexes: Iterable[Index]) -> list[str]:
    """Create the collection with its validator (or update it) and its indexes.

    Returns notes for what the server could not do (mongoeco has no ``collMod``): the
    export still runs, since the validator is a guard, not what makes documents right.
    """
    notes: list[str] = []
    exists = name in db.list_collection_names(filter={"name": name})
    if not exists:
        try:
            db.create_collection(
                name, validator=VALIDATOR, validationLevel="strict", validationAction="error"
            )
        except CollectionInvalid:
            exists = True  # created meanwhile by another exporter
        except OperationFailure as exc:
            db.create_collection(name)
            notes.append(f"created {name} without a validator: {exc}")
    if exists:
        info = db.command("listCollections", filter={"name": name})["cursor"]["firstBatch"]
        current = info[0].get("options", {}).get("validator") if info else None
        if document_hash(current or {}) != document_hash(VALIDATOR):
            try:
                db.command(
                    "collMod",
                    name,
                    validator=VALIDATOR,
                    validationLevel="strict",
                    validationAction="error",
                )
            except OperationFailure as exc:
                notes.append(f"validator of {name} not updated (server: {exc})")
    db[name].create_indexes([IndexModel(list(ix.keys), name=ix.name) for ix in indexes])
    for note in notes:
        logger.warning("mongodb: %s", note)
    return notes


def _write_batch(
    col: Collection,
    ids: list[str],
    docs: list[dict[str, Any]],
    stats: CollectionStats,
    *,
    run_id: str | None,
) -> None:
    """Upsert what is new or changed among one batch; count the rest as unchanged."""
    stored: dict[str, dict[str, Any]] = {}
    for chunk in _chunks(ids, ID_CHUNK):
        projection = {f"{EXPORT_FIELD}.hash": 1, f"{EXPORT_FIELD}.fields": 1, REMOVED_FIELD: 1}
        for found in col.find({"_id": {"$in": list(chunk)}}, projection):
            stored[found["_id"]] = found
    now = dt.datetime.now(dt.UTC)
    ops: list[UpdateOne] = []
    is_new: list[bool] = []
    op_ids: list[str] = []
    for doc_id, fields in zip(ids, docs, strict=True):
        digest = document_hash(fields)
        old = stored.get(doc_id)
        old_export = (old or {}).get(EXPORT_FIELD) or {}
        if old is not None and old_export.get("hash") == digest and REMOVED_FIELD not in old:
            stats.unchanged += 1
            continue
        names = sorted(fields)
        update: dict[str, Any] = {
            "$set": {
                **fields,
                EXPORT_FIELD: {
                    "hash": digest,
                    "fields": names,
                    "exported_at": now,
                    "run_id": run_id,
                },
            }
        }
        stale = set(old_export.get("fields") or ()) - set(names)
        if old is not None and REMOVED_FIELD in old:
            stale.add(REMOVED_FIELD)
        if stale:
            update["$unset"] = {name: "" for name in sorted(stale)}
        ops.append(UpdateOne({"_id": doc_id}, update, upsert=True))
        is_new.append(old is None)
        op_ids.append(doc_id)
    if not ops:
        return
    failed: dict[int, dict[str, Any]] = {}
    try:
        col.bulk_write(ops, ordered=False)
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors", [])
        if any(e.get("code") != 121 for e in errors):  # 121: failed document validation
            raise
        failed = {e["index"]: e for e in errors}
    for index, new in enumerate(is_new):
        if index in failed:
            stats.rejected += 1
            if len(stats.rejected_examples) < 5:
                stats.rejected_examples.append(
                    f"{op_ids[index]}: {failed[index].get('errmsg', 'refused')}"
                )
        elif new:
            stats.inserted += 1
        else:
            stats.updated += 1
    stats.writes += len(ops) - len(failed)


def _remove_missing(
    col: Collection, seen: set[str], removal: Literal["delete", "flag"], stats: CollectionStats
) -> None:
    """Delete (or flag) the export's documents whose ``_id`` is no longer in the mart."""
    owned: dict[str, Any] = {f"{EXPORT_FIELD}.hash": {"$exists": True}}
    if removal == "flag":
        owned[REMOVED_FIELD] = {"$exists": False}
    gone = [d["_id"] for d in col.find(owned, {"_id": 1}) if d["_id"] not in seen]
    now = dt.datetime.now(dt.UTC)
    for chunk in _chunks(gone, ID_CHUNK):
        where = {"_id": {"$in": list(chunk)}}
        if removal == "delete":
            done = col.delete_many(where).deleted_count
        else:
            done = col.update_many(where, {"$set": {REMOVED_FIELD: now}}).matched_count
        stats.removed += done
        stats.writes += done


def export_relation(
    con: duckdb.DuckDBPyConnection,
    db: Database,
    spec: MartSpec,
    collection: str,
    *,
    uri: str,
    batch_size: int,
    removal: Literal["delete", "flag"],
    run_id: str | None = None,
    on_batch: Callable[[BatchProgress], None] | None = None,
) -> CollectionStats:
    """Export one mart into one collection, batch by batch; see the module docstring."""
    stats = CollectionStats(relation=spec.relation, collection=collection)
    described = con.execute(f'select * from "{spec.relation}" limit 0').description
    columns = [d[0] for d in described if d[0] not in BUILD_COLUMNS]
    check_columns(spec.relation, columns)  # before touching the server
    with _mongo_errors(uri, f"preparing collection {collection!r}", collection=collection):
        stats.notes = ensure_collection(db, collection, spec.indexes)
    total = con.execute(f'select count(*) from "{spec.relation}"').fetchone()[0]
    selected = ", ".join('"' + c.replace('"', '""') + '"' for c in columns)
    cursor = con.execute(f'select {selected} from "{spec.relation}" order by doc_id')
    col = db[collection]
    seen: set[str] = set()
    done = 0
    while rows := cursor.fetchmany(batch_size):
        stats.batches += 1
        ids: list[str] = []
        docs: list[dict[str, Any]] = []
        for row in rows:
            try:
                doc_id, fields = row_document(columns, row)
            except TypeError as exc:
                raise ExportError(f"{spec.relation}: {exc}") from exc
            if not isinstance(doc_id, str) or not doc_id:
                raise ExportError(f"{spec.relation}: a row has no doc_id: {fields!r:.200}")
            if doc_id in seen:
                raise ExportError(f"{spec.relation}: doc_id {doc_id!r} is not unique")
            seen.add(doc_id)
            ids.append(doc_id)
            docs.append(fields)
        where = (
            f"at batch {stats.batches} (rows {done + 1}-{done + len(rows)} of {total}) "
            f"of {spec.relation} -> collection {collection!r}"
        )
        with _mongo_errors(uri, where, collection=collection, batch=stats.batches):
            _write_batch(col, ids, docs, stats, run_id=run_id)
        done += len(rows)
        stats.rows = done
        logger.debug("mongodb %s: batch %d, %d/%d rows", collection, stats.batches, done, total)
        if on_batch is not None:
            on_batch(BatchProgress(collection, stats.batches, done, total, stats))
    where = f"removing documents no longer in {spec.relation} from {collection!r}"
    with _mongo_errors(uri, where, collection=collection):
        _remove_missing(col, seen, removal, stats)
    return stats


def connect(settings: Settings) -> MongoClient:
    """A ``pymongo.MongoClient`` for the configured URI, failing fast when it is unreachable."""
    if settings.mongodb_uri is None:
        raise ExportError("MONGODB_URI is not set")
    timeout_ms = int(settings.mongodb_timeout_s * 1000)
    return MongoClient(
        settings.mongodb_uri.get_secret_value(),
        serverSelectionTimeoutMS=timeout_ms,
        connectTimeoutMS=timeout_ms,
        tz_aware=True,
        appname="synthlake-export",
    )


def export_mongo(
    settings: Settings,
    lake: Lake,
    *,
    run_id: str | None = None,
    on_batch: Callable[[BatchProgress], None] | None = None,
) -> MongoStats:
    """Export both ``exp_mongo__*`` marts of the warehouse to their collections.

    Without ``MONGODB_URI`` this does nothing and says so (the offline default run).
    Raises ``MongoExportError`` (an ``ExportError``) when the server fails mid-way, and
    ``ExportError`` when a mart breaks the document contract.
    """
    if settings.mongodb_uri is None:
        logger.info("mongodb: %s", SKIPPED)
        return MongoStats(status="skipped", message=SKIPPED)
    if not lake.warehouse.is_file():
        raise LakeError(f"no warehouse at {lake.warehouse}: run `synthlake build` first")
    uri = settings.mongodb_uri.get_secret_value()
    server = redact_uri(uri)
    started = time.perf_counter()
    stats = MongoStats(
        status="ok",
        message="",
        server=server,
        database=settings.mongodb_database,
        removal=settings.mongodb_removal,
    )
    logger.info("mongodb: exporting to %s, database %r", server, settings.mongodb_database)
    with read_only_warehouse(lake.warehouse, settings.duckdb_memory_limit) as con:
        present = {
            row[0]
            for row in con.execute("select table_name from information_schema.tables").fetchall()
        }
        absent = [spec.relation for spec in MARTS if spec.relation not in present]
        if absent:
            raise ExportError(
                f"the warehouse {lake.warehouse} has no {', '.join(absent)}: run `synthlake build`"
            )
        with connect(settings) as client:
            with _mongo_errors(uri, "connecting"):
                client.admin.command("ping")
            db = client[settings.mongodb_database]
            for spec in MARTS:
                collection = getattr(settings, spec.collection_setting)
                result = export_relation(
                    con,
                    db,
                    spec,
                    collection,
                    uri=uri,
                    batch_size=settings.mongodb_batch_size,
                    removal=settings.mongodb_removal,
                    run_id=run_id,
                    on_batch=on_batch,
                )
                stats.collections[collection] = result
                logger.info(
                    "mongodb %s: rows=%d inserted=%d updated=%d unchanged=%d removed=%d "
                    "rejected=%d writes=%d",
                    collection,
                    result.rows,
                    result.inserted,
                    result.updated,
                    result.unchanged,
                    result.removed,
                    result.rejected,
                    result.writes,
                )
    stats.seconds = time.perf_counter() - started
    rejected = sum(c.rejected for c in stats.collections.values())
    if rejected:
        stats.status = "rejected_rows"
        stats.message = (
            f"{rejected} row(s) failed the collection validator and were not written; "
            "see rejected_examples"
        )
        logger.warning("mongodb: %s", stats.message)
    else:
        stats.message = f"{stats.writes} document write(s) to {server}"
    return stats
