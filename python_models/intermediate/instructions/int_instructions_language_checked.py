"""One row per instruction example: the language lingua detects in each turn and overall,
and whether it disagrees with the dataset's label.

Thin dbt Python model (it reads refs and returns Arrow): the logic is
``synthlake.instructions.langid``.
"""

from synthlake.instructions.langid import LanguageIdentifier, check_languages
from synthlake.settings import load_settings


def model(dbt, session):
    dbt.config(materialized="table")
    rows = dbt.ref("stg_hf__instructions").project("id, language, turns").to_arrow_table()
    labels = set(rows.column("language").to_pylist())
    identifier = LanguageIdentifier.from_settings(load_settings(), extra=labels)
    return check_languages(rows, identifier)
