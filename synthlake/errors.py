"""The one exception hierarchy of synthlake.

Exceptions are for failures of a run (a corrupt file, a server that does not answer, a bad
setting). A rejected *row* is not an exception: it is kept with a ``reason`` in the
``rejects`` table and counted.
"""

from __future__ import annotations


class SynthlakeError(Exception):
    """Base class: every error synthlake raises on purpose derives from it."""


class SettingsError(SynthlakeError):
    """A setting is missing, misspelt or has a value synthlake cannot use."""


class LakeError(SynthlakeError):
    """The lake is missing, unreadable or holds a file that is not what it should be."""


class CorruptRawFile(LakeError):
    """A Parquet file under lake/raw cannot be read."""

    def __init__(self, path: object, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(
            f"corrupt Parquet file in the lake: {path} ({reason}). Move it aside "
            "(e.g. to lake/quarantine/) or delete it, then re-run the ingest that wrote it."
        )


class InputFileError(SynthlakeError):
    """An input file given to an import cannot be read at all (not a row-level problem)."""


class DependencyMissing(SynthlakeError):
    """An optional heavy dependency is not installed."""

    def __init__(self, package: str, purpose: str) -> None:
        super().__init__(f"{purpose} needs the '{package}' package: pip install {package}")


class DbtError(SynthlakeError):
    """dbt build failed; the message carries dbt's own output."""


class FetchError(SynthlakeError):
    """A network fetch failed for good (after retries, or a permanent 4xx)."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(f"{url}: {reason}")


class ParseError(SynthlakeError):
    """A document could not be parsed into the record it should hold."""


class LLMError(SynthlakeError):
    """An LLM provider failed in a way the runner could not absorb."""


class RateLimited(LLMError):
    """The provider answered 429 / resource exhausted."""


class InvalidOutput(LLMError):
    """The model's answer does not validate against what the stage expects."""


class BudgetExceeded(LLMError):
    """The configured LLM budget is spent; the run stops cleanly."""


class ExportError(SynthlakeError):
    """Writing to an export target (MongoDB, files, the Hub) failed."""
