"""News acquisition: normalization of extracted articles, file import (scrapers to come)."""

from ingest.news.importer import import_news_file, read_news_file
from ingest.news.normalize import Article, normalize_article
from ingest.news.store import StoreStats, store_articles

__all__ = [
    "Article",
    "StoreStats",
    "import_news_file",
    "normalize_article",
    "read_news_file",
    "store_articles",
]
