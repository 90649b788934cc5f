from __future__ import annotations

from pathlib import Path

import pytest

from synthlake.errors import SettingsError
from synthlake.settings import LLMSpec, load_settings


def test_defaults_are_the_offline_components() -> None:
    settings = load_settings()
    assert settings.llm_for("judge") == LLMSpec("local", "smollm2")
    assert settings.embedder == "usem3"
    assert settings.detoxify_model == "multilingual"
    assert settings.lake_root == Path("lake")
    assert settings.mongodb_uri is None


def test_environment_overrides_and_stage_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNTHLAKE_LLM", "gemini:gemini-2.5-flash")
    monkeypatch.setenv("SYNTHLAKE_LLM_JUDGE", "openai:judge-8b@http://127.0.0.1:8000/v1")
    monkeypatch.setenv("SYNTHLAKE_DBT_THREADS", "4")
    monkeypatch.setenv("MONGODB_URI", "mongodb://u:p@127.0.0.1:27017")
    settings = load_settings()
    assert settings.llm_for("summarize") == LLMSpec("gemini", "gemini-2.5-flash")
    assert settings.llm_for("judge") == LLMSpec("openai", "judge-8b", "http://127.0.0.1:8000/v1")
    assert settings.dbt_threads == 4
    assert settings.mongodb_uri.get_secret_value() == "mongodb://u:p@127.0.0.1:27017"
    assert "p@" not in repr(settings)  # secrets are not printed


def test_toml_file_is_read_and_env_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "conf.toml"
    config.write_text('lake_root = "/data/lake"\nllm = "gemini:gemini-2.5-pro"\n')
    monkeypatch.setenv("SYNTHLAKE_CONFIG", str(config))
    monkeypatch.setenv("SYNTHLAKE_LLM", "local:smollm2")
    settings = load_settings()
    assert settings.lake_root == Path("/data/lake")
    assert settings.llm == "local:smollm2"


def test_synthlake_toml_in_cwd_is_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "synthlake.toml").write_text("dbt_threads = 3\n")
    monkeypatch.chdir(tmp_path)
    assert load_settings().dbt_threads == 3


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("SYNTHLAKE_LLM", "foo:bar", "unknown LLM provider 'foo'"),
        ("SYNTHLAKE_LLM", "smollm2", "is not 'provider:model'"),
        ("SYNTHLAKE_LLM", "gemini:x@http://h", "only the openai provider takes a base URL"),
        ("SYNTHLAKE_EMBEDDER", "word2vec", "unknown embedder 'word2vec'"),
        ("SYNTHLAKE_TIMEZONE", "Europe/Milano", "unknown time zone"),
        ("SYNTHLAKE_DETOXIFY_MODEL", "huge", "SYNTHLAKE_DETOXIFY_MODEL = 'huge'"),
        ("SYNTHLAKE_DBT_THREADS", "zero", "SYNTHLAKE_DBT_THREADS = 'zero'"),
    ],
)
def test_bad_values_name_the_setting(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert message in str(info.value)
    assert name in str(info.value)


def test_misspelt_variable_is_an_error_with_a_suggestion(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNTHLAKE_LAKE_ROT", "/tmp/x")
    with pytest.raises(SettingsError, match="SYNTHLAKE_LAKE_ROT.*did you mean SYNTHLAKE_LAKE_ROOT"):
        load_settings()


def test_unknown_key_in_toml_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "synthlake.toml"
    config.write_text('lake_rot = "x"\n')
    monkeypatch.setenv("SYNTHLAKE_CONFIG", str(config))
    with pytest.raises(SettingsError, match="lake_rot.*unknown setting"):
        load_settings()


def test_missing_config_file_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNTHLAKE_CONFIG", "/nonexistent/synthlake.toml")
    with pytest.raises(SettingsError, match="/nonexistent/synthlake.toml"):
        load_settings()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("local:smollm2", LLMSpec("local", "smollm2")),
        ("local:/models/gemma-2b", LLMSpec("local", "/models/gemma-2b")),
        (
            "openai:llama-3.1-8b@http://127.0.0.1:8000/v1",
            LLMSpec("openai", "llama-3.1-8b", "http://127.0.0.1:8000/v1"),
        ),
        ("openai:gpt-4o-mini", LLMSpec("openai", "gpt-4o-mini")),
        ("gemini:gemini-2.5-flash", LLMSpec("gemini", "gemini-2.5-flash")),
    ],
)
def test_llm_spec_parse(text: str, expected: LLMSpec) -> None:
    assert LLMSpec.parse(text) == expected
    assert str(LLMSpec.parse(text)) == text


def test_readme_documents_every_setting() -> None:
    from synthlake.settings import PROJECT_DIR, Settings

    readme = (PROJECT_DIR / "README.md").read_text(encoding="utf-8")
    missing = [
        f"SYNTHLAKE_{name.upper()}"
        for name in Settings.model_fields
        if f"SYNTHLAKE_{name.upper()}" not in readme
    ]
    assert missing == []
