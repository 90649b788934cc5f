"""The two Mongo marts written straight to the warehouse with SQL, for the export tests.

Same names and column types as the dbt models, so each test states exactly the rows it
exports (one test builds the real dbt models instead).
"""

from __future__ import annotations

import duckdb

from synthlake.lake import Lake

NEWS = "exp_mongo__news_qa"
INSTRUCTIONS = "exp_mongo__instructions_qa"

# Two news pairs with every nested shape the real mart has (lists of structs, timestamps).
NEWS_SQL = """
select * from (values
    ('n1', 'c1', ['a1', 'a2'], timestamptz '2023-12-14 15:50:00+01', ['arte', 'roma'],
     [{'id': 'a1', 'title': 'Al Maxxi', 'link': 'https://www.ansa.it/x', 'date':
       timestamptz '2023-12-14 15:50:00+01', 'content': 'Testo uno', 'tags': ['arte'],
       'source_site': 'ansa'},
      {'id': 'a2', 'title': 'Maxxi, design', 'link': 'https://www.ilpost.it/y', 'date':
       timestamptz '2023-12-13 10:00:00+01', 'content': 'Testo due', 'tags': [],
       'source_site': 'ilpost'}],
     [0.81, 0.93], 0.81, 'Riassumi e integra i testi.', 'Il Maxxi presenta...', 'it',
     0.0004, 'summarize-v1', 'local:smollm2'),
    ('n2', 'c2', ['a3'], timestamptz '2024-01-06 18:54:00+01', ['politica'],
     [{'id': 'a3', 'title': 'Vertici Ue', 'link': 'https://www.open.online/z', 'date':
       timestamptz '2024-01-06 18:54:00+01', 'content': 'Testo tre', 'tags': ['ue'],
       'source_site': 'open'}],
     [0.42], 0.42, 'Riassumi e integra i testi.', 'I vertici Ue...', 'it',
     0.03, 'summarize-v1', 'local:smollm2')
) t(doc_id, cluster_id, lineage_ids, date, tags, sources, similarity, similarity_min,
    question, answer, language, toxicity, prompt_version, model)
"""


def instructions_sql(n: int, *, version: str = "v1", skip_every: int = 0) -> str:
    """``n`` synthetic instruction pairs; ``version`` changes every answer's text."""
    skip = f"where i % {skip_every} <> 0" if skip_every else ""
    return f"""
        select
            'doc' || lpad(i::varchar, 6, '0') as doc_id,
            'Question ' || i as question,
            'Answer ' || i || ' ({version})' as answer,
            case when i % 3 = 0 then 'it' else 'en' end as language,
            ['row' || i] as lineage_ids,
            'slimorca' as source_dataset,
        from range({n}) t(i)
        {skip}
    """


def write_marts(lake: Lake, *, news: str | None = None, instructions: str | None = None) -> None:
    """(Re)create the two marts in the lake's warehouse from SQL (None: keep / empty)."""
    lake.root.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(lake.warehouse)) as con:
        tables = con.execute("select table_name from information_schema.tables").fetchall()
        present = {r[0] for r in tables}
        for name, sql in ((NEWS, news), (INSTRUCTIONS, instructions)):
            if sql is not None:
                con.execute(f"create or replace table {name} as {sql}")
            elif name not in present:
                con.execute(f"create table {name} as {instructions_sql(0)}")
