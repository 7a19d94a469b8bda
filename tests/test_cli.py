"""The command line's own checks, before any command runs."""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from etl import config
from etl.cli import app

runner = CliRunner()


@pytest.fixture
def deleted_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    gone = tmp_path / "gone"
    gone.mkdir()
    monkeypatch.chdir(gone)
    gone.rmdir()
    return gone


@pytest.mark.parametrize(
    ("command", "option"),
    [
        (["build", "--out", "out", "--no-validate"], "--out"),
        (["build", "--raw", "raw"], "--raw"),
        (["validate", "--data", "processed"], "--data"),
        (["query", "SELECT 1", "--data", "processed"], "--data"),
        (["publish", "--stage", "stage", "--dry-run"], "--stage"),
    ],
)
def test_a_relative_path_in_a_deleted_current_folder_is_one_line(
    deleted_cwd: Path, command: list[str], option: str
) -> None:
    result = runner.invoke(app, command)
    assert result.exit_code == 2
    assert result.exception is None or isinstance(result.exception, SystemExit)
    message = " ".join(re.sub("[│╭╮╰╯─]", " ", result.output).split())  # rich's box undone
    assert f"Invalid value for '{option}'" in message
    assert "the current folder no longer exists" in message


def test_absolute_paths_work_in_a_deleted_current_folder(deleted_cwd: Path) -> None:
    result = runner.invoke(
        app, ["query", "SELECT count(*) AS n FROM papers", "--data", str(config.PROCESSED_DIR)]
    )
    assert result.exit_code == 0, result.output
    papers = pq.read_metadata(config.PROCESSED_DIR / "papers.parquet").num_rows
    assert f"│ {papers} " in result.output
