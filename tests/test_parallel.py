"""Parsing in batches and in worker processes: the same answers as one dump at a time in
one process, and polars on one thread per worker.

The seeds are too small for the process pool (it starts over 4 MB of dumps), so the pool
tests build a 6 MB pile from the benchmark's generator.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import multiprocessing
import os
import pickle
import shutil
import time
import unicodedata
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import polars as pl
import pytest

from etl import build, config, digests, workers
from etl.dumps import parse_file, parse_files, size_batches
from etl.schemas import TABLES
from etl.store import cache_version, prune
from etl.workers import _after, _worker_environment
from tests.conftest import COMPACT_SEED, PROJECT_ROOT, SEARCH_SEED, copy_seeds, load_bench

BROKEN = PROJECT_ROOT / "tests" / "fixtures" / "broken"


@pytest.fixture(scope="module")
def pile(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """A 6 MB pile, and in its `extra/` one more dump (expected["extra"] counts with it)."""
    generate = load_bench("generate")
    folder = tmp_path_factory.mktemp("pile")
    expected = generate.generate(folder / "pile", 6_000_000, extra=folder / "extra")
    return folder, expected


def test_workers_build_the_same_tables_as_one_process(pile, tmp_path):
    folder, expected = pile[0] / "pile", pile[1]
    assert sum(p.stat().st_size for p in folder.glob("*.txt")) > 4_000_000  # the pool's floor
    outcomes = {
        jobs: build(folder, tmp_path / f"jobs{jobs}", validate=False, jobs=jobs) for jobs in (1, 2)
    }
    for outcome in outcomes.values():
        assert outcome.exit_code == 0, outcome.message
        assert outcome.summary.papers == expected["distinct_papers"]
        assert outcome.summary.records == expected["raw_records"]
    for spec in TABLES:
        one = (tmp_path / "jobs1" / spec.file_name).read_bytes()
        two = (tmp_path / "jobs2" / spec.file_name).read_bytes()
        assert one == two, spec.name


@pytest.mark.parametrize("hashes_remembered", [False, True], ids=["dumps-read", "dumps-not-read"])
def test_an_added_dump_alone_is_parsed_and_the_tables_equal_a_full_rebuild(
    pile, tmp_path, monkeypatch, hashes_remembered
):
    if hashes_remembered:  # the pile was copied just now, within the racy window
        monkeypatch.setattr(digests, "RACY_SECONDS", 0)
    folder, expected = pile
    raw, cache = tmp_path / "raw", tmp_path / "cache"
    shutil.copytree(folder / "pile", raw)
    first = build(raw, tmp_path / "out", validate=False, cache_dir=cache)
    assert first.exit_code == 0, first.message
    assert first.summary.files_from_cache == 0

    added = folder / "extra" / expected["extra"]["file"]
    shutil.copy(added, raw / added.name)
    rows = (folder / "extra" / "manifest.csv").read_text().splitlines()[1:]
    with open(raw / "manifest.csv", "a") as manifest:
        manifest.write("".join(f"{row}\n" for row in rows))
    again = build(raw, tmp_path / "out", validate=False, cache_dir=cache)
    assert again.exit_code == 0, again.message
    assert again.summary.files_from_cache == again.summary.files - 1
    assert again.summary.papers == expected["extra"]["distinct_papers_after"]
    assert again.summary.records == expected["extra"]["raw_records_after"]

    full = build(raw, tmp_path / "full", validate=False)  # no cache: every dump parsed
    assert full.summary.files_from_cache == 0
    for spec in TABLES:
        incremental = (tmp_path / "out" / spec.file_name).read_bytes()
        assert incremental == (tmp_path / "full" / spec.file_name).read_bytes(), spec.name
    assert again.tables["links"].num_rows > 0


@pytest.mark.parametrize(
    ("module", "attribute"),
    [(config, "PARSER_VERSION"), (pl, "__version__"), (unicodedata, "unidata_version")],
)
def test_cached_dumps_are_parsed_again_after_a_parser_or_tool_upgrade(
    module, attribute, tmp_path, monkeypatch
):
    """Polars hashes (compared across dumps by dedupe) are stable only within one polars
    version, and NFC follows Python's Unicode tables: old entries must not be mixed in."""
    raw, cache = tmp_path / "raw", tmp_path / "cache"
    raw.mkdir()
    copy_seeds(raw)
    first = build(raw, tmp_path / "out", validate=False, cache_dir=cache)
    assert (first.exit_code, first.summary.files_from_cache) == (0, 0)
    again = build(raw, tmp_path / "out", validate=False, cache_dir=cache)
    assert again.summary.files_from_cache == again.summary.files == 2

    monkeypatch.setattr(module, attribute, f"{getattr(module, attribute)}.next")
    upgraded = build(raw, tmp_path / "out", validate=False, cache_dir=cache)
    assert upgraded.exit_code == 0, upgraded.message
    assert upgraded.summary.files_from_cache == 0
    # The old entries, of no use to this version, are gone.
    names = sorted(path.name for path in cache.iterdir() if path.name != "digests.pkl")
    assert len(names) == 4  # the metadata of each seed, and its records (a pack of one)
    assert all(f"-{cache_version()}-" in name for name in names), names


def test_a_moved_cache_is_still_used(tmp_path):
    """Entries say where their records are relative to themselves: a project folder moved
    elsewhere keeps its cache (the records were looked for where they had been)."""
    raw = tmp_path / "raw"
    raw.mkdir()
    copy_seeds(raw)
    first = build(raw, tmp_path / "out", validate=False, cache_dir=tmp_path / "cache")
    assert (first.exit_code, first.summary.files_from_cache) == (0, 0)
    (tmp_path / "cache").rename(tmp_path / "moved")
    again = build(raw, tmp_path / "again", validate=False, cache_dir=tmp_path / "moved")
    assert again.exit_code == 0, again.message
    assert again.summary.files_from_cache == again.summary.files == 2
    for spec in TABLES:
        before = (tmp_path / "out" / spec.file_name).read_bytes()
        assert (tmp_path / "again" / spec.file_name).read_bytes() == before, spec.name


def _flip_bytes_midway(path: Path) -> None:
    data = bytearray(path.read_bytes())
    middle = len(data) // 3
    data[middle : middle + 8] = bytes(255 - b for b in data[middle : middle + 8])
    path.write_bytes(bytes(data))


def _copy_of_the_other(path: Path) -> None:
    kind = ".records.arrow" if path.name.endswith(".records.arrow") else ".meta.pkl"
    other = next(p for p in path.parent.glob(f"*{kind}") if p != path)
    shutil.copy(other, path)  # a sound file, of another dump


def _rows_changed_under_the_seal(path: Path) -> None:
    """Damage that still unpickles, to values that look sound: one row fewer."""
    sealed = path.read_bytes()
    entry = pickle.loads(sealed[16:])
    entry.stored = dataclasses.replace(entry.stored, record_count=entry.stored.record_count - 1)
    path.write_bytes(sealed[:16] + pickle.dumps(entry, protocol=pickle.HIGHEST_PROTOCOL))


_DAMAGE = {
    "bytes-changed-midway": _flip_bytes_midway,
    "cut-short": lambda path: os.truncate(path, path.stat().st_size // 2),
    "emptied": lambda path: path.write_bytes(b""),
    "deleted": lambda path: path.unlink(),
    "another-dumps-file": _copy_of_the_other,
}
_DAMAGED_ENTRIES = [
    pytest.param(pattern, damage, id=f"{kind}-{name}")
    for kind, pattern in (("records", "*.records.arrow"), ("meta", "*.meta.pkl"))
    for name, damage in _DAMAGE.items()
] + [
    pytest.param("*.meta.pkl", _rows_changed_under_the_seal, id="meta-rows-changed-under-the-seal")
]


@pytest.mark.parametrize(("damaged", "damage"), _DAMAGED_ENTRIES)
def test_a_damaged_cache_entry_is_parsed_again_not_read(tmp_path, damaged, damage):
    """A records or metadata file changed since it was written would give wrong values, or
    fail the build: its dump is parsed again, and the tables are those of a build without
    cache."""
    raw, cache = tmp_path / "raw", tmp_path / "cache"
    raw.mkdir()
    copy_seeds(raw)
    full = build(raw, tmp_path / "full", validate=False)
    assert full.exit_code == 0, full.message
    first = build(raw, tmp_path / "out", validate=False, cache_dir=cache)
    assert (first.exit_code, first.summary.files_from_cache) == (0, 0)
    damage(min(cache.glob(damaged)))

    again = build(raw, tmp_path / "out", validate=False, cache_dir=cache)
    assert again.exit_code == 0, again.message
    assert again.summary.files_from_cache == 1  # the other seed's entry is sound
    for spec in TABLES:
        rebuilt = (tmp_path / "out" / spec.file_name).read_bytes()
        assert rebuilt == (tmp_path / "full" / spec.file_name).read_bytes(), spec.name
    mended = build(raw, tmp_path / "out", validate=False, cache_dir=cache)
    assert mended.summary.files_from_cache == 2  # the parse again was stored


def test_pruning_keeps_this_versions_entries_and_young_unfinished_files(tmp_path):
    sha, current = "0" * 64, cache_version()
    old = time.time() - 2 * 24 * 3600
    kept = [
        f"{sha}-{current}-none.records.arrow",
        f"{sha}-{current}-2025-11-11.meta.pkl",
        f"{sha}-{current}-none.records.arrow.tmp41",  # maybe another build's, right now
        f"{sha}-{current}-pack.records.arrow",
        "notes.txt",  # not the store's
    ]
    removed = [
        f"{sha}-v9-none.records.arrow",
        f"{sha}-v10-polars1.0.0-unicode14.0.0-2025-11-11.meta.pkl",
        f"{sha}-v11-polars1.0.0-unicode14.0.0-pack.records.arrow",
        f"{sha}-{current}-none.records.arrow.tmp42",  # left by a worker killed two days ago
    ]
    for name in kept + removed:
        (tmp_path / name).touch()
    os.utime(tmp_path / removed[-1], (old, old))
    os.utime(tmp_path / "notes.txt", (old, old))
    assert prune(tmp_path) == len(removed)
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(kept)


def _polars_threads(_: int) -> int:
    return pl.thread_pool_size()


def test_workers_run_polars_on_one_thread_each(monkeypatch):
    monkeypatch.delenv("POLARS_MAX_THREADS", raising=False)
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["etl.workers"])
    with (
        _worker_environment(),
        ProcessPoolExecutor(max_workers=2, mp_context=context) as executor,
    ):
        assert os.environ["POLARS_MAX_THREADS"] == "1"
        assert set(executor.map(_polars_threads, range(4))) == {1}
    assert "POLARS_MAX_THREADS" not in os.environ  # this process is left as it was


def test_workers_get_the_parse_workers_allocator_setting_not_the_builds(monkeypatch):
    # What the CLI's setting becomes once polars is imported: polars' defaults, then it.
    build_setting = f"dirty_decay_ms:500,muzzy_decay_ms:1000,{config.JEMALLOC_CONF_BUILD}"
    monkeypatch.setenv("_RJEM_MALLOC_CONF", build_setting)
    with _worker_environment():
        assert os.environ["_RJEM_MALLOC_CONF"] == config.JEMALLOC_CONF_PARSE_WORKER
    assert os.environ["_RJEM_MALLOC_CONF"] == build_setting  # this process's is left as it was


def test_a_users_polars_threads_and_allocator_settings_are_kept(monkeypatch):
    monkeypatch.setenv("POLARS_MAX_THREADS", "2")
    monkeypatch.setenv("_RJEM_MALLOC_CONF", "narenas:1")
    with _worker_environment():
        assert os.environ["POLARS_MAX_THREADS"] == "2"
        assert os.environ["_RJEM_MALLOC_CONF"] == "narenas:1"
    assert os.environ["POLARS_MAX_THREADS"] == "2"
    assert os.environ["_RJEM_MALLOC_CONF"] == "narenas:1"


def test_dumps_parsed_together_give_what_each_gives_alone():
    files = [SEARCH_SEED, COMPACT_SEED, *sorted(BROKEN.glob("*.txt")), SEARCH_SEED]
    dumps = [
        (path.read_bytes(), path.name, dt.date(2025, 11, 11) if n % 2 else None, None)
        for n, path in enumerate(files)
    ]
    together = parse_files(dumps)
    alone = [parse_file(*dump) for dump in dumps]
    assert sum(result.links.height for result in alone) > 0
    for joint, single in zip(together, alone, strict=True):
        assert joint.records.equals(single.records), single.source_file
        assert joint.links.equals(single.links), single.source_file
        account = {k: v for k, v in vars(single).items() if k not in ("records", "links")}
        assert {k: getattr(joint, k) for k in account} == account


def test_a_broken_pool_leaves_the_batches_it_did_not_finish():
    batches = [[1, 2, 3], [4], [5, 6]]
    assert _after(batches, 0) == batches
    assert _after(batches, 2) == [[3], [4], [5, 6]]
    assert _after(batches, 3) == [[4], [5, 6]]
    assert _after(batches, 5) == [[6]]
    assert _after(batches, 6) == []


def test_batches_keep_the_order_and_stay_under_the_limit():
    tasks = [(Path(f"{n}.txt"), f"{n}.txt", None, Path("store")) for n in range(7)]
    sizes = [4, 4, 1, 10, 3, 3, 3]
    batches = list(size_batches(zip(tasks, sizes, strict=True), limit=8))
    assert [task for batch in batches for task in batch] == tasks
    assert [[int(task[1][0]) for task in batch] for batch in batches] == [
        [0, 1],
        [2],
        [3],  # bigger than the limit: alone
        [4, 5],
        [6],
    ]


@pytest.mark.parametrize("takes", [1_000_000, 3], ids=["a-take-per-row-group", "few-takes"])
def test_papers_written_in_many_row_groups_hold_the_same_rows(pile, tmp_path, monkeypatch, takes):
    """Abstracts reach the right papers whatever the row groups, and whether the abstracts
    are taken a row group at a time or several at once."""
    import pyarrow.parquet as pq

    folder = pile[0] / "pile"
    whole = build(folder, tmp_path / "whole", validate=False)
    monkeypatch.setattr(config, "PARQUET_ROW_GROUP_SIZE", 64)
    monkeypatch.setattr(config, "PAPERS_TAKES", takes)
    split = build(folder, tmp_path / "split", validate=False, jobs=1)
    assert whole.exit_code == split.exit_code == 0
    papers = pq.ParquetFile(tmp_path / "split" / "papers.parquet")
    assert papers.metadata.num_row_groups == -(-whole.summary.papers // 64)
    assert {papers.metadata.row_group(g).num_rows for g in range(papers.num_row_groups - 1)} == {64}
    assert papers.read().equals(pq.read_table(tmp_path / "whole" / "papers.parquet"))


def test_a_ctrl_c_while_dumps_are_collected_stops_the_workers_before_it_leaves(
    pile, tmp_path, monkeypatch
):
    """Taken anywhere in the loop over parsed dumps, not only inside the workers' generator,
    it shuts the workers down before it goes on: left running, they wrote into the record
    store the build was removing (a flaky "Directory not empty" traceback under Ctrl-C)."""
    folder = pile[0] / "pile"
    paths = sorted(folder.glob("*.txt"))

    def interrupted(stage: str) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(workers, "pause_point", interrupted)
    store = tmp_path / "store"
    # Held, as the build's clean-up runs while the interrupt is on its way out.
    with pytest.raises(KeyboardInterrupt) as on_its_way_out:
        workers.parse_all(paths, {}, 2, store)
    left = sorted(store.iterdir())
    time.sleep(2)  # workers still running would store the batches after theirs meanwhile
    assert sorted(store.iterdir()) == left
    assert on_its_way_out.traceback
