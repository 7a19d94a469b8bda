"""Shared fixtures: the seed dumps and one build of them per test session; the benchmark's
scripts as modules."""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

PROJECT_ROOT = Path(__file__).resolve().parent.parent
RAW_DIR = PROJECT_ROOT / "data" / "raw"
SEARCH_SEED = RAW_DIR / "000_8179c4be08d8d839.txt"
COMPACT_SEED = RAW_DIR / "002_8a14f4b5b4fd0176.txt"
SHARED_SEEDS = PROJECT_ROOT.parent / "shared" / "seeds"
BENCH_DIR = PROJECT_ROOT / "bench"


@pytest.fixture(autouse=True)
def refused_tables_kept_apart(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Tables a test's build refuses, in this process, go to a folder of the test's, not the
    project's build/rejected-candidate, which a build of the user's (or another test run) may
    be using. (Builds a test runs as a command are not expected to refuse tables.)"""
    folder = tmp_path_factory.mktemp("refused") / "rejected-candidate"
    from etl import config

    monkeypatch.setattr(config, "REJECTED_CANDIDATE_DIR", folder)
    return folder


@pytest.fixture(scope="session")
def seed_build(tmp_path_factory: pytest.TempPathFactory):
    """One build of the shipped raw folder (seeds + manifest), without validation."""
    from etl import build

    out = tmp_path_factory.mktemp("seed-build") / "processed"
    outcome = build(RAW_DIR, out, validate=False)
    assert outcome.exit_code == 0, outcome.message
    return outcome


@pytest.fixture
def raw_dir(tmp_path: Path) -> Path:
    """An empty raw folder to drop dumps into."""
    path = tmp_path / "raw"
    path.mkdir()
    return path


def copy_seeds(target: Path, with_manifest: bool = True) -> None:
    for seed in (SEARCH_SEED, COMPACT_SEED):
        shutil.copy(seed, target / seed.name)
    if with_manifest:
        shutil.copy(RAW_DIR / "manifest.csv", target / "manifest.csv")


def copy_of_the_tables(folder: Path) -> Path:
    """A copy of the committed tables (data/processed) in a new `folder`, to change freely."""
    from etl.schemas import TABLES

    folder.mkdir(parents=True)
    for spec in TABLES:
        shutil.copyfile(RAW_DIR.parent / "processed" / spec.file_name, folder / spec.file_name)
    return folder


def load_bench(name: str) -> ModuleType:
    """bench/NAME.py as the module `bench_NAME`, with bench/ on the import path, as when the
    script runs (bench/check_truth.py imports generate)."""
    if str(BENCH_DIR) not in sys.path:
        sys.path.insert(0, str(BENCH_DIR))
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH_DIR / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module
