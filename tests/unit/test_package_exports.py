"""The top-level package's public names, imported on first use (synthlake/__init__.py)."""

from __future__ import annotations

import pytest

import synthlake


def test_dir_lists_the_exports_and_the_version() -> None:
    assert dir(synthlake) == sorted([*synthlake.__all__, "__version__"])


def test_each_export_resolves_and_an_unknown_name_is_an_attribute_error() -> None:
    from synthlake.settings import load_settings

    assert synthlake.load_settings is load_settings
    for name in synthlake.__all__:
        assert getattr(synthlake, name) is not None
    with pytest.raises(AttributeError, match="'synthlake' has no attribute 'nope'"):
        synthlake.nope  # noqa: B018
