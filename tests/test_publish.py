"""Publishing end to end, offline: stage, load with `datasets`, query, and upload up to the
`huggingface_hub` calls (HfApi is replaced by a recorder)."""

from __future__ import annotations

import datetime as dt
import errno
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest
from huggingface_hub import constants
from huggingface_hub.errors import HTTPError

from etl import build, card, config, publish, query, schemas, swap
from tests.conftest import COMPACT_SEED, copy_of_the_tables

DATA = config.PROCESSED_DIR
REAL_VALIDATE_DATA = publish.validate_data
REPO_ID = "someone/hf-papers"
TOKEN = "hf_TestTokenThatMustNeverBePrinted"
LAYOUT = sorted(
    [publish.README_NAME, card.CHART_REF, *(card.staged_file(t.name) for t in schemas.TABLES)]
)


def files_under(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def staged(tmp_path_factory: pytest.TempPathFactory) -> publish.StagedDataset:
    return publish.stage_dataset(DATA, tmp_path_factory.mktemp("hub") / "stage")


@pytest.fixture(scope="module")
def staged_without_footers(tmp_path_factory: pytest.TempPathFactory) -> publish.StagedDataset:
    """The compact seed alone, built and staged: it has no footers, so `authors` and `dates`
    have no rows."""
    base = tmp_path_factory.mktemp("compact")
    (base / "raw").mkdir()
    shutil.copy(COMPACT_SEED, base / "raw" / COMPACT_SEED.name)
    outcome = build(base / "raw", base / "out", validate=False)
    assert outcome.exit_code == 0, outcome.message
    return publish.stage_dataset(base / "out", base / "stage")


def card_configs(stage: Path) -> list[str]:
    """The config names in the staged card's YAML, as the Hub reads them."""
    from huggingface_hub import DatasetCard

    card_data = DatasetCard((stage / publish.README_NAME).read_text(encoding="utf-8")).data
    return [c["config_name"] for c in card_data.configs]


@pytest.fixture(scope="module")
def load(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """`datasets.load_dataset`, offline, with its caches in a temporary folder."""
    cache = tmp_path_factory.mktemp("hf-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HOME", str(cache / "home"))
        mp.setenv("HF_DATASETS_CACHE", str(cache / "datasets"))
        mp.setenv("HF_DATASETS_OFFLINE", "1")
        import datasets

        def load(path: Path, name: str | None = None) -> Any:
            return datasets.load_dataset(
                str(path), name, split="train", cache_dir=str(cache / "datasets")
            )

        yield load


# --- staging -------------------------------------------------------------------------------


def test_stage_holds_exactly_the_hub_layout(staged: publish.StagedDataset) -> None:
    assert files_under(staged.path) == LAYOUT == list(staged.files)
    for spec in schemas.TABLES:
        copy = staged.path / card.staged_file(spec.name)
        assert copy.read_bytes() == (DATA / spec.file_name).read_bytes()
        assert staged.row_counts[spec.name] == pq.read_metadata(copy).num_rows
    assert (staged.path / "README.md").read_text(encoding="utf-8") == card.render_card(DATA)
    assert (staged.path / card.CHART_REF).read_bytes() == card.CHART_PATH.read_bytes()
    beside = [p.name for p in staged.path.parent.iterdir() if p.name.startswith(".")]
    assert beside == [".stage.lock"]  # no temporary or parked folder left


@pytest.mark.parametrize("config_name", [None, *card.PAPER_TABLES])
def test_every_config_loads_offline_with_the_exact_rows_and_types(
    staged: publish.StagedDataset, load: Any, config_name: str | None
) -> None:
    table = config_name or card.DEFAULT_CONFIG
    spec = schemas.TABLES_BY_NAME[table]
    dataset = load(staged.path, config_name)
    expected = pq.read_table(DATA / spec.file_name)
    assert dataset.data.table.schema.types == spec.schema.types
    assert dataset.to_list() == expected.to_pylist()
    for column in spec.columns:
        feature = dataset.features[column.name]
        assert feature.dtype == card.type_name(column.type)
    if table == "dates":
        assert isinstance(dataset[0]["published_date"], dt.date)


def test_only_the_paper_tables_are_configs(staged: publish.StagedDataset, load: Any) -> None:
    import datasets

    names = datasets.get_dataset_config_names(str(staged.path))
    assert sorted(names) == sorted(card.PAPER_TABLES)
    assert "rejects" not in names


def test_empty_tables_are_staged_but_every_config_of_the_card_loads(
    staged_without_footers: publish.StagedDataset, load: Any
) -> None:
    import datasets

    stage = staged_without_footers.path
    assert staged_without_footers.row_counts["authors"] == 0
    assert staged_without_footers.row_counts["dates"] == 0
    assert files_under(stage) == LAYOUT  # the empty tables' files are staged all the same
    configs = card_configs(stage)
    assert configs == ["papers", "links", "sources"]
    assert sorted(datasets.get_dataset_config_names(str(stage))) == sorted(configs)
    for name in configs:
        expected = pq.read_table(stage / card.staged_file(name)).to_pylist()
        assert load(stage, name).to_list() == expected
    assert len(load(stage)) == staged_without_footers.row_counts["papers"]  # the default


def test_the_card_says_which_empty_tables_are_no_configs_and_why(
    staged_without_footers: publish.StagedDataset,
) -> None:
    readme = (staged_without_footers.path / publish.README_NAME).read_text(encoding="utf-8")
    for table in ("authors", "dates"):
        assert f"| `{table}` | no (empty) |" in readme
    assert "| `rejects` | no (audit) |" in readme
    prose = " ".join(readme.split())  # as rendered: line breaks are spaces
    assert "In this build `authors` and `dates` have no rows, so they are not configs." in prose
    assert "`datasets` cannot load a Parquet table without rows" in prose
    assert 'load_dataset("parquet", data_files=...)` works only when it has rows' in prose


@pytest.mark.usefixtures("load")  # offline, with the caches in a temporary folder
def test_datasets_still_cannot_load_a_table_without_rows(
    staged_without_footers: publish.StagedDataset, tmp_path: Path
) -> None:
    """Why empty tables are no configs: should `datasets` learn to load them (upstream
    huggingface/datasets PR #8401), this fails, and `card.config_tables` can list them all."""
    import datasets

    empty = staged_without_footers.path / card.staged_file("authors")
    with pytest.raises((datasets.exceptions.DatasetGenerationError, ValueError)):
        datasets.load_dataset(
            "parquet", data_files=str(empty), split="train", cache_dir=str(tmp_path)
        )
    assert duckdb.sql(f"SELECT count(*) FROM '{empty.as_posix()}'").fetchall() == [(0,)]


def test_card_examples_run_on_the_staged_layout(staged: publish.StagedDataset) -> None:
    """The card's hf:// views, pointed at the stage: the Hub layout serves every example."""
    con = duckdb.connect()
    con.execute(query.views_sql(lambda t: (staged.path / card.staged_glob(t)).as_posix()))
    for sql in card.example_queries((staged.path / "README.md").read_text(encoding="utf-8")):
        assert query.run_query(con, sql) is not None
    counts = con.sql("SELECT count(*) FROM papers_full").fetchall()
    assert counts == [(staged.row_counts["papers"],)]


def test_repo_id_fills_the_card(tmp_path: Path) -> None:
    staged = publish.stage_dataset(DATA, tmp_path / "stage", repo_id=REPO_ID)
    readme = (staged.path / "README.md").read_text(encoding="utf-8")
    assert f"hf://datasets/{REPO_ID}/data/papers/*.parquet" in readme
    assert card.REPO_ID_PLACEHOLDER not in readme


def test_restaging_replaces_the_stage_atomically(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stage = tmp_path / "stage"
    publish.stage_dataset(DATA, stage)
    (stage / card.staged_file("rejects")).unlink()
    (stage / card.staged_file("papers")).write_bytes(b"stale")
    publish.stage_dataset(DATA, stage)
    assert files_under(stage) == LAYOUT
    assert (stage / card.staged_file("papers")).read_bytes() == (
        DATA / "papers.parquet"
    ).read_bytes()

    before = {p: p.read_bytes() for p in stage.rglob("*") if p.is_file()}

    def broken(data_dir: Path) -> bytes:
        raise RuntimeError("chart failed")

    monkeypatch.setattr(card, "render_chart", broken)
    with pytest.raises(RuntimeError):
        publish.stage_dataset(DATA, stage)
    assert {p: p.read_bytes() for p in stage.rglob("*") if p.is_file()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [".stage.lock", "stage"]  # no leftovers


def test_a_folder_that_is_not_a_stage_is_never_replaced(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(publish.PublishError, match=r"notes\.txt"):
        publish.stage_dataset(DATA, tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def snapshot(folder: Path) -> dict[str, bytes | str]:
    """Every entry under `folder` (not following links): file bytes, link targets, folders."""
    return {
        p.relative_to(folder).as_posix(): (
            f"-> {p.readlink()}" if p.is_symlink() else p.read_bytes() if p.is_file() else "dir"
        )
        for p in sorted(folder.rglob("*"))
    }


@pytest.fixture
def no_validation(monkeypatch: pytest.MonkeyPatch) -> None:
    """Validation passes at once (a refusal must come before it anyway)."""
    monkeypatch.setattr(publish, "validate_data", lambda data_dir: None)


def stage_only(stage: Path, **options: Any) -> int:
    options = {"repo_id": None, "private": False, "dry_run": True, "data": DATA} | options
    return publish.run_publish_command(stage, **options)


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    out = capsys.readouterr()
    assert out.err.startswith("error: ") and out.err.count("\n") == 1, out.err
    assert "Traceback" not in out.err
    return out.err


@pytest.mark.usefixtures("no_validation")
@pytest.mark.parametrize(
    ("foreign", "named"),
    [
        ("data/important.csv", "data/important.csv"),
        ("data/papers/old-shard.parquet", "data/papers/old-shard.parquet"),
        ("assets/logo.png", "assets/logo.png"),
        (".git/config", ".git"),  # a clone of the dataset repo
    ],
)
def test_a_stage_holding_any_file_a_stage_never_writes_is_left_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], foreign: str, named: str
) -> None:
    """The audit's case: `u/README.md` and `u/data/important.csv` were both deleted."""
    stage = tmp_path / "u"
    (stage / foreign).parent.mkdir(parents=True)
    (stage / foreign).write_text("a,b\n")
    (stage / publish.README_NAME).write_text("# mine\n")
    before = snapshot(tmp_path)
    assert stage_only(stage) == 1
    err = one_line_error(capsys)
    assert f"holds {named}," in err and "nothing was changed" in err
    assert snapshot(tmp_path) == before


@pytest.mark.usefixtures("no_validation")
def test_a_refused_stage_is_named_by_a_few_of_its_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stage = tmp_path / "u"
    (stage / "data" / "papers").mkdir(parents=True)
    (stage / card.staged_file("papers")).symlink_to(DATA / "papers.parquet")  # links are not ours
    for name in ("a.csv", "b.csv", "c.csv", "d.csv", "e.csv", "f.csv"):
        (stage / "data" / name).write_text("mine")
    assert stage_only(stage) == 1
    err = one_line_error(capsys)
    assert "holds data/a.csv, data/b.csv, data/c.csv, data/d.csv, data/e.csv and 2 more," in err
    assert (stage / card.staged_file("papers")).is_symlink()


@pytest.mark.usefixtures("no_validation")
def test_a_folder_holding_only_stage_files_and_folders_is_replaced(tmp_path: Path) -> None:
    stage = tmp_path / "u"
    (stage / "data" / "papers").mkdir(parents=True)
    (stage / "assets").mkdir()
    (stage / publish.README_NAME).write_text("# an earlier card\n")
    assert stage_only(stage) == 0
    assert files_under(stage) == LAYOUT


@pytest.mark.usefixtures("no_validation")
@pytest.mark.parametrize("dangling", [False, True])
def test_a_stage_that_is_a_symbolic_link_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], dangling: bool
) -> None:
    """Refused, not followed: the swap would replace the link by a folder, and the folder it
    points to may be anywhere."""
    target = tmp_path / "real"
    if not dangling:
        target.mkdir()
    (tmp_path / "link").symlink_to(target)
    before = snapshot(tmp_path)
    assert stage_only(tmp_path / "link") == 1
    assert "is a symbolic link" in one_line_error(capsys)
    assert snapshot(tmp_path) == before  # no `.link.old-*` left either
    with pytest.raises(publish.PublishError, match="symbolic link"):
        publish.stage_dataset(DATA, tmp_path / "link")


@pytest.mark.usefixtures("no_validation")
@pytest.mark.parametrize(
    ("tables", "stage", "cwd", "reason"),
    [
        ("tables", "tables/hub", None, "is inside the tables' folder"),
        ("u/data", "u", None, "holds the tables' folder"),
        ("tables", "tables", None, "holds the tables' folder"),
        ("tables", ".", "u", "is the current folder"),
        ("tables", "..", "u/data", "is the current folder or holds it"),
    ],
)
def test_a_stage_overlapping_the_tables_or_the_current_folder_is_refused(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tables: str,
    stage: str,
    cwd: str | None,
    reason: str,
) -> None:
    data = copy_of_the_tables(tmp_path / tables)
    if cwd is not None:
        (tmp_path / cwd).mkdir(parents=True, exist_ok=True)
        monkeypatch.chdir(tmp_path / cwd)
    before = snapshot(tmp_path)
    assert stage_only(Path(stage) if cwd else tmp_path / stage, data=data) == 1
    assert reason in one_line_error(capsys)
    assert snapshot(tmp_path) == before


KILLED_PUBLISH = """
import os, sys
from pathlib import Path
from etl import card, publish
if sys.argv[3] == "while staging":
    card.render_chart = lambda data_dir: os._exit(9)
else:  # between the two renames
    rename = Path.rename
    def rename_then_die(self, target):
        rename(self, target)
        if ".old-" in Path(target).name:
            os._exit(9)
    Path.rename = rename_then_die
publish.stage_dataset(Path(sys.argv[1]), Path(sys.argv[2]))
"""


@pytest.mark.parametrize("when", ["while staging", "between the renames"])
def test_the_next_publish_undoes_what_a_killed_one_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, when: str
) -> None:
    """Killed, a publish may leave its temporary folder, or (between the two renames) no
    stage and the previous one parked: the next publish puts it back and removes the rest,
    so that even when it fails itself the previous stage is there."""
    stage = tmp_path / "stage"
    publish.stage_dataset(DATA, stage, repo_id=REPO_ID)  # its card differs from the next's
    previous = snapshot(stage)
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_PUBLISH, str(DATA), str(stage), when],
        cwd=config.PROJECT_ROOT,
        capture_output=True,
        text=True,
    )
    assert killed.returncode == 9, killed.stderr
    lock, *left = sorted(p.name for p in tmp_path.iterdir())
    assert lock == ".stage.lock"
    if when == "while staging":
        temporary, other = left
        assert other == "stage"
    else:  # no stage: the previous one is parked
        other, temporary = left
        assert other == re.sub(r"^\.stage\.tmp-", ".stage.old-", temporary)
        assert snapshot(tmp_path / other) == previous
    assert re.fullmatch(r"\.stage\.tmp-[0-9]+", temporary)

    def broken(data_dir: Path) -> bytes:
        raise RuntimeError("chart failed")

    with monkeypatch.context() as patched:
        patched.setattr(card, "render_chart", broken)
        with pytest.raises(RuntimeError):
            publish.stage_dataset(DATA, stage)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".stage.lock", "stage"]
    assert snapshot(stage) == previous
    publish.stage_dataset(DATA, stage)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".stage.lock", "stage"]
    assert files_under(stage) == LAYOUT


@pytest.mark.parametrize("name", [".stage.tmp-123", ".stage.old-123"])
def test_leftovers_holding_other_files_are_not_removed(tmp_path: Path, name: str) -> None:
    stage = tmp_path / "stage"
    publish.stage_dataset(DATA, stage)
    mine = tmp_path / name  # a name like a leftover's, but not a stage
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    publish.stage_dataset(DATA, stage)
    assert (mine / "notes.txt").read_text() == "mine"


def test_two_publishes_never_stage_the_same_folder_at_once(tmp_path: Path) -> None:
    """Each removes the temporary folders it finds: one would delete the other's."""
    stage = tmp_path / "stage"
    with (
        swap.lock(stage),
        pytest.raises(publish.PublishError, match=re.escape(f"another publish is staging {stage}")),
    ):
        publish.stage_dataset(DATA, stage)
    assert [p.name for p in tmp_path.iterdir()] == [".stage.lock"]


def test_a_publish_to_another_stage_in_the_same_folder_goes_on(tmp_path: Path) -> None:
    with swap.lock(tmp_path / "other"):
        publish.stage_dataset(DATA, tmp_path / "stage")
    assert files_under(tmp_path / "stage") == LAYOUT


def test_no_build_swaps_the_tables_while_a_publish_validates_and_stages_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A build swapping new tables in between validation and staging would have the stage
    hold tables never validated, or a mix of two builds: the publish holds the tables' lock."""
    data, stage = copy_of_the_tables(tmp_path / "tables"), tmp_path / "stage"
    with swap.lock(data):  # a build at work on them
        assert stage_only(stage, data=data) == 1
    assert one_line_error(capsys) == (
        f"error: a build is writing {data} right now; publish when it ends\n"
    )
    assert not stage.exists()

    held_while: list[str] = []

    def building_is_refused(step: str) -> None:
        with pytest.raises(swap.FolderBusy), swap.lock(data):  # as a build would find it
            pass
        held_while.append(step)

    stage_dataset = publish.stage_dataset

    def staging(*args: Any, **kwargs: Any) -> publish.StagedDataset:
        building_is_refused("staging")
        return stage_dataset(*args, **kwargs)

    monkeypatch.setattr(publish, "validate_data", lambda _: building_is_refused("validation"))
    monkeypatch.setattr(publish, "stage_dataset", staging)
    assert stage_only(stage, data=data) == 0
    assert held_while == ["validation", "staging"] and files_under(stage) == LAYOUT


def test_publishes_of_the_same_tables_do_not_wait_on_each_other(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """They only read the tables: a dry run and an upload, or two stages, go on together."""
    monkeypatch.setattr(publish, "validate_data", lambda data_dir: None)
    data = copy_of_the_tables(tmp_path / "tables")
    with swap.lock(data, shared=True):  # another publish at work on them
        assert stage_only(tmp_path / "stage", data=data) == 0
    assert files_under(tmp_path / "stage") == LAYOUT


# --- the command ---------------------------------------------------------------------------


class FakeHfApi:
    """Records what would have been sent to the Hub."""

    instances: list[FakeHfApi] = []  # noqa: RUF012 (per-test list, reset by the fixture)
    fail_on: str | None = None
    failure: Exception | None = None  # what `fail_on` raises, if not a network error
    repo_private: bool = True  # what repo_info says

    def __init__(self, token: str | None = None, **_: Any) -> None:
        self.token = token
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
        FakeHfApi.instances.append(self)

    def _call(self, name: str, *args: Any, **kwargs: Any) -> None:
        self.calls.append((name, args, kwargs))
        if (
            self.fail_on == name
        ):  # what httpx raises without network, as huggingface_hub passes it on
            raise self.failure or HTTPError(
                f"[Errno -2] Name or service not known (token {self.token})"
            )

    def whoami(self) -> dict[str, str]:
        self._call("whoami")
        return {"name": "someone"}

    def create_repo(self, *args: Any, **kwargs: Any) -> None:
        self._call("create_repo", *args, **kwargs)

    def repo_info(self, *args: Any, **kwargs: Any) -> SimpleNamespace:
        self._call("repo_info", *args, **kwargs)
        return SimpleNamespace(private=self.repo_private)

    def upload_folder(self, **kwargs: Any) -> SimpleNamespace:
        # What the folder holds at upload time is what the Hub would receive.
        kwargs["files"] = files_under(Path(kwargs["folder_path"]))
        self._call("upload_folder", **kwargs)
        return SimpleNamespace(
            commit_url=f"https://huggingface.co/datasets/{kwargs['repo_id']}/commit/1"
        )


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> type[FakeHfApi]:
    """Online mode with a token, a fake HfApi, and validation that passes."""
    monkeypatch.setattr(FakeHfApi, "instances", [])
    monkeypatch.setattr(FakeHfApi, "fail_on", None)
    monkeypatch.setattr(FakeHfApi, "failure", None)
    monkeypatch.setattr(FakeHfApi, "repo_private", True)
    monkeypatch.setattr(publish, "HfApi", FakeHfApi)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "no-token-file"))
    monkeypatch.delenv("HF_OIDC_RESOURCE", raising=False)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    monkeypatch.setattr(publish, "validate_data", lambda data_dir: None)
    return FakeHfApi


def publish_to(stage: Path, **options: Any) -> int:
    options = {"repo_id": REPO_ID, "private": False, "dry_run": False, "data": DATA} | options
    return publish.run_publish_command(stage, **options)


def test_upload_sends_the_stage_as_one_commit(
    hub: type[FakeHfApi], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stage = tmp_path / "stage"
    assert publish_to(stage, private=True) == 0
    (api,) = hub.instances
    assert api.token == TOKEN
    names = [name for name, _, _ in api.calls]
    assert names == ["whoami", "create_repo", "repo_info", "upload_folder"]
    _, args, kwargs = api.calls[1]
    assert args == (REPO_ID,)
    assert kwargs == {"repo_type": "dataset", "private": True, "exist_ok": True}
    upload = api.calls[3][2]
    assert upload["repo_id"] == REPO_ID and upload["repo_type"] == "dataset"
    assert Path(upload["folder_path"]) == stage and upload["files"] == LAYOUT
    papers = pq.read_metadata(DATA / "papers.parquet").num_rows
    assert upload["commit_message"].startswith(f"Publish {papers} papers (")
    assert upload["delete_patterns"] == ["data/*", "assets/*"]
    out = capsys.readouterr()
    assert f"https://huggingface.co/datasets/{REPO_ID}/commit/1" in out.out
    assert TOKEN not in out.out + out.err
    assert out.err == ""  # the repo is private: no warning


def test_without_private_the_owners_default_visibility_applies(
    hub: type[FakeHfApi], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`private=False` would make huggingface_hub ask for a public repo, overriding an
    organisation whose new repos are private; None leaves the choice to the Hub."""
    assert publish_to(tmp_path / "stage") == 0
    (api,) = hub.instances
    assert [name for name, _, _ in api.calls] == ["whoami", "create_repo", "upload_folder"]
    assert api.calls[1][2] == {"repo_type": "dataset", "private": None, "exist_ok": True}
    assert capsys.readouterr().err == ""


def test_private_on_an_existing_public_repo_warns_that_it_stays_public(
    hub: type[FakeHfApi], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hub.repo_private = False
    assert publish_to(tmp_path / "stage", private=True) == 0
    (api,) = hub.instances
    assert api.calls[2] == ("repo_info", (REPO_ID,), {"repo_type": "dataset"})
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"warning: {REPO_ID} already exists")
    assert "stays public" in err


def test_dry_run_validates_and_stages_but_never_touches_the_hub(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """With the real validation and the test session's offline mode."""
    monkeypatch.setattr(FakeHfApi, "instances", [])
    monkeypatch.setattr(publish, "HfApi", FakeHfApi)
    assert publish_to(tmp_path / "stage", dry_run=True) == 0
    assert files_under(tmp_path / "stage") == LAYOUT
    assert FakeHfApi.instances == []
    assert "dry run: nothing uploaded" in capsys.readouterr().out


def test_without_a_token_it_fails_clearly_and_changes_nothing(
    hub: type[FakeHfApi],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("HF_TOKEN")
    assert publish_to(tmp_path / "stage") == 1
    assert "no Hugging Face token" in capsys.readouterr().err
    assert hub.instances == [] and list(tmp_path.iterdir()) == []


def test_in_offline_mode_it_fails_clearly_and_changes_nothing(
    hub: type[FakeHfApi],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    assert publish_to(tmp_path / "stage") == 1
    assert "HF_HUB_OFFLINE=0" in capsys.readouterr().err
    assert hub.instances == [] and list(tmp_path.iterdir()) == []


def test_without_network_it_fails_before_staging_and_never_prints_the_token(
    hub: type[FakeHfApi], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hub.fail_on = "whoami"
    assert publish_to(tmp_path / "stage") == 1
    err = capsys.readouterr().err
    assert err.startswith("error: cannot reach the Hub") and err.count("\n") == 1
    assert TOKEN not in err and "***" in err
    assert list(tmp_path.iterdir()) == []


def test_a_failed_upload_is_reported_in_one_line(
    hub: type[FakeHfApi], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hub.fail_on = "upload_folder"
    assert publish_to(tmp_path / "stage") == 1
    err = capsys.readouterr().err
    assert err.startswith("error: upload failed: HTTPError") and TOKEN not in err


def test_the_hubs_reasons_for_refusing_the_card_are_kept(
    hub: type[FakeHfApi], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """What `upload_folder` raises when the Hub rejects the card's YAML (one reason a line)."""
    hub.fail_on = "upload_folder"
    hub.failure = ValueError(
        "Invalid metadata in README.md.\n"
        '- "task_categories[0]" must be one of [text-classification, ...]\n'
        f'- "license" must be a known license (token {TOKEN})\n'
    )
    assert publish_to(tmp_path / "stage") == 1
    assert capsys.readouterr().err.splitlines() == [
        "error: upload failed: ValueError: Invalid metadata in README.md.",
        '  - "task_categories[0]" must be one of [text-classification, ...]',
        '  - "license" must be a known license (token ***)',
    ]


def test_a_long_hub_error_is_cut_to_a_few_lines(
    hub: type[FakeHfApi], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hub.fail_on = "upload_folder"
    hub.failure = ValueError(
        "Invalid metadata in README.md.\n\n"
        + "\n".join(f"- reason {i} " + "x" * 1000 for i in range(30))
    )
    assert publish_to(tmp_path / "stage") == 1
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 6 and lines[-1] == "  (and 26 more lines)"
    assert lines[1].startswith("  - reason 0 x") and all(len(line) < 310 for line in lines)


def test_tables_failing_validation_are_not_staged(
    hub: type[FakeHfApi],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import etl.validate

    monkeypatch.setattr(publish, "validate_data", REAL_VALIDATE_DATA)
    failing = SimpleNamespace(success=False, failed_rules={"papers.abstract_length"})
    monkeypatch.setattr(etl.validate, "validate_tables", lambda data_dir: failing)
    assert publish_to(tmp_path / "stage") == 1
    assert "papers.abstract_length" in capsys.readouterr().err
    assert [name for name, _, _ in hub.instances[0].calls] == ["whoami"]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "repo_id", ["no-slash", "a/b/c", "me/x..y", "me/ab.", "me/a--b", "me/x.git", "me/-x", "me/a b"]
)
def test_a_repo_id_the_hub_would_refuse_is_refused_before_anything_else(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    repo_id: str,
) -> None:
    def never(data_dir: Path) -> None:
        raise AssertionError("validated")

    monkeypatch.setattr(publish, "validate_data", never)
    assert publish_to(tmp_path / "stage", repo_id=repo_id, dry_run=True) == 1
    err = one_line_error(capsys)
    assert err.startswith("error: --repo-id") and repr(repo_id) in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("folder", ["empty", "missing"])
def test_tables_that_are_not_there_are_reported_before_validation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], folder: str
) -> None:
    """With the real validation, which would report them as `table_schema` failures."""
    data = tmp_path / folder
    if folder == "empty":
        data.mkdir()
    assert stage_only(tmp_path / "stage", data=data) == 1
    err = one_line_error(capsys)
    assert f"{data} lacks papers.parquet, authors.parquet" in err and "build first" in err
    assert "validation" not in err and not (tmp_path / "stage").exists()


def test_a_broken_expectation_suite_is_reported_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import etl.validate

    def broken_suite(data_dir: Path) -> None:
        raise etl.validate.SuiteDefinitionError(
            "expectations/papers.json: every expectation\nneeds a unique meta.rule"
        )

    monkeypatch.setattr(etl.validate, "validate_tables", broken_suite)
    assert stage_only(tmp_path / "stage") == 1
    err = one_line_error(capsys)
    assert "expectation suite is broken" in err and "expectation needs a unique meta.rule" in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.usefixtures("no_validation")
def test_a_stage_whose_parent_is_a_file_is_reported_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    assert stage_only(tmp_path / "notes.txt" / "stage") == 1
    assert f"cannot stage {tmp_path / 'notes.txt' / 'stage'}: " in one_line_error(capsys)
    assert (tmp_path / "notes.txt").read_text() == "mine"


@pytest.mark.usefixtures("no_validation")
@pytest.mark.parametrize(
    ("code", "reason"), [(errno.ENOSPC, "the disk is full"), (errno.EROFS, "Read-only file system")]
)
def test_a_write_failing_while_staging_is_reported_in_one_line_and_keeps_the_stage(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    code: int,
    reason: str,
) -> None:
    """Simulated: the tests run as root, whom a read-only folder does not stop."""
    stage = tmp_path / "stage"
    publish.stage_dataset(DATA, stage, repo_id=REPO_ID)
    before = snapshot(stage)

    def failing_write(source: Path, target: Path) -> None:
        raise OSError(code, os.strerror(code), str(target))

    monkeypatch.setattr(shutil, "copyfile", failing_write)
    assert stage_only(stage) == 1
    assert f"cannot stage {stage}: {reason} (" in one_line_error(capsys)
    assert snapshot(stage) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [".stage.lock", "stage"]
