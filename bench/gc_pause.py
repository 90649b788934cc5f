"""How long a full garbage collection holds the GIL in the build's process, with and without
the parsed project frozen (``HeapFreezer`` in ``synthlake/pipeline/dbt_runner.py``).

The build's Python models share dbt's process (and its GIL) with the LLM stages' clients; a
full collection stops them all while it walks every tracked object. This parses the project
the way a build does (``run_dbt(["parse"])``, with the libraries a run imports), keeps the
manifest alive as the build does, and times ``gc.collect()`` before and after ``gc.freeze()``.

    .venv/bin/python -m bench.gc_pause
"""

from __future__ import annotations

import gc
import statistics
import tempfile
import time
from pathlib import Path


def full_collection_s(repeat: int = 5) -> float:
    """Median seconds of one full collection."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        gc.collect()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    # what a build imports beside dbt (the embedding model's torch and transformers, the LLM
    # client, lingua, Prefect): their objects are in the heap a collection walks too
    import lingua  # noqa: F401
    import openai  # noqa: F401
    import prefect  # noqa: F401
    import pyarrow  # noqa: F401
    import sentence_transformers  # noqa: F401

    from synthlake.pipeline.dbt_runner import run_dbt
    from synthlake.settings import load_settings

    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(lake_root=Path(tmp) / "lake")
        result = run_dbt(["parse"], settings)
        manifest = result.result  # alive for the whole build, as in `synthlake run`
        gc.collect()
        tracked = len(gc.get_objects())
        before = full_collection_s()
        gc.freeze()
        frozen = gc.get_freeze_count()
        after = full_collection_s()
        gc.unfreeze()
        print(f"manifest: {len(manifest.nodes)} nodes; tracked objects: {tracked:,}")
        print(f"full collection, heap as parsed:     {before * 1000:7.1f} ms")
        print(f"full collection, parsed heap frozen: {after * 1000:7.1f} ms ({frozen:,} frozen)")


if __name__ == "__main__":
    main()
