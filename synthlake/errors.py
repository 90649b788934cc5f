"""The one exception hierarchy of synthlake.

Exceptions are for failures of a run (a corrupt file, a server that does not answer, a bad
setting). A rejected *row* is not an exception: it is kept with a ``reason`` in the
``rejects`` table and counted.

Every exception synthlake raises on purpose derives from ``SynthlakeError``; classes that
belong to one module stay there (the path is given) and derive from a class here. Three
also stay a built-in error for callers that catch that (multiple inheritance, marked ``+``)::

    SynthlakeError                        .transient: a retry of the same work may succeed
    ├── SettingsError
    ├── InputFileError
    ├── DependencyMissing
    ├── DbtError
    ├── LakeError
    │   ├── CorruptRawFile
    │   ├── CorruptWarehouse
    │   ├── RunLocked
    │   └── LakeNotWritable
    ├── FetchError                        .url, .reason
    │   ├── DatasetUnavailable            ingest/hf_download.py (.transient per instance)
    │   └── FetchFailed                   ingest/news/fetch_base.py
    ├── ParseError
    │   ├── ExtractionFailed              ingest/news/extract.py
    │   └── _InvalidField                 ingest/news/normalize.py (private)
    ├── LLMError
    │   ├── RateLimited
    │   ├── InvalidOutput
    │   │   └── JudgeParseError           synthlake/quality/judge.py  + ValueError
    │   ├── BudgetExceeded
    │   ├── LLMStageFailed
    │   ├── ProviderError                 synthlake/llm/providers/base.py
    │   └── RequestRejected               synthlake/llm/types.py  + ValueError
    ├── ExportError
    │   └── MongoExportError              export/mongo.py (.transient per instance)
    ├── PromptError                       synthlake/prompts/__init__.py
    ├── EmbedderError                     synthlake/embeddings.py
    ├── ToxicityUnavailable               synthlake/quality/toxicity.py  + RuntimeError
    ├── PullError                         synthlake/quality/detoxify_pull.py
    ├── TrainConfigError                  train/config.py
    ├── TrainingDataError                 train/data.py
    ├── TrainingError                     train/lora.py
    └── private retry signals, caught in the module that raises them:
        ├── _Retryable                    ingest/news/http.py (transient)
        ├── _RetryAfterTooLong            ingest/news/http.py
        └── _Transient                    synthlake/quality/detoxify_pull.py (transient)

``tests/unit/test_errors.py`` checks that every exception class in the code appears here
and derives from ``SynthlakeError``.
"""

from __future__ import annotations

import errno
import os
from typing import Any


class SynthlakeError(Exception):
    """Base class: every error synthlake raises on purpose derives from it.

    Its text is redacted (``synthlake.redact``): an error may quote a server's answer, and
    it is printed, logged and kept by Prefect and dbt.

    ``transient`` is true when the same work may succeed if retried (a lost connection, a
    5xx, a short download) and false when a retry repeats the failure (a missing dataset, a
    mart that breaks the document contract). Prefect tasks retry on it and on nothing else
    (:func:`retry_if_transient`)."""

    transient: bool = False

    def __str__(self) -> str:
        from synthlake.redact import redact

        return redact(super().__str__()) or ""


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


class LLMStageFailed(LLMError):
    """An LLM stage whose provider refused or failed too many requests: fails the run.

    Raised after the stage's requests are done (see ``LLMRunner.check_health``); its
    message names the provider, the failure and the setting to fix."""


class RunLocked(LakeError):
    """Another process holds the lake's run lock (``synthlake/pipeline/run_lock.py``)."""

    def __init__(self, path: object, holder: str) -> None:
        self.path = path
        self.holder = holder
        super().__init__(
            f"another synthlake run is using this lake ({holder}); lock file {path}. Wait "
            "for it to finish or stop it; a lock left by a process that died does not count."
        )


class CorruptWarehouse(LakeError):
    """``warehouse.duckdb`` cannot be opened: it is derived, so it can be rebuilt."""

    def __init__(self, path: object, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(
            f"the warehouse {path} cannot be opened ({reason}). It is derived from the raw "
            f"files in lake/raw/, which are intact: move it aside (mv {path} {path}.corrupt) "
            "and rebuild it with `synthlake build --full-refresh`."
        )


class LakeNotWritable(LakeError):
    """The lake cannot be written: a read-only file system, no permission, a full disk."""

    ERRNOS = (errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOSPC, errno.EDQUOT)

    def __init__(self, path: object, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"cannot write {path}: {reason}")

    @classmethod
    def errno_of(cls, exc: OSError) -> int | None:
        """The errno of a failed write, also when a library (pyarrow) only names it in
        its message ("[errno 30] Read-only file system"); None for other errors."""
        if exc.errno in cls.ERRNOS:
            return exc.errno
        text = str(exc).lower()
        return next((code for code in cls.ERRNOS if f"[errno {code}]" in text), None)

    @classmethod
    def from_os_error(cls, exc: OSError, path: object = None) -> LakeNotWritable:
        code = cls.errno_of(exc)
        reason = os.strerror(code) if code is not None else (exc.strerror or str(exc))
        where = exc.filename or path
        if where is None:  # pyarrow names the file in its message only
            return cls("the lake", f"{reason} ({exc})")
        if code == errno.EROFS:
            reason = "the lake is on a read-only file system"
        return cls(where, reason)


def retry_if_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect ``retry_condition_fn``: retry a task only when it failed with a transient
    ``SynthlakeError``; never on a permanent error (a 4xx other than 429, a bad input)."""
    exc = state.result(raise_on_failure=False)
    return isinstance(exc, SynthlakeError) and exc.transient
