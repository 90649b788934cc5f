"""The Prefect flow ``ingest_hf``: download the datasets of ``hf_datasets.csv`` into the lake.

The flow only wires tasks; what a task does lives in ``ingest/hf_download.py``. Datasets
are ingested one after another (they append to the same raw table); a dataset that fails
does not stop the others, and the flow fails at the end, naming every failure, so a
scheduled run shows red while everything that could be stored was stored.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.tasks import exponential_backoff
from synthlake.ingest.hf import HFStats
from synthlake.ingest.hf_download import (
    HFDatasetSpec,
    ingest_dataset,
    read_dataset_specs,
)

from synthlake.errors import FetchError, retry_if_transient
from synthlake.lake import Lake, new_run_id
from synthlake.settings import Settings, load_settings


@task(name="read_dataset_list", cache_policy=NO_CACHE)
def read_dataset_list(path: Path) -> list[HFDatasetSpec]:
    specs = read_dataset_specs(path)
    get_run_logger().info("%s lists %d datasets", path, len(specs))
    return specs


@task(
    name="ingest_dataset",
    cache_policy=NO_CACHE,
    retries=3,
    retry_delay_seconds=exponential_backoff(backoff_factor=10),
    retry_jitter_factor=0.5,
    retry_condition_fn=retry_if_transient,  # network hiccups; never a missing dataset
)
def ingest_dataset_task(
    spec: HFDatasetSpec, lake: Lake, settings: Settings, run_id: str
) -> HFStats:
    stats = ingest_dataset(spec, lake, settings, run_id=run_id)
    logger = get_run_logger()
    if stats.error:
        logger.error("%s: %s", spec.dataset, stats.error)
    elif stats.skipped:
        logger.info("%s: %s, nothing downloaded", spec.dataset, stats.skipped)
    else:
        logger.info(
            "%s: %s", spec.dataset, {k: v for k, v in stats.as_dict().items() if k != "files"}
        )
    return stats


@flow(name="ingest_hf")
def ingest_hf(
    datasets_file: str | None = None,
    lake_root: str | None = None,
    sample_rows: int | None = None,
    seed: int | None = None,
    retry_backoff_s: float = 10.0,
) -> dict[str, dict[str, Any]]:
    """Download and import each listed dataset at its revision (skipping ones already in).

    Parameters override the settings (``SYNTHLAKE_HF_DATASETS_FILE``, ``..._HF_SAMPLE_ROWS``,
    ``..._HF_SEED``). Returns the stats per dataset; raises ``FetchError`` at the end if
    any dataset failed.
    """
    overrides: dict[str, Any] = {}
    if lake_root:
        overrides["lake_root"] = Path(lake_root)
    if datasets_file:
        overrides["hf_datasets_file"] = Path(datasets_file)
    if sample_rows is not None:
        overrides["hf_sample_rows"] = sample_rows
    if seed is not None:
        overrides["hf_seed"] = seed
    settings = load_settings(**overrides)
    lake = Lake.from_settings(settings).ensure()
    run_id = new_run_id()
    specs = read_dataset_list(settings.hf_datasets_file)
    step = ingest_dataset_task.with_options(
        retry_delay_seconds=exponential_backoff(backoff_factor=retry_backoff_s)
    )
    results: dict[str, dict[str, Any]] = {}
    failures: list[str] = []
    for spec in specs:
        state = step(spec, lake, settings, run_id, return_state=True)
        outcome = state.result(raise_on_failure=False)
        if isinstance(outcome, HFStats):
            results[spec.dataset] = outcome.as_dict()
            if outcome.error:
                failures.append(f"{spec.dataset}: {outcome.error}")
        else:
            results[spec.dataset] = {"error": str(outcome)}
            failures.append(f"{spec.dataset}: {outcome}")
    if failures:
        raise FetchError(
            str(settings.hf_datasets_file),
            f"{len(failures)} of {len(specs)} datasets failed (the others were stored): "
            + "; ".join(failures),
        )
    return results
