"""What every command-line module shares: the --lake option, settings for it, and clean
error output (``synthlake/pipeline/cli.py``, ``synthlake/pipeline/train_cli.py``)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any

import typer

from synthlake.errors import CorruptWarehouse, LakeNotWritable, SynthlakeError
from synthlake.lake import Lake, is_corrupt_warehouse_error
from synthlake.settings import Settings, load_settings

LakeOption = Annotated[
    Path | None, typer.Option("--lake", help="Lake root (overrides SYNTHLAKE_LAKE_ROOT).")
]


def settings_for(lake: Path | None = None) -> Settings:
    return load_settings(**({"lake_root": lake} if lake else {}))


def friendly(func: Callable[..., Any]) -> Callable[..., Any]:
    """Print a SynthlakeError, a write error (read-only lake, full disk) or a damaged
    warehouse as one clear message and exit 1, instead of a traceback."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except SynthlakeError as exc:
            message = str(exc)
            if is_corrupt_warehouse_error(exc) and not isinstance(exc, CorruptWarehouse):
                message = _corrupt_warehouse_message(kwargs, exc)
        except OSError as exc:
            # a read-only lake, no permission, a full disk: one line naming the path
            if LakeNotWritable.errno_of(exc) is None:
                raise
            message = str(LakeNotWritable.from_os_error(exc))
        except Exception as exc:
            if not is_corrupt_warehouse_error(exc):  # a damaged warehouse from duckdb itself
                raise
            message = _corrupt_warehouse_message(kwargs, exc)
        typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)

    return wrapper


def _corrupt_warehouse_message(kwargs: dict[str, Any], exc: BaseException) -> str:
    warehouse = Lake.from_settings(settings_for(kwargs.get("lake"))).warehouse
    reason = next((line for line in str(exc).splitlines() if "database file" in line), str(exc))
    return str(CorruptWarehouse(warehouse, reason.strip()))
