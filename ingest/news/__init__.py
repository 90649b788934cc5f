"""News acquisition: the outlet scrapers and their crawl, file import, normalization, storage.

The Prefect flow is in ``synthlake.ingest.news.flows`` (not imported here: Prefect is slow
to import).
"""

from synthlake.ingest.news.crawl import CrawlStats, OutletStats, crawl_news
from synthlake.ingest.news.importer import import_news_file, read_news_file
from synthlake.ingest.news.normalize import Article, normalize_article
from synthlake.ingest.news.sample_site import serve_sample_site
from synthlake.ingest.news.store import StoreStats, store_articles

__all__ = [
    "Article",
    "CrawlStats",
    "OutletStats",
    "StoreStats",
    "crawl_news",
    "import_news_file",
    "normalize_article",
    "read_news_file",
    "serve_sample_site",
    "store_articles",
]
