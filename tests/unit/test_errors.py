"""One exception tree: every exception class in the code derives from ``SynthlakeError`` and
is drawn in the docstring of ``synthlake/errors.py``; ``transient`` and the Prefect retry
predicate are defined once."""

from __future__ import annotations

import ast
import builtins
from pathlib import Path
from types import SimpleNamespace

import pytest

import synthlake.errors as errors
from synthlake.errors import (
    FetchError,
    InvalidOutput,
    LLMError,
    ParseError,
    SynthlakeError,
    retry_if_transient,
)

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = ("synthlake", "ingest", "export", "train", "python_models", "bench")
BUILTIN_EXCEPTIONS = {
    name
    for name, value in vars(builtins).items()
    if isinstance(value, type) and issubclass(value, BaseException)
}


def _base_name(node: ast.expr) -> str:
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else ""


def exception_classes() -> dict[str, tuple[str, list[str]]]:
    """class name -> (file, base names) for every class of the code that is an exception."""
    classes: dict[str, tuple[str, list[str]]] = {}
    for folder in FOLDERS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            if ".venv" in path.parts:  # bench/peers/.venv: the peers' own environment
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.ClassDef):
                    where = str(path.relative_to(ROOT))
                    classes[node.name] = (where, [_base_name(b) for b in node.bases])
    exceptions: dict[str, tuple[str, list[str]]] = {}
    changed = True
    while changed:  # a class is an exception if one of its bases is
        changed = False
        for name, (where, bases) in classes.items():
            if name not in exceptions and any(
                b in BUILTIN_EXCEPTIONS or b in exceptions for b in bases
            ):
                exceptions[name] = (where, bases)
                changed = True
    return exceptions


def _in_tree(name: str, exceptions: dict[str, tuple[str, list[str]]]) -> bool:
    if name == "SynthlakeError":
        return True
    return any(b in exceptions and _in_tree(b, exceptions) for b in exceptions[name][1])


def test_every_exception_class_derives_from_synthlake_error():
    exceptions = exception_classes()
    assert len(exceptions) > 30  # the walk finds them (errors.py alone holds 20)
    outside = sorted(
        f"{where}: {name}({', '.join(bases)})"
        for name, (where, bases) in exceptions.items()
        if not _in_tree(name, exceptions)
    )
    assert outside == []


def test_every_exception_class_is_drawn_in_the_tree():
    drawing = errors.__doc__ or ""
    missing = sorted(name for name in exception_classes() if name not in drawing)
    assert missing == []


@pytest.mark.parametrize(
    ("module", "name", "parents"),
    [
        ("synthlake.llm.providers.base", "ProviderError", (LLMError,)),
        ("synthlake.llm.types", "RequestRejected", (LLMError, ValueError)),
        ("synthlake.quality.judge", "JudgeParseError", (InvalidOutput, ValueError)),
        ("synthlake.quality.toxicity", "ToxicityUnavailable", (SynthlakeError, RuntimeError)),
        ("synthlake.ingest.news.http", "FetchFailed", (FetchError,)),
        ("synthlake.ingest.news.normalize", "_InvalidField", (ParseError,)),
    ],
)
def test_classes_that_joined_the_tree_keep_their_builtin_parent(module, name, parents):
    import importlib

    cls = getattr(importlib.import_module(module), name)
    for parent in parents:
        assert issubclass(cls, parent)


def test_transient_is_defined_once():
    assert SynthlakeError.transient is False
    definitions = []
    for folder in FOLDERS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            if ".venv" in path.parts:  # bench/peers/.venv: the peers' own environment
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.FunctionDef) and node.name == "_transient_only":
                    definitions.append(str(path.relative_to(ROOT)))
    assert definitions == []


class _State:
    def __init__(self, result: object) -> None:
        self._result = result

    def result(self, raise_on_failure: bool = True) -> object:
        assert raise_on_failure is False
        return self._result


@pytest.mark.parametrize(
    ("exc", "retried"),
    [
        (FetchError("https://example.invalid/x", "timeout"), False),  # permanent by default
        (SimpleNamespace(transient=True), False),  # not a SynthlakeError
        (ValueError("bad"), False),
        (None, False),  # the task did not raise
    ],
)
def test_retry_predicate(exc, retried):
    assert retry_if_transient(None, None, _State(exc)) is retried


def test_retry_predicate_retries_what_is_transient():
    from synthlake.ingest.hf_download import DatasetUnavailable

    hiccup = DatasetUnavailable("u", "hub_error", "HTTP 503", transient=True)
    missing = DatasetUnavailable("u", "dataset_not_found", "HTTP 404", transient=False)
    assert retry_if_transient(None, None, _State(hiccup)) is True
    assert retry_if_transient(None, None, _State(missing)) is False
