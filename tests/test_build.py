"""The build at its edges: determinism, atomic replacement, the lock, the CLI."""

from __future__ import annotations

import errno
import gc
import shutil
import subprocess
import sys
import weakref
from pathlib import Path

import pytest
from typer.testing import CliRunner

from etl import build
from etl.cli import app
from etl.schemas import TABLES
from etl.write import output_lock
from tests.conftest import PROJECT_ROOT, copy_seeds

runner = CliRunner()
BAD_FOOTER = (
    "new\n\nSubscribe\n\nA Title\n\n"
    + "An abstract sentence. " * 10
    + "\n\n  • 0 authors\n·\nApr 5\n"
)


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
    with output_lock(out):
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


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="Linux only")
def test_the_cli_and_its_children_run_without_huge_pages():
    # The command's stand-in prints what a parse worker, a child of it, would see.
    show_child = (
        "import subprocess; from etl import cli; cli.app = lambda: subprocess.run("
        "['grep', 'THP_enabled', '/proc/self/status'], check=True); cli.main()"
    )
    result = subprocess.run(
        [sys.executable, "-c", show_child],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        check=True,
    )
    assert result.stdout.split() == ["THP_enabled:", "0"]


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


def test_an_empty_raw_folder_gives_empty_tables_and_says_so(raw_dir, tmp_path):
    outcome = build(raw_dir, tmp_path / "out", validate=False)
    assert outcome.exit_code == 0, outcome.message
    assert [str(w) for w in outcome.warnings] == [
        f"{raw_dir}: no dumps (*.txt) here; the tables are empty"
    ]
    assert {name: table.num_rows for name, table in outcome.tables.items()} == {
        spec.name: 0 for spec in TABLES
    }
    # Validated, empty tables are refused (a dataset needs papers), and nothing is published.
    refused = build(raw_dir, tmp_path / "validated")
    assert refused.exit_code == 1
    assert "papers.row_count" in refused.message
    assert not (tmp_path / "validated").exists()
