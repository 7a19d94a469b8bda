"""Build: the whole flow, raw dumps -> validated tables, with files and settings at this edge.

data/raw/*.txt --decode/parse/normalize (etl.dumps, on worker processes: etl.workers)-->
    records + links + rejects, kept in the record store (etl.store) --dedupe (key columns
    only; etl.assemble, etl.dedupe)--> papers, authors, dates, links, sources --write
    (papers a few row groups at a time; etl.write)--> staging --validate--> data/processed/
    (swapped in whole, under a lock: etl.swap)
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import gc
import shutil
import tempfile
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from etl import config, schemas, swap
from etl.assemble import PapersTable, assemble_tables
from etl.dates import latest_today
from etl.dumps import FileEntry, Warning_
from etl.store import RecordStore, prune
from etl.workers import parse_all
from etl.write import OutputError, write_tables

# Everything a build writes into --out: a folder holding anything else is never replaced.
TABLE_FILES = frozenset(spec.file_name for spec in schemas.TABLES)


class BuildError(Exception):
    """A problem with the inputs as a whole: the raw folder is missing or not a folder."""


@dataclass
class BuildSummary:
    """Counts each stage reported; the closing summary is their sum."""

    files: int = 0
    files_from_cache: int = 0
    lines_total: int = 0
    lines_boilerplate: int = 0
    lines_record: int = 0
    lines_rejected: int = 0
    records: int = 0
    papers: int = 0
    duplicates_merged: int = 0
    rejects: int = 0
    links: int = 0
    warnings: int = 0
    validated: bool | None = None
    published: bool = False
    stage_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def lines_accounted(self) -> int:
        return self.lines_boilerplate + self.lines_record + self.lines_rejected

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "lines_accounted": self.lines_accounted}


@dataclass
class BuildResult:
    tables: Mapping[str, pa.Table]
    summary: BuildSummary
    warnings: list[Warning_]


def list_dumps(raw_dir: Path) -> list[Path]:
    """The dumps of a raw folder, in a fixed order (by name).

    Symlinks are listed even when broken or pointing out of the folder, so that skipping
    them is reported (see `etl.workers._stored_or_read`) rather than silent.
    """
    if not raw_dir.is_dir():
        problem = "is not a folder" if raw_dir.exists() else "does not exist"
        raise BuildError(f"raw folder {raw_dir} {problem}")
    return sorted(
        (
            p
            for p in raw_dir.iterdir()
            if p.suffix == config.DUMP_SUFFIX and (p.is_file() or p.is_symlink())
        ),
        key=lambda p: p.name,
    )


def read_manifest(
    raw_dir: Path, dump_names: Collection[str]
) -> tuple[dict[str, dt.date], list[Warning_]]:
    """Capture dates from manifest.csv (optional); bad rows are warnings, not failures.

    A row naming no dump of the folder, or a dump named twice, is a warning too: either is
    most likely a typo that would quietly leave a dump's dates without their capture year.
    So is a date no capture can have (after today, or before any paper): taken, it failed
    validation, which refused every dump of the build for one typo. Warnings give the line
    of the file the row is on, blank lines counted.
    """
    path = raw_dir / config.MANIFEST_NAME
    dates: dict[str, dt.date] = {}
    warnings: list[Warning_] = []
    if not path.exists():
        return dates, warnings
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        return dates, [Warning_(path.name, 0, f"manifest unreadable, ignored: {exc}")]
    lines = text.splitlines()
    reader = csv.DictReader(lines)
    if reader.fieldnames is None or not {"file", "captured_on"} <= set(reader.fieldnames):
        return dates, [
            Warning_(path.name, 1, "manifest needs the columns file,captured_on,source_url")
        ]
    first_row: dict[str, int] = {}
    today = latest_today()
    end = reader.line_num  # the header's last line
    for row in reader:
        # The row's first line: after the last row's end and any blank lines (which the
        # reader skips); a quoted field may make a row span several.
        line, end = end + 1, reader.line_num
        while line < end and not lines[line - 1].strip():
            line += 1
        name, value = (row.get("file") or "").strip(), (row.get("captured_on") or "").strip()
        if not name:
            continue
        if name in first_row:
            message = f"{name} is listed again (first on line {first_row[name]}); row ignored"
            warnings.append(Warning_(path.name, line, message))
            continue
        first_row[name] = line
        if name not in dump_names:
            message = f"{name} is not a dump in {raw_dir}; row ignored"
            warnings.append(Warning_(path.name, line, message))
            continue
        if not value:
            continue
        try:
            captured_on = dt.date.fromisoformat(value)
        except ValueError:
            warnings.append(
                Warning_(path.name, line, f"captured_on {value!r} is not a YYYY-MM-DD date")
            )
            continue
        if captured_on > today:
            problem = "is after today"
        elif captured_on.year < config.MIN_PUBLISHED_YEAR:
            problem = f"is before {config.MIN_PUBLISHED_YEAR}"
        else:
            dates[name] = captured_on
            continue
        warnings.append(Warning_(path.name, line, f"captured_on {value} {problem}; ignored"))
    return dates, warnings


class _StageTimer:
    def __init__(self, summary: BuildSummary) -> None:
        self.summary = summary
        self.last = time.perf_counter()

    def __call__(self, stage: str) -> None:
        now = time.perf_counter()
        self.summary.stage_seconds[stage] = round(now - self.last, 4)
        self.last = now


@dataclass
class BuildOutcome(BuildResult):
    """A build plus what happened at the edge: where the tables went and why."""

    exit_code: int = 0
    message: str = ""


class TableFolder(Mapping[str, pa.Table]):
    """The tables of a build, read from the folder they were written to when first asked for."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self._read: dict[str, pa.Table] = {}

    def __getitem__(self, name: str) -> pa.Table:
        if name not in schemas.TABLES_BY_NAME or self.folder is None:
            raise KeyError(name)
        if name not in self._read:
            self._read[name] = pq.read_table(self.folder / schemas.TABLES_BY_NAME[name].file_name)
        return self._read[name]

    def __iter__(self) -> Iterator[str]:
        return iter(schemas.TABLES_BY_NAME if self.folder is not None else ())

    def __len__(self) -> int:
        return len(schemas.TABLES_BY_NAME) if self.folder is not None else 0


def build(
    raw_dir: Path | str = config.RAW_DIR,
    out_dir: Path | str = config.PROCESSED_DIR,
    *,
    validate: bool = True,
    strict: bool = False,
    jobs: int = 0,
    cache_dir: Path | None = None,
    on_file: Callable[[], None] | None = None,
) -> BuildOutcome:
    """Build the tables from raw_dir and, if they pass, swap them into out_dir.

    Returns the tables (read from where they were written) and the summary. Nothing in
    out_dir changes unless the whole build (and validation, when asked) succeeds; a strict
    build also refuses any reject. Parsed dumps are kept in `cache_dir` for the next build,
    or in a temporary folder when it is None.
    """
    raw_dir, out_dir = Path(raw_dir), Path(out_dir)
    summary = BuildSummary()
    timer = _StageTimer(summary)
    paths = list_dumps(raw_dir)
    captured, warnings = read_manifest(raw_dir, {path.name for path in paths})
    outcome = BuildOutcome(tables=TableFolder(None), summary=summary, warnings=warnings)
    refusal = _cannot_start(paths, raw_dir, out_dir, validate=validate)
    if refusal is not None:
        outcome.exit_code, outcome.message = 2, refusal
        return outcome
    with contextlib.ExitStack() as cleanup:
        try:
            # Held for the whole build, so that a second build on the same output fails at
            # once instead of after parsing everything.
            _lock_output(out_dir, cleanup)
            check_replaceable(out_dir)
            store_dir = cache_dir or Path(cleanup.enter_context(tempfile.TemporaryDirectory()))
            entries, reused = parse_all(paths, captured, jobs, store_dir, on_file)
            # Without a cache, a dump is reused only from a byte-identical one of this build.
            summary.files_from_cache = reused if cache_dir is not None else 0
            if cache_dir is not None:
                prune(cache_dir)
        except OutputError as exc:
            outcome.exit_code, outcome.message = 3, str(exc)
            return outcome
        timer("parse")
        _account_lines(entries, summary, warnings)
        store = RecordStore([e.stored for e in entries if e.stored and e.record_count])
        try:
            parked_by = f"cannot put back the tables parked by a killed build in {out_dir.parent}"
            with _output_error(parked_by):
                swap.recover(out_dir, TABLE_FILES)
            with _output_error(f"cannot write to {out_dir.parent}"):
                staging = swap.new_staging_dir(out_dir)
        except OutputError as exc:
            outcome.exit_code, outcome.message = 3, str(exc)
            return outcome
        # Gone once swapped in or kept; left only by an exception (a Ctrl-C) on the way.
        cleanup.callback(shutil.rmtree, staging, ignore_errors=True)
        background = cleanup.enter_context(ThreadPoolExecutor(max_workers=1))
        tables, summary.duplicates_merged = assemble_tables(entries, store, timer, background)
        _count_rows(tables, summary)
        summary.files, summary.warnings = len(paths), len(warnings)
        written = _publish(
            tables,
            summary,
            outcome,
            out_dir,
            staging,
            validate=validate,
            strict=strict,
            timer=timer,
        )
    outcome.tables = TableFolder(written)
    return outcome


def _cannot_start(paths: list[Path], raw_dir: Path, out_dir: Path, *, validate: bool) -> str | None:
    """Why the build must stop before parsing anything, if it must (exit code 2)."""
    if not paths:
        # Most likely a mistyped --raw: replacing the tables with empty ones would lose them.
        return (
            f"no dumps (*{config.DUMP_SUFFIX}) in {raw_dir}; nothing was built and "
            f"{out_dir} is unchanged"
        )
    if validate:  # a broken suite is found before the parse, not after it
        from etl.validate import SuiteDefinitionError, load_suite_documents

        try:
            load_suite_documents()
        except SuiteDefinitionError as exc:
            return _broken_suite(exc, out_dir)
    return None


def _account_lines(
    entries: list[FileEntry], summary: BuildSummary, warnings: list[Warning_]
) -> None:
    """Add each dump's lines and warnings to the build's; a dump whose lines do not add up
    (boilerplate + record + rejected = total) is a bug, and stops the build."""
    for entry in entries:
        warnings.extend(entry.warnings)
        summary.lines_total += entry.total_lines
        summary.lines_boilerplate += entry.boilerplate_lines
        summary.lines_record += entry.record_lines
        summary.lines_rejected += entry.rejected_lines
        if entry.boilerplate_lines + entry.record_lines + entry.rejected_lines != entry.total_lines:
            raise AssertionError(f"line accounting broken for {entry.source_file}")


def _count_rows(tables: Mapping[str, pa.Table | PapersTable], summary: BuildSummary) -> None:
    summary.records = tables["sources"].num_rows
    summary.papers = tables["papers"].num_rows
    summary.rejects = tables["rejects"].num_rows
    summary.links = tables["links"].num_rows


def _publish(
    tables: dict[str, pa.Table | PapersTable],
    summary: BuildSummary,
    outcome: BuildOutcome,
    out_dir: Path,
    staging: Path,
    *,
    validate: bool,
    strict: bool,
    timer: _StageTimer,
) -> Path | None:
    """Write into `staging`, validate and swap in (the caller holds the lock); old tables stay
    on any failure.

    `tables` is emptied once written: validation reads the files, and at 1 GB of dumps the
    build's tables, held meanwhile, kept 606 MiB resident when validation started (281 MiB
    once let go).
    Returns the folder the new tables are in (out_dir, or the kept candidate), if any.
    """
    try:
        write_tables(tables, schemas.TABLES, staging)
        tables.clear()
        gc.collect()
        pa.default_memory_pool().release_unused()
        timer("write")
        if validate:
            from etl.validate import SuiteDefinitionError, validate_tables

            try:
                report = validate_tables(staging)
            except SuiteDefinitionError as exc:  # what only Great Expectations can tell
                outcome.exit_code, outcome.message = 2, _broken_suite(exc, out_dir)
                return None
            summary.validated = report.success
            timer("validate")
            if not report.success:
                kept, where = _keep_candidate(staging)
                outcome.exit_code = 1
                failed = "".join(f"\n  {line}" for line in report.failure_lines())
                report_hint = (
                    f" (`papers-etl validate --data {kept}` for the report)" if kept else ""
                )
                outcome.message = (
                    f"validation failed: {out_dir} left as it was; {where}{report_hint}{failed}"
                )
                return kept
        if strict and summary.rejects:
            kept, where = _keep_candidate(staging)
            outcome.exit_code = 1
            outcome.message = (
                f"--strict: {summary.rejects} reject(s); {out_dir} left as it was; {where}"
            )
            return kept
        check_replaceable(out_dir)  # again: the folder may have changed meanwhile
        with _output_error(f"cannot replace {out_dir}"):
            swap.swap_in(staging, out_dir)
        summary.published = True
        return out_dir
    except OutputError as exc:
        outcome.exit_code = 3
        outcome.message = str(exc)
        return None


def _lock_output(out_dir: Path, cleanup: contextlib.ExitStack) -> None:
    """Hold out_dir's lock (`etl.swap.lock`) until `cleanup` closes."""
    try:
        with _output_error(f"cannot write to {out_dir.parent}"):
            cleanup.enter_context(swap.lock(out_dir))
    except swap.FolderBusy:
        raise OutputError(
            f"another build is writing to {out_dir}, or a publish reading it, right now; try "
            "again when it ends"
        ) from None


@contextlib.contextmanager
def _output_error(failing: str) -> Iterator[None]:
    """An OSError in the block becomes an OutputError `failing: reason` (exit code 3)."""
    try:
        yield
    except OSError as exc:
        raise OutputError(f"{failing}: {exc.strerror}") from exc


def check_replaceable(out_dir: Path) -> None:
    """Refuse an output folder that holds more than tables (`swap.refusal`), or the folder
    where a failing build keeps its refused tables: that build would find it locked by
    itself, and old tables there stand for a failure, not a dataset."""
    problem = swap.refusal(out_dir, TABLE_FILES, "--out", "a build")
    if problem is None and out_dir.resolve() == config.REJECTED_CANDIDATE_DIR.resolve():
        problem = (
            f"--out {out_dir} is where a build keeps the tables that fail validation; give "
            "another folder; nothing was changed"
        )
    if problem is not None:
        raise OutputError(problem)


def _broken_suite(error: Exception, out_dir: Path) -> str:
    return (
        f"broken expectation suite ({error}); {out_dir} left as it was "
        "(`--no-validate` builds without it)"
    )


def _keep_candidate(staging: Path) -> tuple[Path | None, str]:
    """Put refused tables in `config.REJECTED_CANDIDATE_DIR` in place of the last ones kept:
    where they went (None if they could not be kept there), and a phrase saying so.

    The folder is replaced as `--out` is (`etl.swap`: locked, written beside it, swapped in),
    since two failing builds of one checkout share it, and the move may be a copy (`build/`
    on another file system) that fails halfway or is killed.
    """
    target = config.REJECTED_CANDIDATE_DIR
    try:
        with swap.replaced(target, TABLE_FILES, "the candidate folder", "a build") as moving:
            for table in sorted(staging.iterdir()):
                shutil.move(str(table), moving / table.name)
    except swap.Refused as refused:
        return None, f"the refused tables could not be kept: {refused}"
    except swap.FolderBusy:
        reason = "another build is keeping its own there right now"
        return None, f"the refused tables could not be kept in {target} ({reason})"
    except OSError as exc:
        where = f": {exc.filename}" if exc.filename else ""
        reason = f"{exc.strerror or exc}{where}"
        return None, f"the refused tables could not be kept in {target} ({reason})"
    return target, f"the refused tables are in {target}"
