"""Paths and settings in one place: every other module reads them from here."""

from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
RAW_DIR = PROJECT_ROOT / "data" / "raw"
PROCESSED_DIR = PROJECT_ROOT / "data" / "processed"
BUILD_DIR = PROJECT_ROOT / "build"
EXPECTATIONS_DIR = PROJECT_ROOT / "expectations"
VALIDATION_DIR = BUILD_DIR / "validation"
REJECTED_CANDIDATE_DIR = BUILD_DIR / "rejected-candidate"
CACHE_DIR = BUILD_DIR / "cache"
MANIFEST_NAME = "manifest.csv"
DUMP_SUFFIX = ".txt"

# Bumped whenever parsing or per-file normalization changes what a dump yields, or the
# record store's layout changes (its metadata pickles FileEntry, StoredRecords, Reject and
# Warning_, and a links frame: tests/test_store.py pins their fields and columns to this
# version); it keys the per-dump cache so that stale parses are never reused.
PARSER_VERSION = "21"

# Parquet output: zstd, fixed row-group size, no wall-clock metadata, so that the
# same input gives byte-identical files.
PARQUET_COMPRESSION = "zstd"
PARQUET_COMPRESSION_LEVEL = 3
PARQUET_ROW_GROUP_SIZE = 65_536
# The papers' abstracts are taken from every records file in at most this many passes (each
# a whole number of row groups): a pass costs about the same however few rows it takes from a
# file, so one pass per row group made the write grow as row groups x files.
PAPERS_TAKES = 8
# Columns whose values are (nearly) all distinct: a dictionary for them is built, overflows
# and is dropped, only costing time and a page. Without one, the 1 GB pile's tables took 7 %
# less time to write and were 3 % smaller (2.14 -> 1.99 s, 126.5 -> 122.8 MB); the other
# columns (kinds, hosts, files, dates) keep theirs.
PARQUET_NO_DICTIONARY = frozenset({"paper_id", "title", "abstract", "url"})
# Dumps bigger than this are read a page at a time, and parsed and stored a batch of pages at
# a time (etl/stream.py), so a build's memory does not grow with the size of one file.
STREAM_DUMP_BYTES = 32 * 2**20
# How polars' allocator (jemalloc) gives freed pages back. The build process, whose frames
# are big and short-lived, gives them back after 100 ms: by default jemalloc keeps them 10 s,
# and at 1 GB of dumps the build peaked at 1.19 GiB instead of 0.91 GiB; at once (0 ms), it
# peaked 50-100 MB lower than at 100 ms, but dedupe took 2.0-2.1 s instead of 1.7 s, getting
# fresh pages back from the kernel. A parse worker holds one batch at a time, so it keeps
# them 1 s: fresh pages for every batch cost the 1 GB parse stage 1.4-1.7 s of its 10-11 s.
JEMALLOC_CONF_BUILD = "dirty_decay_ms:100,muzzy_decay_ms:0"
JEMALLOC_CONF_PARSE_WORKER = "dirty_decay_ms:1000,muzzy_decay_ms:1000"
# The most a file is written per system call (see etl/store.py, _ChunkedSink): 2 MB and more
# went into huge page-cache pages, slow to get on the benchmark's VM.
WRITE_CHUNK_BYTES = 2**20
# Dumps are parsed in batches of up to this many bytes: their pages share one frame, which
# pays each column operation's fixed cost once per batch (etl/fastparse.py).
PARSE_BATCH_BYTES = 16 * 2**20

# Plausibility bounds of the data (mirrored, as data rules, in expectations/).
MIN_AUTHOR_COUNT = 1
MAX_AUTHOR_COUNT = 5000
MIN_PUBLISHED_YEAR = 1990
MAX_TITLE_CHARS = 300
MIN_ABSTRACT_CHARS = 20
MAX_ABSTRACT_CHARS = 10_000
MAX_REJECT_TEXT_CHARS = 10_000

# Deduplication thresholds (see etl/dedupe.py for the rule they serve).
REVISED_TITLE_MIN_SIMILARITY = 85.0  # rapidfuzz token_set_ratio, 0..100
REVISED_ABSTRACT_MIN_SIMILARITY = 95.0  # rapidfuzz ratio on folded abstracts
TRUNCATED_ABSTRACT_MIN_CHARS = 40  # a shorter prefix is too weak to prove identity
