"""Prefect flows of the export room: ``export_mongo`` (marts -> MongoDB) and
``export_training`` (``exp_train__sft`` -> lake/exports/training/, optionally the Hub).

The flow only wires a task; what the task does lives in ``export/mongo.py``. The task is
retried on connection failures only: the export is idempotent and resumable, so a retry
finishes what a server restart interrupted; a mart that breaks the document contract fails
at once (retrying would fail the same way). ``refresh`` reuses the task
(``upsert_mongo_documents``) after its dbt build.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.tasks import exponential_backoff
from synthlake.export.mongo import export_mongo as run_mongo_export
from synthlake.export.training import export_training as run_training_export

from synthlake.errors import retry_if_transient
from synthlake.lake import Lake, new_run_id
from synthlake.settings import Settings, load_settings


@task(
    name="upsert_mongo_documents",
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=exponential_backoff(backoff_factor=10),
    retry_jitter_factor=0.5,
    # a lost or unreachable server is retried (MongoExportError.transient); a bad mart never
    retry_condition_fn=retry_if_transient,
)
def upsert_mongo_documents(
    settings: Settings, lake: Lake, run_id: str | None = None
) -> dict[str, Any]:
    """Export the ``exp_mongo__*`` marts; a no-op (status 'skipped') without MONGODB_URI."""
    stats = run_mongo_export(settings, lake, run_id=run_id)
    logger = get_run_logger()
    if stats.status == "skipped":
        logger.info("mongodb: %s", stats.message)
    for name, coll in stats.collections.items():
        logger.info(
            "mongodb %s: inserted=%d updated=%d unchanged=%d removed=%d rejected=%d",
            name,
            coll.inserted,
            coll.updated,
            coll.unchanged,
            coll.removed,
            coll.rejected,
        )
    if stats.status == "rejected_rows":
        logger.warning("mongodb: %s", stats.message)
    return stats.as_dict()


@flow(name="export_mongo")
def export_mongo(lake_root: str | None = None) -> dict[str, Any]:
    """Export the built warehouse's QA pairs to MongoDB (``MONGODB_URI``).

    Returns the export summary (see ``synthlake.export.mongo.MongoStats.as_dict``).
    """
    settings = load_settings(**({"lake_root": Path(lake_root)} if lake_root else {}))
    lake = Lake.from_settings(settings).require()
    return upsert_mongo_documents(settings, lake, new_run_id())


@task(name="write_training_dataset", cache_policy=NO_CACHE)
def write_training_dataset(
    settings: Settings, lake: Lake, push: str | None = None
) -> dict[str, Any]:
    """Write the training dataset (JSONL + Parquet + manifest + card); push it if asked.

    Not retried: the files are local (a failure leaves the previous export intact) and a
    failed push is better rerun by hand than repeated against a hub that refused it.
    """
    result = run_training_export(settings, lake, push=push)
    logger = get_run_logger()
    for warning in result.warnings:
        logger.warning("training export: %s", warning)
    logger.info(
        "training export: rows=%d %s excluded=%s -> %s",
        result.n_rows,
        " ".join(f"{split}={n}" for split, n in result.counts.items()),
        result.excluded,
        result.directory,
    )
    return result.as_dict()


@flow(name="export_training")
def export_training(lake_root: str | None = None, push: str | None = None) -> dict[str, Any]:
    """Export the built warehouse's ``exp_train__sft`` to lake/exports/training/.

    ``push``: a Hugging Face dataset repo (``owner/name``) to upload the folder to. Returns
    the export summary (see ``synthlake.export.training.TrainingExport.as_dict``).
    """
    settings = load_settings(**({"lake_root": Path(lake_root)} if lake_root else {}))
    lake = Lake.from_settings(settings).require()
    return write_training_dataset(settings, lake, push)
