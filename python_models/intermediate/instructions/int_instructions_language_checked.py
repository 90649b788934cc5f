"""One row per instruction example: the language lingua detects in each turn and overall,
and whether it disagrees with the dataset's label.

Thin dbt Python model (it reads refs and returns Arrow): the logic is
``synthlake.instructions.langid``.
"""

from synthlake.instructions.langid import BATCH_ROWS, LanguageIdentifier, check_languages
from synthlake.settings import load_settings


def model(dbt, session):
    dbt.config(materialized="table")
    instructions = dbt.ref("stg_hf__instructions")
    labels = {row[0] for row in instructions.project("language").distinct().fetchall()}
    identifier = LanguageIdentifier.from_settings(load_settings(), extra=labels)
    # streamed: at 760k rows the texts as one table, and their detections, cost gigabytes
    rows = instructions.project("id, language, turns").to_arrow_reader(BATCH_ROWS)
    return check_languages(rows, identifier)
