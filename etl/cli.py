"""`papers-etl`: the command-line edge. Heavy libraries are imported inside commands."""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from etl import config

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# polars' allocator gives freed pages back after 100 ms (see config); read when polars is
# first loaded, which is after this. Parse workers get their own setting (etl/workers.py).
os.environ.setdefault("_RJEM_MALLOC_CONF", config.JEMALLOC_CONF_BUILD)
# pyarrow allocates with mimalloc, which keeps freed pages too: one 1 GB dump's build peaked
# at 1,054 MiB while writing the papers' row groups, and at 938 MiB with freed pages given
# back after 100 ms (0 ms: 843 MiB, but the 1 GB pile's write took 2 s longer).
os.environ.setdefault("MIMALLOC_PURGE_DELAY", "100")

_PR_SET_THP_DISABLE = 41


def _reachable(path: Path | None) -> Path | None:
    """A relative path needs the current folder: one deleted under the shell is an error
    here, in one line, rather than a traceback wherever the path is first made absolute."""
    if path is not None and not path.is_absolute():
        try:
            os.getcwd()
        except FileNotFoundError:
            raise typer.BadParameter(
                f"{path} is relative, and the current folder no longer exists; "
                "cd to a folder that exists, or give an absolute path"
            ) from None
    return path


app = typer.Typer(
    help="Turn raw Hugging Face Papers dumps into validated, deduplicated Parquet tables.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.command()
def build(
    raw: Annotated[
        Path,
        typer.Option(help="Folder of raw dumps (*.txt) and manifest.csv.", callback=_reachable),
    ] = config.RAW_DIR,
    out: Annotated[
        Path, typer.Option(help="Folder the Parquet tables are written to.", callback=_reachable)
    ] = config.PROCESSED_DIR,
    strict: Annotated[
        bool,
        typer.Option(
            help="Exit non-zero (and keep the old tables) if anything is rejected: a line, or "
            "a whole file (empty, binary, unreadable...)."
        ),
    ] = False,
    validate: Annotated[
        bool, typer.Option(help="Validate with Great Expectations before replacing the tables.")
    ] = True,
    jobs: Annotated[
        int, typer.Option(min=0, help="Worker processes for parsing (0 = one per core).")
    ] = 0,
    cache: Annotated[
        bool,
        typer.Option(
            help="Reuse per-dump parses cached under build/cache (entries of other parser "
            "or tool versions are removed)."
        ),
    ] = True,
) -> None:
    """Parse, normalize, deduplicate and write the tables, atomically."""
    from etl.report import run_build

    raise typer.Exit(run_build(raw, out, strict=strict, validate=validate, jobs=jobs, cache=cache))


@app.command()
def validate(
    data: Annotated[
        Path, typer.Option(help="Folder holding the Parquet tables.", callback=_reachable)
    ] = config.PROCESSED_DIR,
) -> None:
    """Run every Great Expectations suite in expectations/ on the tables."""
    from etl.swap import recover_for_reading
    from etl.validate import run_validate_command

    recover_for_reading(data)

    raise typer.Exit(run_validate_command(data))


@app.command()
def publish(
    stage: Annotated[
        Path, typer.Option(help="Folder to assemble the Hub layout in.", callback=_reachable)
    ],
    repo_id: Annotated[str | None, typer.Option(help="Hub dataset repo, OWNER/NAME.")] = None,
    private: Annotated[
        bool,
        typer.Option(
            help="Create the Hub repo as private (without it: the owner's default). "
            "An existing repo keeps its visibility."
        ),
    ] = False,
    dry_run: Annotated[bool, typer.Option(help="Stage only; upload nothing.")] = False,
    data: Annotated[
        Path, typer.Option(help="Folder holding the Parquet tables.", callback=_reachable)
    ] = config.PROCESSED_DIR,
) -> None:
    """Validate, stage the Hub layout and (with --repo-id) upload it."""
    from etl.publish import run_publish_command
    from etl.swap import recover_for_reading

    recover_for_reading(data)

    raise typer.Exit(
        run_publish_command(stage, repo_id=repo_id, private=private, dry_run=dry_run, data=data)
    )


class OutputFormat(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


@app.command()
def query(
    sql: Annotated[
        str,
        typer.Argument(
            help="SQL over the views papers, authors, dates, links, sources, rejects, papers_full."
        ),
    ],
    data: Annotated[
        Path, typer.Option(help="Folder holding the Parquet tables.", callback=_reachable)
    ] = config.PROCESSED_DIR,
    format: Annotated[
        OutputFormat, typer.Option("--format", help="Output format.")
    ] = OutputFormat.table,
) -> None:
    """Run read-only SQL against the tables with DuckDB."""
    from etl.query import run_query_command
    from etl.swap import recover_for_reading

    recover_for_reading(data)

    raise typer.Exit(run_query_command(sql, data=data, output_format=format.value))


def main() -> None:
    without_huge_pages()
    app()


def without_huge_pages() -> None:
    """Turn transparent huge pages off for this process and its workers (Linux).

    numpy and pyarrow's allocator ask for huge pages for big buffers. On the 2-core VM the
    benchmark runs on, a huge page took about 20 ms to fault in (90 MB/s, against 2.3 GB/s
    in small pages), and a cold 1 GB build faulted in some 350 of them.
    """
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_THP_DISABLE, 1, 0, 0, 0)
