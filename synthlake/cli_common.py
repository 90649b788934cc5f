"""What every command-line module shares: the --lake option, settings for it, and clean
error output (``synthlake/cli.py``, ``train/cli.py``)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any

import typer

from synthlake.errors import SynthlakeError
from synthlake.settings import Settings, load_settings

LakeOption = Annotated[
    Path | None, typer.Option("--lake", help="Lake root (overrides SYNTHLAKE_LAKE_ROOT).")
]


def settings_for(lake: Path | None = None) -> Settings:
    return load_settings(**({"lake_root": lake} if lake else {}))


def friendly(func: Callable[..., Any]) -> Callable[..., Any]:
    """Print a SynthlakeError as one clear message and exit 1, instead of a traceback."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except SynthlakeError as exc:
            typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
            raise typer.Exit(1) from None

    return wrapper
