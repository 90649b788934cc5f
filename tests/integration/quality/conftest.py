"""Fixtures of the quality integration tests: the local OpenAI-compatible server."""

from __future__ import annotations

from tests.fixtures.llm_servers import openai_server  # noqa: F401 - pytest fixture
