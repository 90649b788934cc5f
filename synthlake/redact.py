"""Keep credentials out of logs, summaries and stored rows."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

_USERINFO = re.compile(r"(?<=://)[^/@\s]+@")


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
