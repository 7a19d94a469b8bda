"""The build at its edges: determinism, atomic replacement, the lock, the CLI."""

from __future__ import annotations

import datetime as dt
import errno
import gc
import shutil
import subprocess
import sys
import weakref
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import etl.config
import etl.pipeline
import etl.validate
from etl import build
from etl.cli import app
from etl.schemas import TABLES
from etl.swap import lock
from tests.conftest import PROJECT_ROOT, copy_seeds

runner = CliRunner()
BAD_FOOTER = (
    "new\n\nSubscribe\n\nA Title\n\n"
    + "An abstract sentence. " * 10
    + "\n\n  • 0 authors\n·\nApr 5\n"
)


def refused_strict_build(raw_dir: Path, out: Path) -> etl.pipeline.BuildOutcome:
    """A --strict build of the seeds and a dump with a bad footer: its tables are refused."""
    copy_seeds(raw_dir)
    (raw_dir / "bad.txt").write_text(BAD_FOOTER)
    return build(raw_dir, out, validate=False, strict=True)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_same_input_gives_byte_identical_tables(raw_dir, tmp_path):
    copy_seeds(raw_dir)
    build(raw_dir, tmp_path / "a", validate=False)
    build(raw_dir, tmp_path / "b", validate=False, jobs=2)
    assert snapshot(tmp_path / "a") == snapshot(tmp_path / "b")
    assert sorted(snapshot(tmp_path / "a")) == sorted(s.file_name for s in TABLES)


def test_failed_write_leaves_the_previous_tables(raw_dir, tmp_path, monkeypatch):
    copy_seeds(raw_dir)
    out = tmp_path / "out"
    build(raw_dir, out, validate=False)
    before = snapshot(out)
    (raw_dir / "extra.txt").write_text(BAD_FOOTER)

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("etl.write.write_parquet", disk_full)
    outcome = build(raw_dir, out, validate=False)
    assert outcome.exit_code == 3
    assert "the disk is full" in outcome.message
    assert snapshot(out) == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out")] == [".out.lock"]


def test_a_second_build_fails_at_once_while_the_first_holds_the_lock(raw_dir, tmp_path):
    copy_seeds(raw_dir)
    out = tmp_path / "out"
    with lock(out):
        outcome = build(raw_dir, out, validate=False)
    assert outcome.exit_code == 3
    assert "another build is writing" in outcome.message
    assert not out.exists()


def test_recover_puts_back_tables_parked_by_a_killed_run(raw_dir, tmp_path):
    copy_seeds(raw_dir)
    out = tmp_path / "out"
    build(raw_dir, out, validate=False)
    before = snapshot(out)
    out.rename(tmp_path / ".out.old-999")  # killed between the two renames
    (tmp_path / ".out.tmp-998").mkdir()  # and a staging folder from another killed run
    outcome = build(raw_dir, out, validate=False)
    assert outcome.exit_code == 0 and snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [".out.lock", "out", "raw"]


def test_cli_build_prints_the_accounting_summary(raw_dir, tmp_path):
    copy_seeds(raw_dir)
    result = runner.invoke(
        app,
        [
            "build",
            "--raw",
            str(raw_dir),
            "--out",
            str(tmp_path / "out"),
            "--no-validate",
            "--no-cache",
        ],
    )
    assert result.exit_code == 0, result.output
    for expected in (
        "607 of 607 = 147 boilerplate + 460 record + 0 rejected",
        "distinct papers",
        "159",
        "duplicates merged",
        "skipped (--no-validate)",
    ):
        assert expected in result.output


def test_cli_strict_refuses_rejects_and_keeps_the_old_tables(raw_dir, tmp_path):
    copy_seeds(raw_dir)
    out = tmp_path / "out"
    args = ["build", "--raw", str(raw_dir), "--out", str(out), "--no-validate", "--no-cache"]
    assert runner.invoke(app, [*args, "--strict"]).exit_code == 0
    before = snapshot(out)
    (raw_dir / "bad.txt").write_text(BAD_FOOTER)
    result = runner.invoke(app, [*args, "--strict"])
    assert result.exit_code == 1
    assert "bad.txt:" in result.output and "invalid author count" in result.output
    assert snapshot(out) == before
    assert runner.invoke(app, args).exit_code == 0  # without --strict the reject is recorded
    assert snapshot(out) != before


def test_cli_missing_raw_folder_is_a_clear_error(tmp_path):
    result = runner.invoke(app, ["build", "--raw", str(tmp_path / "nope"), "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "does not exist" in result.output


def test_python_dash_m_etl_runs():
    result = subprocess.run(
        [sys.executable, "-m", "etl", "--help"],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        check=False,
    )
    assert result.returncode == 0
    assert "build" in result.stdout


def test_a_build_without_validation_never_imports_pandas(raw_dir, tmp_path):
    """Only Great Expectations needs pandas; pyarrow imports it on first use of a few
    functions (`pa.array`, `from_pylist`, `to_numpy`), which cost every build 0.15-0.2 s.
    A cold build, one from the cache, and rejects among the tables."""
    copy_seeds(raw_dir)
    (raw_dir / "broken.txt").write_text("A title with no abstract\n")
    build_twice = (
        "import sys; from pathlib import Path; from etl import build\n"
        f"for _ in range(2):\n"
        f"    outcome = build(Path({str(raw_dir)!r}), Path({str(tmp_path / 'out')!r}), "
        f"validate=False, cache_dir=Path({str(tmp_path / 'cache')!r}))\n"
        "    print(outcome.exit_code, outcome.summary.rejects, outcome.summary.files_from_cache)\n"
        "print('pandas' in sys.modules)\n"
    )
    assert python_prints(build_twice).split("\n")[:3] == ["0 1 0", "0 1 3", "False"]


def python_prints(code: str) -> str:
    """What `python -c code` prints, run from the project (a process of its own)."""
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=PROJECT_ROOT, check=True
    ).stdout


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="Linux only")
def test_the_cli_and_its_children_run_without_huge_pages():
    # The command's stand-in prints what a parse worker, a child of it, would see.
    show_child = (
        "import subprocess; from etl import cli; cli.app = lambda: subprocess.run("
        "['grep', 'THP_enabled', '/proc/self/status'], check=True); cli.main()"
    )
    assert python_prints(show_child).split() == ["THP_enabled:", "0"]


def test_bad_files_do_not_stop_the_good_ones(raw_dir, tmp_path):
    copy_seeds(raw_dir)
    (raw_dir / "empty.txt").write_bytes(b"")
    (raw_dir / "image.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    shutil.copy(raw_dir / "002_8a14f4b5b4fd0176.txt", raw_dir / "copy.txt")
    outcome = build(raw_dir, tmp_path / "out", validate=False)
    assert outcome.summary.papers == 159
    reasons = {r["source_file"]: r["reason"] for r in outcome.tables["rejects"].to_pylist()}
    assert reasons == {"empty.txt": "empty_file", "image.txt": "binary_file"}
    assert [str(w) for w in outcome.warnings] == [
        "empty.txt: empty file; file skipped",
        "image.txt: binary content (PNG image); file skipped",
    ]


def test_the_built_tables_are_let_go_before_validation_reads_the_files(
    raw_dir, tmp_path, monkeypatch
):
    """Held during validation, they added 600 MiB to the peak of a 1 GB build."""
    import etl.pipeline
    import etl.validate

    written: list[weakref.ref] = []
    alive_at_validation: list[int] = []
    write_tables, validate_tables = etl.pipeline.write_tables, etl.validate.validate_tables

    def tracked_write(tables, *args, **kwargs):
        written.extend(weakref.ref(table) for table in tables.values())
        return write_tables(tables, *args, **kwargs)

    def tracked_validate(*args, **kwargs):
        gc.collect()
        alive_at_validation.append(sum(ref() is not None for ref in written))
        return validate_tables(*args, **kwargs)

    monkeypatch.setattr(etl.pipeline, "write_tables", tracked_write)
    monkeypatch.setattr(etl.validate, "validate_tables", tracked_validate)
    copy_seeds(raw_dir)
    outcome = build(raw_dir, tmp_path / "out")
    assert outcome.exit_code == 0, outcome.message
    assert len(written) == len(TABLES)
    assert alive_at_validation == [0]


def test_tables_failing_validation_are_kept_aside_and_the_old_ones_stay(
    raw_dir, tmp_path, monkeypatch
):
    """The build's gate: failing tables never replace good ones, and the message says which
    rules failed on which rows, so a failing CI names them without another run."""
    out, kept = tmp_path / "out", tmp_path / "rejected-candidate"
    monkeypatch.setattr(etl.config, "REJECTED_CANDIDATE_DIR", kept)
    copy_seeds(raw_dir)
    assert build(raw_dir, out).exit_code == 0
    before = {path.name: path.read_bytes() for path in out.iterdir()}
    validate_tables = etl.validate.validate_tables

    def validated_in_2020(data_dir, *args, **kwargs):  # every capture is then in the future
        return validate_tables(data_dir, *args, today=dt.date(2020, 1, 1), **kwargs)

    monkeypatch.setattr(etl.validate, "validate_tables", validated_in_2020)
    outcome = build(raw_dir, out)
    assert outcome.exit_code == 1
    assert outcome.summary.validated is False and not outcome.summary.published
    assert {path.name: path.read_bytes() for path in out.iterdir()} == before
    assert sorted(path.name for path in kept.iterdir()) == sorted(t.file_name for t in TABLES)
    dates = pq.read_table(kept / "dates.parquet").to_pylist()
    late = [d["paper_id"] for d in dates if d["published_date"] > dt.date(2020, 1, 1)]
    sources = [s for s in pq.read_table(kept / "sources.parquet").to_pylist() if s["captured_on"]]
    assert outcome.message.splitlines() == [
        f"validation failed: {out} left as it was; the refused tables are in {kept} "
        f"(`papers-etl validate --data {kept}` for the report)",
        f"  dates.published_date_not_in_future: {len(late)} failing; rows paper_id: "
        + ", ".join(f"'{paper_id}'" for paper_id in late[:5])
        + ", …",
        f"  sources.captured_on_not_in_future: {len(sources)} failing; rows (source_file, "
        "line_start): "
        + ", ".join(f"('{s['source_file']}', {s['line_start']})" for s in sources[:5])
        + ", …",
    ]
    leftovers = sorted(p.name for p in tmp_path.iterdir())
    assert leftovers == [".out.lock", f".{kept.name}.lock", "out", "raw", kept.name]


def test_refused_tables_that_cannot_be_kept_aside_still_leave_the_old_ones(
    raw_dir, tmp_path, monkeypatch
):
    out, blocked = tmp_path / "out", tmp_path / "a-file"
    blocked.write_text("not a folder")
    monkeypatch.setattr(etl.config, "REJECTED_CANDIDATE_DIR", blocked / "rejected-candidate")
    copy_seeds(raw_dir)
    assert build(raw_dir, out, validate=False).exit_code == 0
    before = snapshot(out)
    (raw_dir / "bad.txt").write_text(BAD_FOOTER)
    outcome = build(raw_dir, out, validate=False, strict=True)
    assert outcome.exit_code == 1
    assert outcome.message == (
        f"--strict: 2 reject(s); {out} left as it was; the refused tables could not be kept "
        f"in {blocked / 'rejected-candidate'} (File exists: {blocked})"
    )
    assert snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [".out.lock", "a-file", "out", "raw"]


def test_a_move_of_refused_tables_failing_halfway_leaves_no_half_copy(
    raw_dir, tmp_path, monkeypatch
):
    """On another file system the move is a copy, which a full disk stops halfway: here at
    the third table, two being in place."""
    kept = tmp_path / "rejected-candidate"
    kept.mkdir()
    (kept / "papers.parquet").write_text("the last refused tables")
    monkeypatch.setattr(etl.config, "REJECTED_CANDIDATE_DIR", kept)
    move, moved = shutil.move, []

    def copy_cut_short(source, destination):
        if len(moved) == 2:
            Path(destination).write_bytes(Path(source).read_bytes()[:100])
            raise OSError(errno.ENOSPC, "No space left on device", str(destination))
        moved.append(destination)
        return move(source, destination)

    monkeypatch.setattr(etl.pipeline.shutil, "move", copy_cut_short)
    outcome = refused_strict_build(raw_dir, tmp_path / "out")
    assert outcome.exit_code == 1
    assert outcome.message.startswith(
        f"--strict: 2 reject(s); {tmp_path / 'out'} left as it was; the refused tables could "
        f"not be kept in {kept} (No space left on device: {kept.parent}/.{kept.name}.tmp-"
    )
    assert snapshot(kept) == {"papers.parquet": b"the last refused tables"}
    leftovers = sorted(p.name for p in tmp_path.iterdir())
    assert leftovers == [".out.lock", f".{kept.name}.lock", "raw", kept.name]


def test_refused_tables_wait_for_no_other_build_keeping_its_own(raw_dir, tmp_path, monkeypatch):
    """Two failing builds of one checkout share the candidate folder: the second says so
    rather than deleting the first's tables halfway through their move."""
    kept = tmp_path / "rejected-candidate"
    monkeypatch.setattr(etl.config, "REJECTED_CANDIDATE_DIR", kept)
    with lock(kept):
        outcome = refused_strict_build(raw_dir, tmp_path / "out")
    assert outcome.exit_code == 1
    assert outcome.message.endswith(
        f"the refused tables could not be kept in {kept} (another build is keeping its own "
        "there right now)"
    )
    assert not kept.exists()


def test_a_candidate_folder_that_is_a_link_is_left_alone(raw_dir, tmp_path, monkeypatch):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "mine.txt").write_text("mine")
    kept = tmp_path / "rejected-candidate"
    kept.symlink_to(elsewhere)
    monkeypatch.setattr(etl.config, "REJECTED_CANDIDATE_DIR", kept)
    outcome = refused_strict_build(raw_dir, tmp_path / "out")
    assert outcome.exit_code == 1
    assert outcome.message.endswith(
        f"the refused tables could not be kept: the candidate folder {kept} is a symbolic "
        "link; give the folder itself; nothing was changed"
    )
    assert snapshot(elsewhere) == {"mine.txt": b"mine"}


def test_the_current_folder_as_out_is_refused_before_anything_is_built(
    raw_dir, tmp_path, monkeypatch
):
    """It cannot be renamed from under the process: `.` failed, once everything was built,
    with "Device or resource busy"."""
    copy_seeds(raw_dir)
    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.chdir(out)
    for given in (Path("."), out, tmp_path):
        outcome = build(raw_dir, given, validate=False)
        assert (outcome.exit_code, outcome.summary.stage_seconds) == (3, {})
        assert outcome.message == (
            f"--out {given} is the current folder or holds it; give a folder of its own; "
            "nothing was changed"
        )
    assert list(out.iterdir()) == []


def test_the_folder_of_refused_tables_as_out_is_refused_before_anything_is_built(
    raw_dir, tmp_path, monkeypatch
):
    """A failing build there found the folder locked by itself and said another build was
    keeping its tables there."""
    copy_seeds(raw_dir)
    kept = etl.config.REJECTED_CANDIDATE_DIR
    kept.mkdir(parents=True)
    monkeypatch.chdir(kept.parent)
    (kept.parent / "sub").mkdir()
    for given in (kept, Path(kept.name), kept.parent / "sub" / ".." / kept.name):
        outcome = build(raw_dir, given)
        assert (outcome.exit_code, outcome.summary.stage_seconds) == (3, {})
        assert outcome.message == (
            f"--out {given} is where a build keeps the tables that fail validation; give "
            "another folder; nothing was changed"
        )
    assert list(kept.iterdir()) == []


def test_a_raw_folder_without_dumps_builds_nothing_and_keeps_the_tables(raw_dir, tmp_path):
    """Most likely a mistyped --raw: empty tables in place of the dataset would lose it."""
    out = tmp_path / "out"
    copy_seeds(raw_dir)
    assert build(raw_dir, out, validate=False).exit_code == 0
    before = {path.name: path.read_bytes() for path in out.iterdir()}
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.md").write_text("not a dump")
    for validate in (False, True):
        outcome = build(empty, out, validate=validate)
        assert outcome.exit_code == 2
        assert outcome.message == (
            f"no dumps (*.txt) in {empty}; nothing was built and {out} is unchanged"
        )
        assert {path.name: path.read_bytes() for path in out.iterdir()} == before


# -- an output folder that holds more than tables is never replaced ------------------------


def test_an_out_folder_holding_other_files_is_refused_and_left_whole(raw_dir, tmp_path):
    """`--out` given the folder above the raw one: replacing it would delete the dumps."""
    copy_seeds(raw_dir)
    (tmp_path / "notes.md").write_text("mine")
    before = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    outcome = build(raw_dir, tmp_path, validate=False)
    assert outcome.exit_code == 3
    assert outcome.message == (
        f"refusing to replace --out {tmp_path}: it holds notes.md, raw, which a build never "
        "writes and replacing the folder would delete; nothing was changed: give --out a new "
        "or empty folder, or one a build wrote"
    )
    after = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert after == before


def test_the_raw_folder_itself_is_refused_as_out(raw_dir):
    copy_seeds(raw_dir)
    before = snapshot(raw_dir)
    outcome = build(raw_dir, raw_dir, validate=False)
    assert outcome.exit_code == 3
    assert f"refusing to replace --out {raw_dir}: it holds 000_" in outcome.message
    assert snapshot(raw_dir) == before


def test_a_file_is_refused_as_out(raw_dir, tmp_path):
    copy_seeds(raw_dir)
    target = tmp_path / "out.parquet"
    target.write_bytes(b"mine")
    outcome = build(raw_dir, target, validate=False)
    assert (outcome.exit_code, outcome.message) == (
        3,
        f"--out {target} is a file, not a folder; nothing was changed",
    )
    assert target.read_bytes() == b"mine"


def test_a_folder_of_earlier_tables_or_an_empty_one_is_replaced(raw_dir, tmp_path):
    copy_seeds(raw_dir)
    out = tmp_path / "out"
    out.mkdir()
    assert build(raw_dir, out, validate=False).exit_code == 0
    assert build(raw_dir, out, validate=False).exit_code == 0
    assert sorted(snapshot(out)) == sorted(spec.file_name for spec in TABLES)


def test_the_swap_checks_the_out_folder_again(raw_dir, tmp_path, monkeypatch):
    """A file put into the output folder while the build ran is not deleted by the swap."""
    copy_seeds(raw_dir)
    out = tmp_path / "out"
    assert build(raw_dir, out, validate=False).exit_code == 0
    real_write_tables = etl.pipeline.write_tables

    def write_then_someone_saves_a_file(*args, **kwargs):
        real_write_tables(*args, **kwargs)
        (out / "notes.md").write_text("mine")

    monkeypatch.setattr(etl.pipeline, "write_tables", write_then_someone_saves_a_file)
    outcome = build(raw_dir, out, validate=False)
    assert outcome.exit_code == 3
    assert outcome.message.startswith(f"refusing to replace --out {out}: it holds notes.md,")
    assert (out / "notes.md").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".out.lock", "out", "raw"]


# -- manifest rows that name no dump -------------------------------------------------------


def test_manifest_rows_naming_no_dump_or_a_dump_twice_are_warned_about(raw_dir, tmp_path):
    copy_seeds(raw_dir, with_manifest=False)
    search, compact = sorted(p.name for p in raw_dir.glob("*.txt"))
    (raw_dir / "manifest.csv").write_text(
        "file,captured_on,source_url\n"
        f"{search},2025-11-11,\n"
        "00_typo.txt,2025-11-11,\n"
        f"{search},2024-01-01,\n"
        f"{compact},,\n"
    )
    outcome = build(raw_dir, tmp_path / "out", validate=False)
    assert outcome.exit_code == 0, outcome.message
    assert [str(w) for w in outcome.warnings] == [
        f"manifest.csv:3: 00_typo.txt is not a dump in {raw_dir}; row ignored",
        f"manifest.csv:4: {search} is listed again (first on line 2); row ignored",
    ]
    captured = outcome.tables["sources"].to_pydict()
    dates = dict(zip(captured["source_file"], captured["captured_on"], strict=True))
    assert str(dates[search]) == "2025-11-11"  # the first row wins
    assert dates[compact] is None


def test_manifest_dates_no_capture_can_have_are_warned_about_and_ignored(raw_dir, tmp_path):
    """2205-11-11 for 2025-11-11 failed validation (a capture after today), and so refused
    every dump of the build; warnings name the line the row is on, blank lines counted."""
    copy_seeds(raw_dir, with_manifest=False)
    search, compact = sorted(p.name for p in raw_dir.glob("*.txt"))
    (raw_dir / "manifest.csv").write_text(
        "file,captured_on,source_url\n"
        "\n"
        f"{search},2205-11-11,\n"
        f'{compact},1989-12-31,"a url\nover two lines"\n'
        "00_typo.txt,2025-11-11,\n"
        "  \n"  # a row of whitespace: an IndexError stopped the build
    )
    outcome = build(raw_dir, tmp_path / "out")
    assert outcome.exit_code == 0, outcome.message
    assert [str(w) for w in outcome.warnings] == [
        "manifest.csv:3: captured_on 2205-11-11 is after today; ignored",
        "manifest.csv:4: captured_on 1989-12-31 is before 1990; ignored",
        f"manifest.csv:6: 00_typo.txt is not a dump in {raw_dir}; row ignored",
    ]
    captured = outcome.tables["sources"].to_pydict()
    dates = dict(zip(captured["source_file"], captured["captured_on"], strict=True))
    assert str(dates[search]) == "2025-11-11"  # the date its page shows
    assert dates[compact] is None


def test_a_dump_of_pages_captured_on_different_days_passes_validation(raw_dir, tmp_path):
    """Each record keeps its page's capture date; with the first page's for all, the later
    page's papers were published after their capture and the build was refused."""
    from tests.test_parse import ABSTRACT_1, ABSTRACT_2, HEADER, footer, paper

    first = HEADER + paper("A", ABSTRACT_1, footer(date="Mar 3, 2022"))
    later = HEADER.replace("Nov 11", "Dec 20") + paper("B", ABSTRACT_2, footer(date="Dec 19"))
    (raw_dir / "pasted.txt").write_text(first + later)
    outcome = build(raw_dir, tmp_path / "out")
    assert outcome.exit_code == 0, outcome.message
    sources = outcome.tables["sources"].sort_by("line_start").to_pydict()
    assert [str(d) for d in sources["captured_on"]] == ["2023-11-11", "2023-12-20"]


def test_the_seeds_joined_by_cat_build_as_the_seeds(raw_dir, tmp_path):
    """The search seed ends without a newline, as a browser copy does: `cat` glued the
    compact seed's first line to its last date. That line made a paper named after the page
    chrome, validation refused the build, and the paper above lost its date."""
    copy_seeds(raw_dir, with_manifest=False)
    apart = build(raw_dir, tmp_path / "apart")
    joined_dir = tmp_path / "joined"
    joined_dir.mkdir()
    dumps = sorted(raw_dir.glob("*.txt"))
    assert not dumps[0].read_bytes().endswith(b"\n")
    (joined_dir / "cat.txt").write_bytes(b"".join(p.read_bytes() for p in dumps))
    joined = build(joined_dir, tmp_path / "out")
    assert (apart.exit_code, joined.exit_code) == (0, 0), joined.message
    assert joined.summary.rejects == 0 and joined.warnings == []
    for name in ("papers", "authors", "dates", "links"):
        assert joined.tables[name].equals(apart.tables[name]), name


def test_without_a_cache_no_dump_is_said_to_come_from_one(raw_dir, tmp_path):
    """A byte-identical copy reuses its twin's parse; "(1 from cache)" said otherwise."""
    copy_seeds(raw_dir)
    shutil.copy(raw_dir / "002_8a14f4b5b4fd0176.txt", raw_dir / "copy.txt")
    assert build(raw_dir, tmp_path / "out", validate=False).summary.files_from_cache == 0
    cached = build(raw_dir, tmp_path / "out", validate=False, cache_dir=tmp_path / "cache")
    assert cached.summary.files_from_cache == 1  # the copy, from its twin's parse


def test_a_dump_of_records_that_cannot_be_papers_does_not_stop_the_others(raw_dir, tmp_path):
    """Its records are rejects; kept as papers they failed validation, refusing the seeds."""
    copy_seeds(raw_dir)
    (raw_dir / "bad.txt").write_text(
        "Get trending papers in your email inbox once a day!\nSubscribe---\n"
        + "We study how small models learn to plan over long horizons in many settings.\n"
        + "x\ny\n"
    )
    outcome = build(raw_dir, tmp_path / "out")
    assert outcome.exit_code == 0, outcome.message
    assert outcome.summary.papers == 159
    rejects = outcome.tables["rejects"].to_pylist()
    assert [(r["source_file"], r["line_start"], r["reason"]) for r in rejects] == [
        ("bad.txt", 2, "title_without_letter_or_digit"),
        ("bad.txt", 4, "abstract_too_short"),
    ]


# -- what the CLI says ---------------------------------------------------------------------


def test_cli_raw_that_is_a_file_says_so(tmp_path):
    (tmp_path / "dump.txt").write_text("x")
    result = runner.invoke(app, ["build", "--raw", str(tmp_path / "dump.txt")])
    assert result.exit_code == 2
    assert f"raw folder {tmp_path / 'dump.txt'} is not a folder" in result.output


def test_cli_build_that_cannot_start_prints_no_summary(raw_dir, tmp_path):
    copy_seeds(raw_dir)
    out = tmp_path / "out"
    with lock(out):
        result = runner.invoke(app, ["build", "--raw", str(raw_dir), "--out", str(out)])
    assert result.exit_code == 3
    assert "another build is writing" in result.output
    assert "papers-etl build" not in result.output  # no summary of zeros
    assert "--no-validate" not in result.output


def test_a_broken_expectation_suite_is_a_one_line_build_error(raw_dir, tmp_path, monkeypatch):
    copy_seeds(raw_dir)
    out = tmp_path / "out"
    assert build(raw_dir, out, validate=False).exit_code == 0
    before = snapshot(out)

    def broken(*args, **kwargs):
        raise etl.validate.SuiteDefinitionError("papers.json: every expectation needs a rule")

    monkeypatch.setattr(etl.validate, "validate_tables", broken)
    outcome = build(raw_dir, out)
    assert (outcome.exit_code, outcome.message) == (
        2,
        "broken expectation suite (papers.json: every expectation needs a rule); "
        f"{out} left as it was (`--no-validate` builds without it)",
    )
    assert snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [".out.lock", "out", "raw"]


def test_an_out_folder_with_a_folder_of_a_table_name_or_a_link_is_refused(raw_dir, tmp_path):
    copy_seeds(raw_dir)
    out = tmp_path / "out"
    (out / "papers.parquet").mkdir(parents=True)  # a folder, not a table file
    (out / "papers.parquet" / "mine.txt").write_text("mine")
    outcome = build(raw_dir, out, validate=False)
    assert outcome.exit_code == 3
    assert outcome.message.startswith(f"refusing to replace --out {out}: it holds papers.parquet,")
    assert (out / "papers.parquet" / "mine.txt").read_text() == "mine"
    link = tmp_path / "link"
    link.symlink_to(out)
    outcome = build(raw_dir, link, validate=False)
    assert (outcome.exit_code, outcome.message) == (
        3,
        f"--out {link} is a symbolic link; give the folder itself; nothing was changed",
    )
    assert link.is_symlink() and (out / "papers.parquet" / "mine.txt").exists()
    other = tmp_path / "other"
    other.mkdir()
    (other / "authors.parquet").symlink_to(tmp_path / "mine.parquet")  # a link, not a table
    (tmp_path / "mine.parquet").write_bytes(b"mine")
    outcome = build(raw_dir, other, validate=False)
    assert outcome.message.startswith(
        f"refusing to replace --out {other}: it holds authors.parquet,"
    )
    assert (tmp_path / "mine.parquet").read_bytes() == b"mine"


def test_a_suite_file_that_cannot_be_read_stops_the_build_before_the_parse(
    raw_dir, tmp_path, monkeypatch
):
    copy_seeds(raw_dir)

    def unreadable(*args, **kwargs):
        raise etl.validate.SuiteDefinitionError("cannot read suite papers.json: bad JSON")

    def parse_all(*args, **kwargs):
        raise AssertionError("parsed although the suite is broken")

    monkeypatch.setattr(etl.validate, "load_suite_documents", unreadable)
    monkeypatch.setattr(etl.pipeline, "parse_all", parse_all)
    outcome = build(raw_dir, tmp_path / "out")
    assert outcome.exit_code == 2
    assert outcome.message.startswith("broken expectation suite (cannot read suite papers.json")
    with pytest.raises(AssertionError, match="parsed although"):  # the patch is in force
        build(raw_dir, tmp_path / "out", validate=False)
