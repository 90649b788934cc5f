"""The instruction domain end to end on the bundled sample, through the real command line.

Checked on the shared `synthlake run` of the sample (tests/e2e/conftest.py), whose profile
translates a fixed selection of rows with the embedded local LLM (SmolLM2-135M): dedup,
language ID, translation into the target languages, verification. Then, on a copy of that
lake, the translation step over every row pointed at a test server that answers in the
wrong language, which verification must catch, and a rebuild that must not call the LLM.

SmolLM2-135M translates poorly: most of its attempts are expected to be quarantined (the
point of verification); what must hold is that no failed attempt is labelled with the
language and that code comes back byte-identical.
"""

from __future__ import annotations

import json
import re
import shutil
import tomllib
from pathlib import Path

import pytest

from synthlake.sampling import seeded_selection
from synthlake.settings import Settings
from tests.e2e.conftest import SAMPLE_CONFIG, SampleRun, cli, rows, uncached_llm_calls
from tests.fixtures.llm_servers import OpenAICompatServer
from tests.integration.hf.fake_translator import wrong_language

pytestmark = pytest.mark.slow

TARGETS = {"it", "fr", "es", "de"}
SAMPLE_TRANSLATE_ROWS = tomllib.loads(SAMPLE_CONFIG.read_text())["translate_max_rows"]
SEED = tomllib.loads(SAMPLE_CONFIG.read_text()).get(
    "translate_seed", Settings.model_fields["translate_seed"].default
)
SELECT = ["build", "--select", "+int_instructions_translated"]
FENCE = re.compile(r"```.*?```", re.DOTALL)


def translate_calls(lake: Path) -> int:
    return uncached_llm_calls(lake).get("translate", 0)


@pytest.fixture(scope="module")
def lake(sample_run: SampleRun) -> Path:
    return sample_run.lake


@pytest.fixture(scope="module")
def server_lake(sample_run: SampleRun, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A copy of the sample lake whose translations are redone by a test server that
    answers in the wrong language, over every row (no sample selection)."""
    root = tmp_path_factory.mktemp("e2e-instructions")
    lake = root / "lake"
    shutil.copytree(sample_run.lake, lake)
    (root / "all_rows.toml").write_text("# every row\n")
    before = rows(lake, "select count(*) from int_instructions_translated")[0][0]
    with OpenAICompatServer(reply=wrong_language) as server:
        llm = f"openai:test-model@{server.base_url}"
        result = cli(
            lake,
            *SELECT,
            SYNTHLAKE_CONFIG=str(root / "all_rows.toml"),
            SYNTHLAKE_LLM_TRANSLATE=llm,
            SYNTHLAKE_LLM_REQUESTS_PER_MINUTE="100000",
            DBT_INDIRECT_SELECTION="cautious",
        )
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        calls = server.call_count
    # rows name the model, not its URL (LLMSpec.identity)
    identity = llm.partition("@")[0]
    return {"lake": lake, "llm": identity, "before": before, "server_calls": calls, "root": root}


def test_every_target_language_gets_translations_never_mislabelled(lake: Path) -> None:
    got = rows(
        lake,
        "select target_language, status, count(*) from int_instructions_translated group by all",
    )
    assert {language for language, _, _ in got} <= TARGETS
    sources = rows(
        lake, "select count(*) from int_instructions_checked where is_translation_source"
    )[0][0]
    # the sample profile translates a fixed selection of rows, one language each: the
    # seeded selection among the full check's translation sources (the model checked the
    # languages of the rows it needed itself)
    assert sum(n for _, _, n in got) == min(sources, SAMPLE_TRANSLATE_ROWS)
    source_ids = rows(lake, "select id from int_instructions_checked where is_translation_source")
    translated = rows(lake, "select distinct id from int_instructions_translated order by id")
    expected = seeded_selection([i for (i,) in source_ids], SAMPLE_TRANSLATE_ROWS, seed=SEED)
    assert [i for (i,) in translated] == expected
    outcome = {(language, status): n for language, status, n in got}
    print("\nSmolLM2-135M translation outcome on the sample:", json.dumps(sorted(outcome.items())))
    # verified rows carry their language and passed every check; the rest never do
    assert rows(
        lake,
        "select count(*) from int_instructions_translated where "
        "(status = 'verified') <> (language is not null and language = target_language) "
        "or (status = 'verified' and not (language_ok and spans_ok and length_ok)) "
        "or (status <> 'verified' and len(reasons) = 0)",
    ) == [(0,)]
    # the language check ran on every attempted translation long enough to judge
    assert rows(
        lake,
        "select count(*) from int_instructions_translated where status <> 'untranslatable' "
        "and detected_language is null and not list_contains(reasons, 'too_short_to_verify')",
    ) == [(0,)]


@pytest.mark.parametrize("which", ["sample", "server"])
def test_code_blocks_are_byte_identical(which: str, lake: Path, server_lake: dict) -> None:
    pairs = rows(
        lake if which == "sample" else server_lake["lake"],
        "select s.output, t.output, t.status from int_instructions_translated t "
        "join stg_hf__instructions s using (id) "
        "where s.output like '%```%' and t.status <> 'untranslatable'",
    )
    if which == "sample" and not pairs:
        pytest.skip("no code answer among the sample profile's selection")
    assert pairs, "the sample has code answers; the server got every row"
    for source, translated, _ in pairs:
        assert FENCE.findall(translated) == FENCE.findall(source)


def test_wrong_language_from_a_server_is_caught_and_a_rebuild_calls_nothing(
    server_lake: dict,
) -> None:
    lake, llm = server_lake["lake"], server_lake["llm"]
    assert server_lake["server_calls"] > 0
    attempts = rows(
        lake,
        "select status, language, reasons from int_instructions_translated "
        f"where llm = '{llm}' and status <> 'untranslatable'",
    )
    assert attempts
    assert all(status == "quarantined" and language is None for status, language, _ in attempts)
    judged = [reasons for _, _, reasons in attempts if "too_short_to_verify" not in reasons]
    assert judged and all("wrong_language" in reasons for reasons in judged)
    # every translation source got an attempt from the server
    sources = rows(
        lake, "select count(*) from int_instructions_checked where is_translation_source"
    )[0][0]
    server_rows = rows(
        lake, f"select count(*) from int_instructions_translated where llm = '{llm}'"
    )[0][0]
    assert server_rows == sources
    assert rows(lake, "select count(*) from int_instructions_translated")[0][0] == (
        server_lake["before"] + server_rows
    )

    # the default LLM and the sample profile again: everything is stored, nothing is sent
    calls = translate_calls(lake)
    again = cli(lake, *SELECT, DBT_INDIRECT_SELECTION="cautious")
    assert again.returncode == 0, again.stderr[-3000:]
    assert translate_calls(lake) == calls
    assert rows(lake, "select count(*) from int_instructions_translated")[0][0] == (
        server_lake["before"] + server_rows
    )
