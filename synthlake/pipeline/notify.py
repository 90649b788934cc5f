"""Send the run summary of a refresh somewhere a person reads it.

Why Apprise: one setting, ``SYNTHLAKE_NOTIFY_URLS``, reaches Slack, Discord, Teams, email,
ntfy, Telegram, Matrix, a generic JSON webhook and about a hundred other services, each
named by a URL (``slack://...``, ``mailtos://...``, ``json://host/path``), with no code
per service here and no Prefect server needed (Prefect automations only exist on one). It
is already installed as a Prefect dependency.

``notify_run`` is called at the end of ``refresh`` with the summary, and by the flow's
``on_failure`` / ``on_crashed`` hooks (``notify_failure``) without one. ``SYNTHLAKE_NOTIFY_ON``
picks which runs notify: ``always``, ``problems`` (failed, or warnings, or quarantined or
failed rows in a stage) or ``failure``. Sending is retried a few times per URL; a
notification that still fails is a logged warning, never a failed run (the summary is
already saved in ``lake/runs/<run_id>/summary.json``). The URLs carry tokens, so logs name
their scheme only.
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING, Any

from tenacity import Retrying, retry_if_result, stop_after_attempt, wait_exponential

from synthlake.pipeline.artifacts import summary_markdown
from synthlake.redact import redact_text, url_scheme

if TYPE_CHECKING:
    from synthlake.settings import Settings

logger = logging.getLogger(__name__)

ATTEMPTS = 3  # per URL: the first try and two retries, 0.5 s and 1 s apart
MAX_ERROR_CHARS = 2000  # chat services cut long messages; the full error is in the logs

# Stage outcomes (summary["stages"][label][key]) that make a run one with "problems".
PROBLEM_STAGES = ("llm quarantined",)  # every row of these is a problem
PROBLEM_OUTCOMES = ("quarantined", "failed", "failure", "error", "unavailable")


def _log() -> logging.Logger | logging.LoggerAdapter:
    """The flow run's logger when there is one (the message shows in the Prefect UI)."""
    if "prefect" not in sys.modules:  # no run; and importing it would reconfigure logging
        return logger
    try:
        from prefect import get_run_logger

        return get_run_logger()
    except Exception:  # noqa: BLE001 - outside a run: MissingContextError
        return logger


def problem_stages(summary: dict[str, Any] | None) -> dict[str, dict[str, int]]:
    """The stage outcomes with quarantined or failed rows, e.g. ``{"translations":
    {"quarantined": 3}}``."""
    found: dict[str, dict[str, int]] = {}
    for label, outcomes in (summary or {}).get("stages", {}).items():
        for key, count in outcomes.items():
            if count and (
                label in PROBLEM_STAGES or any(word in str(key) for word in PROBLEM_OUTCOMES)
            ):
                found.setdefault(label, {})[str(key)] = count
    return found


def has_problems(summary: dict[str, Any] | None) -> bool:
    """Warnings, or rows a stage quarantined or failed."""
    return bool((summary or {}).get("warnings")) or bool(problem_stages(summary))


def should_notify(notify_on: str, summary: dict[str, Any] | None, *, failed: bool) -> bool:
    """``always``: every run; ``problems``: failed or ``has_problems``; ``failure``: failed."""
    if notify_on == "always" or failed:
        return True
    if notify_on == "problems":
        return has_problems(summary)
    return False


def notify_urls(settings: Settings) -> list[str]:
    """``SYNTHLAKE_NOTIFY_URLS`` as a list: split on commas (or spaces) before each
    ``scheme://``, as Apprise does, so ``mailtos://...?to=a@x.org,b@y.org`` stays one URL."""
    if settings.notify_urls is None or not settings.notify_urls.get_secret_value().strip():
        return []
    from apprise.utils.parse import parse_urls

    return [u for u in parse_urls(settings.notify_urls.get_secret_value()) if u.strip()]


def run_status(summary: dict[str, Any] | None, *, failed: bool) -> str:
    if failed:
        return "FAILED"
    return "with warnings" if has_problems(summary) else "ok"


def message(
    summary: dict[str, Any] | None,
    *,
    failed: bool,
    error: str | None = None,
    run: str | None = None,
) -> tuple[str, str]:
    """The title and markdown body of the notification."""
    name = (summary or {}).get("run_id") or run or "?"
    title = f"synthlake refresh {name}: {run_status(summary, failed=failed)}"
    parts: list[str] = []
    if run and summary:
        parts.append(f"Prefect flow run: {run}")
    if failed:
        text = redact_text(error or "no error message")
        if len(text) > MAX_ERROR_CHARS:
            text = text[:MAX_ERROR_CHARS] + " [...]"
        parts.append("**The run failed:**\n\n```\n" + text.replace("```", "'''") + "\n```")
    if summary:
        problems = problem_stages(summary)
        if problems:
            shown = "; ".join(
                f"{label}: " + ", ".join(f"{key} {n}" for key, n in outcomes.items())
                for label, outcomes in problems.items()
            )
            parts.append(f"**Rows quarantined or failed:** {shown}")
        parts.append(summary_markdown(summary).rstrip("\n"))
        saved = summary.get("outputs", {}).get("summary")
        if saved:
            parts.append(f"Full summary: `{saved}`")
    elif not failed:
        parts.append("(no summary)")
    return title, "\n\n".join(parts) + "\n"


def _send(url: str, index: int, total: int, title: str, body: str, notify_type: Any) -> bool:
    """One URL, retried; True once it was delivered."""
    import apprise

    label = f"notification URL {index}/{total} ({url_scheme(url)})"
    target = apprise.Apprise()
    if not target.add(url):
        _log().warning(
            "%s was rejected by Apprise: unknown scheme or malformed URL "
            "(see https://github.com/caronc/apprise/wiki for the URL formats)",
            label,
        )
        return False

    def attempt() -> bool:
        try:
            return bool(
                target.notify(
                    body=body,
                    title=title,
                    notify_type=notify_type,
                    body_format=apprise.NotifyFormat.MARKDOWN,
                )
            )
        except Exception as exc:  # noqa: BLE001 - its message may hold the URL
            logger.debug("%s raised %s", label, type(exc).__name__)
            return False

    retrying = Retrying(
        stop=stop_after_attempt(ATTEMPTS),
        wait=wait_exponential(multiplier=0.5, max=4),
        retry=retry_if_result(lambda ok: not ok),
        retry_error_callback=lambda state: False,
    )
    if retrying(attempt):
        return True
    _log().warning(
        "%s: sending the run notification failed %d times; giving up (the run is not "
        "affected, its summary is saved)",
        label,
        ATTEMPTS,
    )
    return False


def notify_run(
    settings: Settings,
    summary: dict[str, Any] | None,
    *,
    failed: bool,
    error: str | None = None,
    run: str | None = None,
) -> bool:
    """Send the run's outcome to ``SYNTHLAKE_NOTIFY_URLS`` if ``SYNTHLAKE_NOTIFY_ON`` asks.

    ``summary``: ``RunSummary.as_dict()``, or None for a run that failed before having one;
    ``error``: what failed; ``run``: what names the run without a summary (the Prefect flow
    run). Returns True when every URL got the notification, False when none was due or one
    could not be delivered. Never raises.
    """
    try:
        urls = notify_urls(settings)
        if not urls or not should_notify(settings.notify_on, summary, failed=failed):
            return False
        import apprise

        title, body = message(summary, failed=failed, error=error, run=run)
        if failed:
            notify_type = apprise.NotifyType.FAILURE
        elif has_problems(summary):
            notify_type = apprise.NotifyType.WARNING
        else:
            notify_type = apprise.NotifyType.SUCCESS
        sent = [_send(url, i, len(urls), title, body, notify_type) for i, url in enumerate(urls, 1)]
        if all(sent):
            _log().info("run notification sent (%d URL%s)", len(urls), "s"[: len(urls) > 1])
        return all(sent)
    except Exception as exc:  # noqa: BLE001 - a notification never fails the run
        _log().warning("could not send the run notification: %s", type(exc).__name__)
        return False


def notify_failure(flow: Any, flow_run: Any, state: Any) -> None:
    """Prefect state hook (``on_failure`` / ``on_crashed`` of ``refresh``): notify the failure.

    With flow retries it runs once, when the last retry failed (a retried run is
    ``AwaitingRetry``, not ``Failed``).
    """
    try:
        from synthlake.settings import load_settings

        settings = load_settings()
    except Exception as exc:  # noqa: BLE001 - the bad settings may be why the run failed
        logger.warning("run failed; its notification is not sent: settings: %s", exc)
        return
    error = getattr(state, "message", None) or f"the flow run ended {getattr(state, 'name', '?')}"
    where = f"flow {flow.name!r}, flow run {flow_run.name!r} (id {flow_run.id})"
    notify_run(settings, None, failed=True, error=f"{error}\n\n{where}", run=flow_run.name)
