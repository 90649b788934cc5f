"""Does the news crawl keep every host at its rate limit while using all of it?

Three fixture hosts (www.ansa.it, www.ilpost.it, www.open.online), 200 articles each, built
with the sample site's page templates (data/sample/site/build_site.py) and served on
127.0.0.1 by ``synthlake.ingest.news.sample_site.SiteServer`` with 50 ms latency per answer.
The real
crawl (``crawl_news``: robots.txt, feeds, paginated listings, articles, extraction, lake)
runs at the default 1 request/s per host for ``--seconds`` (its time budget) or until
``--articles`` per outlet are fetched. Everything is measured at the server, on its clock:

- requests/s per host (intervals between its requests over their span) and in aggregate;
- the most requests any host received within any 1 s window (must be <= the limit);
- the aggregate rate as a ratio of the target (hosts x limit; the goal is >= 0.90).

    .venv/bin/python bench/news_crawl_rate.py               # 60 s
    .venv/bin/python bench/news_crawl_rate.py --seconds 20
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path

from synthlake.ingest.news.crawl import crawl_news
from synthlake.ingest.news.sample_site import SiteServer

from synthlake.lake import Lake
from synthlake.settings import load_settings

ROOT = Path(__file__).resolve().parent.parent

HOSTS = {"ansa": "www.ansa.it", "ilpost": "www.ilpost.it", "open": "www.open.online"}
MONTHS = "gennaio febbraio marzo".split()


def load_builder():  # noqa: ANN201 - a module loaded from a path
    path = ROOT / "data" / "sample" / "site" / "build_site.py"
    spec = importlib.util.spec_from_file_location("build_site", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["build_site"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def synthetic_records(outlet: str, count: int, bodies: list[list[str]]) -> list[dict]:
    records = []
    for i in range(count):
        day, month = 1 + i % 28, 1 + (i // 28) % 3
        slug = f"notizia-di-prova-numero-{i}"
        if outlet == "ansa":
            token = uuid.UUID(int=i * 7919 + 17)
            url = f"https://www.ansa.it/sito/notizie/cronaca/2024/{month:02d}/{day:02d}/{slug}_{token}.html"
            date = f"{day:02d} {MONTHS[month - 1]} 2024, {8 + i % 12:02d}:{i % 60:02d}"
        elif outlet == "ilpost":
            url = f"https://www.ilpost.it/2024/{month:02d}/{day:02d}/{slug}/"
            date = f"2024-{month:02d}-{day:02d}T{8 + i % 12:02d}:{i % 60:02d}:00+01:00"
        else:
            url = f"https://www.open.online/2024/{month:02d}/{day:02d}/{slug}/"
            date = f"{day} {MONTHS[month - 1].capitalize()} 2024"
        body = bodies[i % len(bodies)]
        if outlet == "ansa":
            body = [f"ROMA, {day:02d} GEN - {body[0]}", *body[1:]]
        records.append(
            {
                "url": url,
                "outlet": outlet,
                "title": f"Notizia di prova numero {i} per il benchmark del crawler",
                "subtitle": "Un testo di prova costruito dalle pagine del campione",
                "author": None,
                "date": date,
                "tags": ["Prova", f"Gruppo {i % 5}"],
                "body": body,
            }
        )
    return records


def build_site(root: Path, per_host: int) -> None:
    builder = load_builder()
    sample = [
        json.loads(line)
        for line in (ROOT / "data/sample/news/articles.jsonl").read_text().splitlines()
    ]
    bodies = [r["body"] for r in sample if r["body"]]
    bodies = [[p.split(" - ", 1)[-1] for p in b] for b in bodies]  # datelines re-added per outlet
    by_outlet = {}
    for outlet in HOSTS:
        items = [
            builder.make_item(record, record["body"])
            for record in synthetic_records(outlet, per_host, bodies)
        ]
        items.sort(key=lambda item: item.published, reverse=True)
        for index, item in enumerate(items):
            item.index = index
        by_outlet[outlet] = items
    builder.write_site(builder.build_pages(by_outlet, per_page=50), root)


def max_in_window(times: list[float], window: float = 1.0) -> int:
    times = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="crawl time budget")
    parser.add_argument("--articles", type=int, default=None, help="cap per outlet")
    parser.add_argument("--per-host", type=int, default=200, help="articles per fixture host")
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--rate", type=float, default=1.0, help="requests/s per host")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        site = Path(tmp) / "site"
        build_site(site, args.per_host)
        settings = load_settings(
            lake_root=Path(tmp) / "lake",
            news_requests_per_second_per_host=args.rate,
            news_time_budget_s=args.seconds,
            news_max_articles_per_outlet=args.articles,
            news_max_listing_pages=args.per_host // 50 + 1,
        )
        lake = Lake.from_settings(settings).ensure()
        with SiteServer(site, latency_s=args.latency_ms / 1000) as server:
            started = time.perf_counter()
            stats = crawl_news(settings, lake, run_id="bench", host_map=server.host_map())
            wall = time.perf_counter() - started
            records = server.log.snapshot()

    target = args.rate * len(HOSTS)
    all_times = [r.at for r in records]
    window = max(all_times) - min(all_times)
    print(
        f"news crawl rate: {len(HOSTS)} hosts x {args.per_host} articles, "
        f"{args.latency_ms:.0f} ms latency, limit {args.rate:g} request/s/host, "
        f"budget {args.seconds:g} s"
    )
    print(f"crawl wall time {wall:.1f} s; server saw {len(records)} requests over {window:.1f} s")
    print(f"{'host':18} {'requests':>8} {'req/s':>7} {'max in any 1 s':>15}")
    intervals = 0
    for host in HOSTS.values():
        times = sorted(r.at for r in records if r.host == host)
        rate = (len(times) - 1) / (times[-1] - times[0])  # intervals over the host's span
        intervals += len(times) - 1
        print(f"{host:18} {len(times):8d} {rate:7.3f} {max_in_window(times):15d}")
    aggregate = intervals / window
    print(f"{'aggregate':18} {len(records):8d} {aggregate:7.3f}")
    print(
        f"target {target:g} request/s; aggregate / target = {aggregate / target:.3f} (goal >= 0.90)"
    )
    worst = max(max_in_window([r.at for r in records if r.host == h]) for h in HOSTS.values())
    print(f"most requests one host received in any 1 s window: {worst} (limit {args.rate:g})")
    print(
        f"articles stored {stats.new}, deferred by the budget {stats.deferred}, "
        f"rejected {sum(stats.rejected.values())}, warnings {len(stats.warnings)}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
