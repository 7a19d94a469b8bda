"""The CLI prints data, file names, paths and error messages as they are.

rich reads `[...]` as markup and `:name:` as an emoji code in what it prints: an abstract
with `[/INST]` (common in LLM papers) stopped a build with a MarkupError after its tables
were written, and a dump named `[draft] bin.txt` was reported as ` bin.txt`. Every line
below must show the text exactly, and the command end with its usual exit code.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import etl.report
import etl.validate
from etl.cli import app
from etl.pipeline import BuildError, list_dumps
from etl.swap import lock
from etl.validate import REPORT_DIR_ENV, SuiteDefinitionError

from .conftest import PROJECT_ROOT, SEARCH_SEED, copy_of_the_tables, copy_seeds

runner = CliRunner()
WIDE = {"COLUMNS": "1000"}  # no line of a report wrapped
INST = "Prompt ends with [/INST]. "
INST_WARNING = (
    "13: abstract without title: 'Prompt ends with [/INST]. Eliciting information to reduce...'"
)
TRICKY = ["nope[/x]", "nope[bold]x", "[draft] nope", "nope:b:", "nope\\[red]x"]
"""Folder names rich would read as markup (a closing tag with no opening one, a style, a
tag it drops) or as an emoji code (`:b:` is one)."""


def inst_dump(path: Path) -> Path:
    """The search seed with its first title gone (lines 13-14) and `[/INST]` opening the
    abstract left without it: `sed '13,14d; 15s|^|Prompt ends with [/INST]. |'`."""
    lines = SEARCH_SEED.read_bytes().split(b"\n")
    lines[14] = INST.encode() + lines[14]
    del lines[12:14]
    path.write_bytes(b"\n".join(lines))
    return path


def build_args(raw: Path, out: Path) -> list[str]:
    return ["build", "--raw", str(raw), "--out", str(out), "--no-validate", "--no-cache"]


def output_lines(result) -> list[str]:
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.output.splitlines()


# -- build ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "dump_name", ["d.txt", "[draft] bin.txt", "[bold]x[i].txt", "a:b:c.txt", "x\\[y].txt"]
)
def test_build_warning_shows_the_dump_text_and_name_as_they_are(raw_dir, tmp_path, dump_name):
    inst_dump(raw_dir / dump_name)
    out = tmp_path / "out"
    result = runner.invoke(app, build_args(raw_dir, out))
    lines = output_lines(result)
    assert result.exit_code == 0, result.output
    assert f"warning: {dump_name}:{INST_WARNING}" in lines
    assert f"tables written to {out}" in lines
    assert (out / "papers.parquet").is_file()


def test_build_with_inst_abstract_from_the_command_line(raw_dir, tmp_path):
    """The installed command, validation included, as the audit ran it."""
    inst_dump(raw_dir / "d.txt")
    out = tmp_path / "out"
    command = Path(sys.executable).parent / "papers-etl"
    env = {**os.environ, REPORT_DIR_ENV: str(tmp_path / "report")}
    result = subprocess.run(
        [str(command), "build", "--raw", str(raw_dir), "--out", str(out), "--no-cache"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert f"warning: d.txt:{INST_WARNING}" in lines
    assert f"tables written to {out}" in lines
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("name", TRICKY)
def test_build_missing_raw_folder_is_named_as_it_is(tmp_path, name):
    raw = tmp_path / name
    with pytest.raises(BuildError) as error:
        list_dumps(raw)
    assert str(raw) in str(error.value)
    result = runner.invoke(app, ["build", "--raw", str(raw), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    assert output_lines(result) == [f"error: {error.value}"]
    assert f"error: raw folder {raw} does not exist" in result.output


def test_build_raw_that_is_a_file_is_named_as_it_is(tmp_path):
    raw = tmp_path / "[draft] dump.txt"
    raw.write_text("x")
    result = runner.invoke(app, ["build", "--raw", str(raw)])
    assert result.exit_code == 2, result.output
    assert output_lines(result) == [f"error: raw folder {raw} is not a folder"]


@pytest.mark.parametrize("name", ["q[/x]", "[draft] q", "q:b:"])
def test_build_names_its_out_folder_as_it_is(raw_dir, tmp_path, name):
    copy_seeds(raw_dir)
    out = tmp_path / name
    result = runner.invoke(app, build_args(raw_dir, out))
    assert result.exit_code == 0, result.output
    assert output_lines(result)[-1] == f"tables written to {out}"
    assert (out / "papers.parquet").is_file()


def test_build_refused_names_its_out_folder_as_it_is(raw_dir, tmp_path):
    copy_seeds(raw_dir)
    out = tmp_path / "o[/x]"
    out.mkdir(parents=True)
    with lock(out):
        result = runner.invoke(app, build_args(raw_dir, out))
    assert result.exit_code == 3, result.output
    assert output_lines(result)[-1] == (
        f"error: another build is writing to {out}, or a publish reading it, right now; "
        "try again when it ends"
    )


def test_build_interrupted_names_its_out_folder_as_it_is(raw_dir, tmp_path, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(etl.report, "build", interrupted)
    copy_seeds(raw_dir)
    out = tmp_path / "o[/x]"
    result = runner.invoke(app, build_args(raw_dir, out))
    assert result.exit_code == 130, result.output
    assert output_lines(result) == [f"interrupted: {out} keeps its last complete tables"]


# -- validate ------------------------------------------------------------------------------


def test_validate_names_its_folders_as_they_are(tmp_path):
    data = tmp_path / "vv[/x]"
    data.mkdir(parents=True)
    report = tmp_path / "r[/y] a:b:c"
    result = runner.invoke(
        app, ["validate", "--data", str(data)], env={**WIDE, REPORT_DIR_ENV: str(report)}
    )
    assert result.exit_code == 1, result.output
    lines = output_lines(result)
    assert lines[0] == f"Validating the tables in {data}"
    assert f"Validation results: {report / 'results'}" in lines
    assert "missing file papers.parquet" in result.output


def test_validate_missing_folder_is_named_as_it_is(tmp_path):
    data = tmp_path / "vv[/x]"
    result = runner.invoke(app, ["validate", "--data", str(data)])
    assert result.exit_code == 2, result.output
    assert output_lines(result) == [
        f"error: {data} is not a folder of tables; build them first (make data)"
    ]


def test_validate_shows_failing_values_as_they_are(tmp_path):
    data = copy_of_the_tables(tmp_path / "tables")
    links = pq.read_table(data / "links.parquet")
    rows = links.to_pylist()
    video = next(i for i, row in enumerate(rows) if row["kind"] == "video")
    bad_url = "https://youtu.be/[/INST]:b:x\\[b]\\)."
    rows[video]["url"] = bad_url
    pq.write_table(type(links).from_pylist(rows, schema=links.schema), data / "links.parquet")
    result = runner.invoke(
        app,
        ["validate", "--data", str(data)],
        env={**WIDE, REPORT_DIR_ENV: str(tmp_path / "report")},
    )
    assert result.exit_code == 1, result.output
    lines = output_lines(result)
    assert lines[0] == f"Validating the tables in {data}"
    assert "url_no_trailing_punctuation" in result.output
    assert repr(bad_url) in result.output  # the failing value, and the row's key
    assert f"rows (paper_id, url): ({rows[video]['paper_id']!r}, {bad_url!r})" in result.output
    assert lines[-1].startswith("Validation failed (")


def test_validate_broken_suite_is_named_as_it_is(tmp_path, monkeypatch):
    suites = tmp_path / "ex[/INST] a:b:c"
    shutil.copytree(PROJECT_ROOT / "expectations", suites)
    (suites / "papers.json").write_text("{")
    real = etl.validate.load_suite_documents
    with pytest.raises(SuiteDefinitionError) as error:
        real(suites)
    assert str(suites) in str(error.value)
    monkeypatch.setattr(etl.validate, "load_suite_documents", lambda _folder: real(suites))
    data = tmp_path / "data"
    data.mkdir()
    result = runner.invoke(
        app,
        ["validate", "--data", str(data)],
        env={**WIDE, REPORT_DIR_ENV: str(tmp_path / "report")},
    )
    assert result.exit_code == 2, result.output
    assert output_lines(result) == [f"Broken expectation suite: {error.value}"]
