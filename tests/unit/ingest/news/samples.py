"""Sample pages and their expected articles, read straight from data/sample (no synthlake code)."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit

from synthlake.settings import PROJECT_DIR

SITE = PROJECT_DIR / "data" / "sample" / "site"
ARTICLES = PROJECT_DIR / "data" / "sample" / "news" / "articles.jsonl"


def sample_records() -> list[dict]:
    """The valid sample articles (non-empty body), each URL once."""
    records: dict[str, dict] = {}
    for line in ARTICLES.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if any(p.strip() for p in record.get("body") or []):
            records.setdefault(record["url"], record)
    return list(records.values())


def page_file(url: str) -> Path:
    parts = urlsplit(url)
    path = parts.path + ("index.html" if parts.path.endswith("/") else "")
    return SITE / parts.hostname / path.lstrip("/")


def expected_tags(record: dict) -> list[str]:
    tags = record["tags"]
    return tags if isinstance(tags, list) else [t.strip() for t in tags.split(",")]
