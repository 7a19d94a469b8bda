"""What `papers-etl build` shows a person: progress, warnings, and the closing summary."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from etl import config
from etl.messages import labelled
from etl.pipeline import BuildError, BuildOutcome, BuildSummary, build, list_dumps

SUMMARY_JSON_ENV = "PAPERS_ETL_SUMMARY_JSON"
MAX_WARNINGS_SHOWN = 50


def summary_table(summary: BuildSummary, *, validate_asked: bool = True) -> Table:
    table = Table(title="papers-etl build", show_header=False, title_justify="left")
    table.add_column("what")
    table.add_column("count", justify="right")
    cached = f" ({summary.files_from_cache} from cache)" if summary.files_from_cache else ""
    rows = [
        ("files", f"{summary.files}{cached}"),
        (
            "lines accounted",
            f"{summary.lines_accounted:,} of {summary.lines_total:,} = "
            f"{summary.lines_boilerplate:,} boilerplate + {summary.lines_record:,} record + "
            f"{summary.lines_rejected:,} rejected",
        ),
        ("records", f"{summary.records:,}"),
        ("distinct papers", f"{summary.papers:,}"),
        ("duplicates merged", f"{summary.duplicates_merged:,}"),
        ("links", f"{summary.links:,}"),
        ("rejects", f"{summary.rejects:,}"),
        ("warnings", f"{summary.warnings:,}"),
        (
            "validation",
            {True: "passed", False: "FAILED"}.get(
                summary.validated, "not reached" if validate_asked else "skipped (--no-validate)"
            ),
        ),
        ("seconds", " ".join(f"{k} {v:.2f}" for k, v in summary.stage_seconds.items())),
    ]
    for what, count in rows:
        table.add_row(what, count)
    return table


def run_build(raw: Path, out: Path, *, strict: bool, validate: bool, jobs: int, cache: bool) -> int:
    """The build command: 0 published, 1 data refused, 2 bad input folder or broken suite, 3 output
    not writable, busy or holding other files, 130 interrupted (see README)."""
    # Names, paths, dump text and errors are printed as they are (etl/messages.py).
    console = Console(stderr=True, soft_wrap=True, emoji=False)
    try:
        file_count = len(list_dumps(raw))
    except BuildError as exc:  # no such folder
        console.print(labelled(console, "error:", "red", str(exc)))
        return 2
    cache_dir = config.CACHE_DIR if cache else None
    show_progress = sys.stderr.isatty() and file_count > 1
    with Progress(
        TextColumn("parsing dumps"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=not show_progress,
        transient=True,
    ) as progress:
        task = progress.add_task("parse", total=file_count)
        try:
            outcome = build(
                raw,
                out,
                validate=validate,
                strict=strict,
                jobs=jobs,
                cache_dir=cache_dir,
                on_file=lambda: progress.advance(task),
            )
        except KeyboardInterrupt:
            progress.stop()
            console.print(
                labelled(console, "interrupted:", "red", f"{out} keeps its last complete tables")
            )
            return 130
    _print_warnings(console, outcome)
    if outcome.summary.stage_seconds:  # else it stopped before parsing: nothing to sum up
        console.print(summary_table(outcome.summary, validate_asked=validate))
    _write_summary_json(outcome)
    if outcome.exit_code:
        console.print(labelled(console, "error:", "red", outcome.message))
        return outcome.exit_code
    console.print(f"tables written to {out}", markup=False)
    if outcome.summary.validated and out.resolve() == config.PROCESSED_DIR.resolve():
        # The card describes the committed, validated data: regenerate it with them.
        from etl.card import write_card

        try:
            write_card(config.PROCESSED_DIR)
        except OSError as exc:
            console.print(
                labelled(
                    console,
                    "error:",
                    "red",
                    "the tables are in place, but the card could not be written "
                    f"({exc.strerror}: {exc.filename}); `make data` again once it can",
                )
            )
            return 3
        console.print("dataset_card.md and its chart regenerated")
    return 0


def _print_warnings(console: Console, outcome: BuildOutcome) -> None:
    for warning in outcome.warnings[:MAX_WARNINGS_SHOWN]:
        console.print(Text.assemble(("warning:", "yellow"), " ", str(warning)))
    hidden = len(outcome.warnings) - MAX_WARNINGS_SHOWN
    if hidden > 0:
        console.print(f"[yellow]… {hidden} more warnings (see rejects.parquet)[/]")


def _write_summary_json(outcome: BuildOutcome) -> None:
    target = os.environ.get(SUMMARY_JSON_ENV)
    if target:
        Path(target).write_text(json.dumps(outcome.summary.as_dict(), indent=2, sort_keys=True))
