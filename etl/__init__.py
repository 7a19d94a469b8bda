"""Hugging Face Papers dumps -> deduplicated, provenance-tracked Parquet tables.

Library use: `etl.build(raw_dir, out_dir)` returns the tables and the summary.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from etl.pipeline import build

__all__ = ["build"]


def __getattr__(name: str) -> Any:
    # Imported on first use, so that `papers-etl --help` does not load polars.
    if name == "build":
        from etl.pipeline import build

        return build
    raise AttributeError(name)
