"""Keep credentials out of logs, summaries and stored rows.

Patterns alone miss secrets: a gateway may echo an API key in an error body
(``{"error": "invalid key sk-..."}``), a webhook URL carries its token in the path. So
``redact`` masks, in any text, every secret the settings hold (API keys, the MongoDB URI
and its password, notification URLs and their tokens, credentials inside LLM base URLs),
then the ``user:password@`` of any URL. ``load_settings`` registers the secrets of the
settings it builds and turns on ``install_log_redaction`` (every log record of the
process is masked when it is made); every error text that is stored (``llm_failures``) or
raised by synthlake passes through ``redact``.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

_USERINFO = re.compile(r"(?<=://)[^/@\s]+@")
MASK = "***"
MIN_SECRET_CHARS = 6  # shorter values ("admin", "1234") would mask ordinary words

_secrets: set[str] = set()
_pattern: re.Pattern[str] | None = None
_installed = False
_lock = threading.Lock()


def redact_uri(uri: str) -> str:
    """``mongodb://user:secret@host/db`` -> ``mongodb://***@host/db`` (also for lists of hosts)."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        return _USERINFO.sub("***@", uri)
    if "@" not in parts.netloc:
        return uri
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit((parts.scheme, "***@" + host, parts.path, parts.query, parts.fragment))


def redact_text(text: str) -> str:
    """Mask the ``user:password@`` of every URL inside free text (an error message)."""
    return _USERINFO.sub("***@", text)


def url_scheme(url: str) -> str:
    """Only the ``scheme://`` of a URL, for logs.

    Notification URLs (Apprise: ``slack://TokenA/TokenB/TokenC``, ``ntfy://user:pass@host``)
    carry their secrets in the host and path too, not only in the userinfo that
    ``redact_uri`` masks, so nothing but the scheme is safe to show.
    """
    scheme, sep, _ = url.strip().partition("://")
    if not sep or not scheme.replace("+", "").replace("-", "").isalnum():
        return "(not a URL)"
    return f"{scheme.lower()}://"


def _parts_of_url(url: str) -> list[str]:
    """The secret-bearing parts of one URL: itself, its userinfo, password, path pieces and
    query values (webhook tokens live there)."""
    out = [url]
    try:
        parts = urlsplit(url)
    except ValueError:
        return out
    if "@" in parts.netloc:
        userinfo = parts.netloc.rsplit("@", 1)[0]
        out += [userinfo, unquote(userinfo)]
        if ":" in userinfo:
            password = userinfo.split(":", 1)[1]
            out += [password, unquote(password)]
    out += [piece for piece in parts.path.split("/") if piece]
    out += [value for _, _, value in (q.partition("=") for q in parts.query.split("&")) if value]
    if parts.scheme not in ("http", "https", "mongodb", "mongodb+srv") and parts.hostname:
        out.append(parts.hostname)  # apprise: slack://TokenA/..., the "host" is a token
    return out


def _credentials_of_url(url: str) -> list[str]:
    """The userinfo and password of a URL (raw and percent-decoded), nothing else."""
    try:
        netloc = urlsplit(url).netloc
    except ValueError:
        return []
    if "@" not in netloc:
        return []
    userinfo = netloc.rsplit("@", 1)[0]
    out = [userinfo, unquote(userinfo)]
    if ":" in userinfo:
        password = userinfo.split(":", 1)[1]
        out += [password, unquote(password)]
    return out


def secrets_of(settings: Any) -> list[str]:  # Any: settings.py imports this module
    """Every secret value a settings object holds (duck-typed: no import of settings;
    ``load_settings`` calls it on the settings it built, and any object with these
    attributes works)."""
    found: list[str] = []
    for name in ("openai_api_key", "gemini_api_key", "hf_token"):
        value = getattr(settings, name, None)
        if value is not None:
            found.append(value.get_secret_value() if hasattr(value, "get_secret_value") else value)
    uri = getattr(settings, "mongodb_uri", None)
    if uri is not None:
        # only the credentials: the host and options name the server in error messages
        text = uri.get_secret_value() if hasattr(uri, "get_secret_value") else uri
        found += _credentials_of_url(text)
    notify = getattr(settings, "notify_urls", None)
    if notify is not None:
        text = notify.get_secret_value() if hasattr(notify, "get_secret_value") else notify
        for url in re.split(r"[\s,]+", text):
            if url:
                found += _parts_of_url(url)
    for name in ("llm", "llm_summarize", "llm_translate", "llm_judge"):
        spec = getattr(settings, name, None)
        if isinstance(spec, str) and "@" in spec and "://" in spec:
            url = spec.split("@", 1)[1]
            parts = urlsplit(url)
            if "@" in parts.netloc or parts.query:  # credentials inside the base URL
                found += [p for p in _parts_of_url(url)[1:] if "." not in p]
    return found


def register_secrets(values: Iterable[str | None]) -> None:
    """Add values that ``redact`` must mask from now on, in this process."""
    global _pattern
    new = {v.strip() for v in values if v and len(v.strip()) >= MIN_SECRET_CHARS}
    with _lock:
        if new <= _secrets:
            return
        _secrets.update(new)
        ordered = sorted(_secrets, key=len, reverse=True)  # the longest first
        _pattern = re.compile("|".join(re.escape(s) for s in ordered))


def redact(text: str | None) -> str | None:
    """``text`` with every registered secret and every URL's userinfo masked."""
    if not text:
        return text
    pattern = _pattern
    if pattern is not None:
        text = pattern.sub(MASK, text)
    return redact_text(text)


def _redact_record(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 - a bad format string is the handler's to report
        return
    record.msg, record.args = redact(message), None
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = redact(record.exc_text)


def install_log_redaction() -> None:
    """Mask secrets in every log record of this process, whichever logger and handler
    (ours, Prefect's console and API handlers, dbt's adapters): a record factory runs
    when a record is made, before any handler or formatter sees it. Idempotent."""
    global _installed
    with _lock:
        if _installed:
            return
        _installed = True
        make = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = make(*args, **kwargs)
            if _pattern is not None or "://" in str(record.msg):
                _redact_record(record)
            return record

        logging.setLogRecordFactory(factory)
