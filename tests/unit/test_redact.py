"""Secrets the settings hold are masked in any text and any log record."""

from __future__ import annotations

import logging

from synthlake.errors import SynthlakeError
from synthlake.redact import redact
from synthlake.settings import load_settings


def test_every_secret_of_the_settings_is_masked_wherever_it_appears(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-unit-key-7f3a9c")
    monkeypatch.setenv("GEMINI_API_KEY", "AIza-unit-gemini-42")
    load_settings(
        lake_root=tmp_path / "lake",
        mongodb_uri="mongodb://writer:p%40ss-w0rd-9@db.example:27017/synth",
        notify_urls="slack://TokenAAAAAA/TokenBBBBBB/TokenCCCCCC json://hooks.example/T0KEN-xyz123",
    )
    text = (
        'upstream said {"error": "invalid key sk-unit-key-7f3a9c"}; gemini AIza-unit-gemini-42; '
        "mongo p%40ss-w0rd-9 and p@ss-w0rd-9; slack TokenBBBBBB; hook T0KEN-xyz123; "
        "http://u:pw@host/x"
    )
    masked = redact(text)
    for secret in (
        "sk-unit-key-7f3a9c",
        "AIza-unit-gemini-42",
        "p%40ss-w0rd-9",
        "p@ss-w0rd-9",
        "TokenBBBBBB",
        "T0KEN-xyz123",
        "u:pw@",
    ):
        assert secret not in masked
    assert masked.startswith('upstream said {"error": "invalid key ***"}')


def test_log_records_and_errors_are_masked(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-unit-logged-1234")
    load_settings(lake_root=tmp_path / "lake")
    log = logging.getLogger("synthlake.test.redact")
    with caplog.at_level(logging.INFO):
        log.info("the gateway answered %s", "bad key sk-unit-logged-1234")
        try:
            raise RuntimeError("boom sk-unit-logged-1234")
        except RuntimeError:
            log.exception("failed")
    assert "sk-unit-logged-1234" not in caplog.text
    assert "bad key ***" in caplog.text and "boom ***" in caplog.text
    assert str(SynthlakeError("refused: sk-unit-logged-1234")) == "refused: ***"
