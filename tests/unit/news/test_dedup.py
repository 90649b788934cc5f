from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest

from synthlake.news_integration.dedup import DUPLICATES_SCHEMA, find_duplicates

BODY = (
    "Il consiglio regionale ha approvato ieri sera il piano per la manutenzione delle strade "
    "provinciali, con un investimento di 40 milioni di euro in tre anni. I lavori partiranno "
    "dalle zone di montagna, dove il gelo dell'inverno ha danneggiato l'asfalto in molti punti.\n\n"
    "L'assessore ai trasporti ha spiegato che la priorità andrà ai tratti percorsi dagli "
    "scuolabus e dai mezzi di soccorso. Le opposizioni hanno votato contro, chiedendo più "
    "fondi per le piste ciclabili e per il trasporto pubblico locale."
)
OTHER = (
    "Una nuova biblioteca di quartiere aprirà a febbraio nell'ex mercato coperto, con 20mila "
    "libri, una sala studio da 80 posti e laboratori per bambini il sabato mattina. Il progetto "
    "è stato finanziato con fondi europei e con una raccolta tra i residenti."
)
T0 = datetime(2024, 1, 10, 9, 0, tzinfo=UTC)


def article(article_id: str, url: str, outlet: str, content: str, hours: float = 0) -> dict:
    return {
        "id": article_id,
        "url": url,
        "outlet": outlet,
        "content": content,
        "content_hash": f"h-{article_id}",
        "published_at": T0 + timedelta(hours=hours),
        "ingested_at": T0 + timedelta(days=1),
    }


def mapping(rows: list[dict], threshold: float = 0.8) -> dict[str, tuple]:
    table = find_duplicates(pa.Table.from_pylist(rows), threshold)
    assert table.schema == DUPLICATES_SCHEMA
    return {
        r["article_id"]: (r["canonical_article_id"], r["duplicate_reason"])
        for r in table.to_pylist()
    }


def test_url_variants_content_copies_and_syndicated_copies_map_to_the_earliest() -> None:
    syndicated = "ROMA, 10 GEN - " + BODY.replace("ieri sera", "lunedì sera") + " (ANSA)."
    rows = [
        article("orig", "https://www.ansa.it/a.html", "ansa", BODY, hours=0),
        article("https", "http://ansa.it/a.html", "ansa", OTHER, hours=1),
        article("copy", "https://www.open.online/x/", "open", BODY.upper(), hours=2),
        article("synd", "https://www.ilpost.it/y/", "ilpost", syndicated, hours=3),
        article("other", "https://www.ilpost.it/z/", "ilpost", OTHER, hours=4),
    ]
    got = mapping(rows)
    assert got["orig"] == ("orig", None)
    assert got["https"] == ("orig", "same_url")
    assert got["copy"] == ("orig", "same_content_hash")
    assert got["synd"] == ("orig", "near_duplicate")
    # 'other' shares its text with 'https', a URL copy of 'orig': the relation is
    # closed transitively, and the reason is its own direct relation.
    assert got["other"] == ("orig", "same_content_hash")


def test_unrelated_articles_stay_canonical() -> None:
    rows = [
        article("a", "https://www.ansa.it/a.html", "ansa", BODY),
        article("b", "https://www.ilpost.it/b/", "ilpost", OTHER, hours=1),
    ]
    assert mapping(rows) == {"a": ("a", None), "b": ("b", None)}


def test_near_duplicate_threshold_is_respected() -> None:
    half = BODY.split("\n\n")[0] + "\n\n" + OTHER
    rows = [
        article("a", "https://www.ansa.it/a.html", "ansa", BODY),
        article("b", "https://www.ilpost.it/b/", "ilpost", half, hours=1),
    ]
    assert mapping(rows, 0.8)["b"] == ("b", None)
    assert mapping(rows, 0.2)["b"] == ("a", "near_duplicate")


def test_result_does_not_depend_on_row_order() -> None:
    rows = [
        article("a", "https://www.ansa.it/a.html", "ansa", BODY, hours=5),
        article("b", "https://www.open.online/b/", "open", BODY, hours=1),
        article("c", "https://www.ilpost.it/c/", "ilpost", BODY, hours=1),
        article("d", "https://www.ilpost.it/d/", "ilpost", OTHER),
    ]
    forward = mapping(rows)
    assert mapping(list(reversed(rows))) == forward
    # earliest wins; a tie on time goes to the outlet name, then the id
    assert forward["a"][0] == forward["b"][0] == forward["c"][0] == "c"


def test_an_undated_article_is_never_preferred_over_a_dated_one() -> None:
    undated = article("u", "https://www.ansa.it/u.html", "ansa", BODY) | {
        "published_at": None,
        "ingested_at": None,
    }
    rows = [undated, article("d", "https://www.open.online/d/", "open", BODY, hours=48)]
    assert mapping(rows)["u"] == ("d", "same_content_hash")


def test_the_ingestion_time_never_stands_in_for_a_publication_time() -> None:
    # ingested before the dated copy was published: still not the earliest published
    undated = article("u", "https://www.ansa.it/u.html", "ansa", BODY) | {
        "published_at": None,
        "ingested_at": T0 - timedelta(days=3),
    }
    rows = [undated, article("d", "https://www.open.online/d/", "open", BODY, hours=48)]
    assert mapping(rows)["u"] == ("d", "same_content_hash")
    assert mapping(rows)["d"] == ("d", None)


def test_every_article_keeps_a_row_and_groups_are_counted() -> None:
    rows = [article(str(i), f"https://x.it/{i}", "x", BODY, hours=i) for i in range(3)]
    table = find_duplicates(pa.Table.from_pylist(rows), 0.8)
    assert table.num_rows == 3
    assert set(table.column("duplicate_group_size").to_pylist()) == {3}
    assert sum(table.column("is_canonical").to_pylist()) == 1


def test_empty_input_and_bad_threshold() -> None:
    empty = pa.Table.from_pylist([], schema=pa.schema([("id", pa.string())]))
    assert find_duplicates(empty).num_rows == 0
    with pytest.raises(ValueError, match="near_dup_threshold"):
        find_duplicates(pa.Table.from_pylist([article("a", "u", "x", BODY)]), 1.5)
