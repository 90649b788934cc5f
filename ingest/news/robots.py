"""robots.txt, fetched once per host and crawl through the polite client.

Parsing (groups, user agents, Crawl-delay) is ``urllib.robotparser``'s. Two parts are ours:

- the fetch, because ``RobotFileParser.read()`` uses urllib without our User-Agent, timeouts,
  retries, pacing or host mapping;
- the path matching (:class:`RobotsRules`), because robotparser applies the *first* rule
  that matches and reads ``*`` and ``$`` literally, while RFC 9309 (and every large crawler)
  applies the *longest* matching rule, Allow winning a tie, with ``*`` and ``$`` as
  wildcards: with robotparser, ``Disallow: /*?refresh_ce`` would never match anything.

What an answer means follows RFC 9309 where robotparser has no opinion:

- 2xx: the rules apply (the file is cut at 500 KiB, as the RFC allows);
- 401/403: the whole host is off limits (robotparser's reading, the cautious one);
- other 4xx (404, 410, ...): no rules, everything may be fetched;
- 5xx, timeouts, network errors after retries: the host is *unavailable* for this crawl
  (``robots_unavailable``), nothing on it is fetched.

``Crawl-delay`` for our agent, when longer than our own interval, slows that host down.
"""

from __future__ import annotations

import asyncio
import logging
import re
from functools import lru_cache
from typing import Literal
from urllib.parse import quote, unquote, urlparse, urlsplit, urlunparse
from urllib.robotparser import RobotFileParser

from synthlake.ingest.news.fetch_base import FetchFailed, RobotsFetcher

logger = logging.getLogger(__name__)

ROBOTS_MAX_BYTES = 500 * 1024
Verdict = Literal["allowed", "robots_disallowed", "robots_unavailable"]


def agent_token(user_agent: str) -> str:
    """The token robots.txt groups are matched against: "synthlake/0.1 (...)" -> "synthlake"."""
    return user_agent.split("/", 1)[0].split()[0].strip() or user_agent


class RobotsRules:
    """One robots.txt: robotparser's groups, RFC 9309's longest-match rule with wildcards."""

    def __init__(self, text: str) -> None:
        self.parser = RobotFileParser()
        self.parser.parse(text.splitlines())

    def can_fetch(self, agent: str, url: str) -> bool:
        parser = self.parser
        if parser.disallow_all:
            return False
        if parser.allow_all:
            return True
        group = next((e for e in parser.entries if e.applies_to(agent)), parser.default_entry)
        if group is None:
            return True
        target = _robots_path(url)
        best = None
        for rule in group.rulelines:
            if _pattern(rule.path).match(target) is None:
                continue
            if (
                best is None
                or len(rule.path) > len(best.path)
                or (len(rule.path) == len(best.path) and rule.allowance)
            ):
                best = rule
        return True if best is None else bool(best.allowance)

    def crawl_delay(self, agent: str) -> float | None:
        delay = self.parser.crawl_delay(agent)
        return float(delay) if delay is not None else None


def parse_robots(text: str) -> RobotsRules:
    return RobotsRules(text)


def _robots_path(url: str) -> str:
    """Path and query of ``url`` quoted the way robotparser quotes its rules."""
    parsed = urlparse(unquote(url))
    return quote(urlunparse(("", "", parsed.path, parsed.params, parsed.query, ""))) or "/"


@lru_cache(maxsize=1024)
def _pattern(rule_path: str) -> re.Pattern[str]:
    """A rule path (quoted by robotparser: ``*`` is ``%2A``, ``$`` is ``%24``) as a regex."""
    anchored = rule_path.endswith("%24")
    body = rule_path[:-3] if anchored else rule_path
    regex = ".*".join(re.escape(part) for part in body.split("%2A"))
    return re.compile(regex + ("$" if anchored else ""))


class RobotsPolicy:
    """The robots.txt verdict for any URL, one fetch per host (``scheme://host``)."""

    def __init__(self, client: RobotsFetcher) -> None:
        self._client = client
        self.token = agent_token(client.user_agent)
        self._rules: dict[str, RobotsRules | Verdict] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self.problems: dict[str, str] = {}  # origin -> what went wrong fetching its robots.txt

    async def verdict(self, url: str) -> Verdict:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        rules = await self._rules_for(origin)
        if isinstance(rules, str):
            return rules
        return "allowed" if rules.can_fetch(self.token, url) else "robots_disallowed"

    async def _rules_for(self, origin: str) -> RobotsRules | Verdict:
        if origin in self._rules:
            return self._rules[origin]
        lock = self._locks.setdefault(origin, asyncio.Lock())
        async with lock:
            if origin not in self._rules:
                self._rules[origin] = await self._load(origin)
        return self._rules[origin]

    async def _load(self, origin: str) -> RobotsRules | Verdict:
        url = origin + "/robots.txt"
        try:
            page = await self._client.fetch(url, check_robots=False, max_bytes=None)
        except FetchFailed as exc:
            if exc.status in (401, 403):
                logger.warning(
                    "%s answered %s: treating the whole host as disallowed", url, exc.status
                )
                return parse_robots("User-agent: *\nDisallow: /\n")
            if exc.status is not None and 400 <= exc.status < 500 and exc.status != 429:
                return parse_robots("")  # no robots.txt: no rules
            self.problems[origin] = f"{exc.reason}: {exc.detail}"
            logger.warning(
                "robots.txt of %s unavailable (%s); skipping the host", origin, exc.reason
            )
            return "robots_unavailable"
        text = page.content[:ROBOTS_MAX_BYTES].decode("utf-8", "replace")
        rules = parse_robots(text)
        delay = rules.crawl_delay(self.token)
        if delay:
            host = urlsplit(origin).hostname or ""
            self._client.pacer(host).slow_down(delay)
            logger.info("%s asks for Crawl-delay %s s", host, delay)
        return rules
