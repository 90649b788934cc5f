"""The README's walkthrough "From the first run to a real dataset" cannot rot.

Its configuration lines for Ollama, a vLLM server and Gemini are read from README.md (an
edit that breaks one fails here), checked against the *LLM providers* section, and run:
each block's `export` lines become the environment of `synthlake llm "..."` (the question
is the README's own), with the host of the URL replaced by a local stand-in of the server
(the scripted OpenAI-compatible server; the Gemini stand-in through google-genai's
`GOOGLE_GEMINI_BASE_URL`). An answer must come back, from the model the README names; for
the OpenAI-compatible servers `synthlake doctor`'s generation probe must pass too.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from typer.testing import CliRunner

from synthlake.pipeline.cli import app
from synthlake.settings import PROJECT_DIR, LLMSpec
from tests.fixtures.llm_servers import GeminiServer, OpenAICompatServer

README = PROJECT_DIR / "README.md"
TITLE = "## From the first run to a real dataset"
ANSWER = "Roma è la capitale d'Italia."
FENCE = re.compile(r"^[ \t]*```bash\n(.*?)^[ \t]*```", re.S | re.M)


@dataclass(frozen=True)
class ProviderBlock:
    label: str  # the line the README puts before the block ("Ollama (...)")
    env: dict[str, str]  # its `export NAME=VALUE` lines


def section(text: str, title: str) -> str:
    assert title in text, f"README.md has no section {title!r}"
    body = text.split(title, 1)[1]
    return re.split(r"^#{2,3} ", body, maxsplit=1, flags=re.M)[0]


def exports(block: str) -> dict[str, str]:
    env = {}
    for line in block.splitlines():
        words = shlex.split(line, comments=True)
        if words[:1] == ["export"]:
            name, _, value = words[1].partition("=")
            env[name] = value
    return env


def provider_blocks() -> list[ProviderBlock]:
    text = section(README.read_text(encoding="utf-8"), TITLE)
    blocks = []
    for match in FENCE.finditer(text):
        env = exports(match.group(1))
        if "SYNTHLAKE_LLM" in env:
            before = [line.strip() for line in text[: match.start()].splitlines() if line.strip()]
            blocks.append(ProviderBlock(label=before[-1], env=env))
    return blocks


def walkthrough_question() -> str:
    text = section(README.read_text(encoding="utf-8"), TITLE)
    for match in FENCE.finditer(text):
        for line in match.group(1).splitlines():
            words = shlex.split(line, comments=True)
            if words[:2] == ["synthlake", "llm"]:
                return words[2]
    raise AssertionError('the walkthrough has no `synthlake llm "..."` line')


BLOCKS = provider_blocks()


def test_the_walkthrough_names_the_three_providers_as_the_llm_providers_section_does() -> None:
    assert [b.label.split()[0] for b in BLOCKS] == ["Ollama", "A", "Gemini"]
    assert "vLLM" in BLOCKS[1].label
    providers = section(README.read_text(encoding="utf-8"), "### LLM providers")
    for block in BLOCKS:
        assert f"SYNTHLAKE_LLM={block.env['SYNTHLAKE_LLM']}" in providers, block


def test_the_walkthrough_question_is_a_real_one() -> None:
    assert walkthrough_question().strip()


@pytest.mark.parametrize("block", BLOCKS, ids=[b.label.split()[0] for b in BLOCKS])
def test_each_configuration_line_gets_an_answer(
    block: ProviderBlock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = LLMSpec.parse(block.env["SYNTHLAKE_LLM"])
    env = dict(block.env) | {"SYNTHLAKE_LAKE_ROOT": str(tmp_path / "lake")}
    question = walkthrough_question()

    if spec.provider == "openai":
        assert spec.base_url, "an OpenAI-compatible server is named by its URL"
        server = OpenAICompatServer(model=spec.model, reply=lambda body: ANSWER)
    else:
        assert spec.provider == "gemini"
        server = GeminiServer(reply=lambda body: ANSWER)
    with server:
        if spec.provider == "openai":
            # the README's host and port -> the local server's; the path (/v1) stays
            path = urlsplit(spec.base_url).path
            env["SYNTHLAKE_LLM"] = f"openai:{spec.model}@{server.root_url}{path}"
        else:
            env["GOOGLE_GEMINI_BASE_URL"] = server.base_url
        for name, value in env.items():
            monkeypatch.setenv(name, value)

        result = CliRunner().invoke(app, ["llm", question])
        assert result.exit_code == 0, result.output
        assert result.stdout.strip() == ANSWER
        [request] = server.generation_requests()
        if spec.provider == "openai":
            assert request.path == "/v1/chat/completions"
            assert request.body["model"] == spec.model
            assert question in request.body["messages"][-1]["content"]
        else:
            assert f"/models/{spec.model}:generateContent" in request.path

        if spec.provider == "openai":
            from synthlake.pipeline.doctor import run_checks
            from synthlake.settings import load_settings

            checks = [c for c in run_checks(load_settings()) if c.stage.startswith("llm")]
            assert len(checks) == 3 and all(c.ok for c in checks), checks
            assert all(c.detail.endswith("generates") for c in checks), checks
