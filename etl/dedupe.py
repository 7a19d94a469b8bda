"""Deduplicate: raw records from many dumps -> one row per paper.

The rule (each clause has a test in tests/test_dedupe.py):

1. Two records are the same paper when their titles are equal after case, punctuation,
   hyphen and whitespace folding (`title_key`, see `normalize.clean_records`) and their
   abstracts agree: equal after whitespace folding, or one is missing, or one is a truncated
   prefix of the other (at least `TRUNCATED_ABSTRACT_MIN_CHARS` long; a trailing `...`/`…`
   is ignored).
2. Same folded title but clearly different abstracts: two papers. A record with no
   abstract whose title matches several such papers joins the one with most records.
3. A title revised between captures: records whose abstracts are near-identical
   (rapidfuzz ratio >= REVISED_ABSTRACT_MIN_SIMILARITY, or a truncated prefix) and whose
   titles are very similar (token-set ratio >= REVISED_TITLE_MIN_SIMILARITY) are one paper.
4. Merging keeps the most complete value of each field and never invents one: the longest
   abstract; the title of the latest capture; the highest upvote count; the author count
   and date from the latest capture that showed a footer (an explicit year beats a year
   taken from the capture date, which beats an inferred one).

`paper_id` hashes the smallest folded title of the paper with the first 100 characters of
its abstract: stable across runs, input order and unrelated dumps.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl
from rapidfuzz import fuzz, process

from etl import config
from etl.normalize import stable_id

ID_ABSTRACT_CHARS = 100
# Pairs of blocks up to this many titles are scored together, 65,536 at a time; a bigger
# block (rare: many abstracts sharing an opening or ending) is scored as a matrix instead.
_BATCHED_MAX_BLOCK = 200
_PAIR_BATCH = 1 << 16
_YEAR_SOURCE_RANK = {"explicit": 0, "capture_date": 1, "inferred": 2}


def _is_truncation(short: str, full: str) -> bool:
    return len(short) >= config.TRUNCATED_ABSTRACT_MIN_CHARS and full.startswith(short)


def abstracts_agree(a: str | None, b: str | None) -> bool:
    """Clause 1: equal, one missing, or one a truncated prefix of the other."""
    if a is None or b is None or a == b:
        return True
    short, full = (a, b) if len(a) <= len(b) else (b, a)
    return _is_truncation(short, full)


def abstracts_near_identical(a: str, b: str) -> bool:
    """Clause 3's test on abstracts."""
    if abstracts_agree(a, b):
        return True
    return fuzz.ratio(a, b, score_cutoff=config.REVISED_ABSTRACT_MIN_SIMILARITY) > 0


def assign_heads(abstract_counts: dict[str, int]) -> tuple[dict[str, str], str]:
    """Clauses 1-2 within one folded title: map each abstract to the paper's full abstract.

    Returns the mapping and the head that records without an abstract join.
    """
    heads: list[str] = []
    mapping: dict[str, str] = {}
    for key in sorted(abstract_counts, key=lambda k: (-len(k), k)):
        head = next((h for h in heads if _is_truncation(key, h)), key)
        if head == key:
            heads.append(key)
        mapping[key] = head
    weight: dict[str, int] = defaultdict(int)
    for key, count in abstract_counts.items():
        weight[mapping[key]] += count
    default = min(heads, key=lambda h: (-weight[h], h))
    return mapping, default


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[int, int] = {}

    def find(self, x: int) -> int:
        root = x
        while self.parent.get(root, root) != root:
            root = self.parent[root]
        while self.parent.get(x, x) != root:
            self.parent[x], x = root, self.parent[x]
        return root

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            # The smaller cluster index (a deterministic order) becomes the root.
            self.parent[max(ra, rb)] = min(ra, rb)


@dataclass(frozen=True)
class Deduplicated:
    """Merged papers plus the paper each raw record went to (aligned with the input).

    `papers.representative` is the input row whose abstract (and links) the paper keeps.
    """

    papers: pl.DataFrame
    authors: pl.DataFrame
    dates: pl.DataFrame
    record_paper_ids: pl.Series

    @property
    def merged_records(self) -> int:
        return self.record_paper_ids.len() - self.papers.height


AbstractKeys = Callable[[pl.Series], pl.Series]
"""Looks up the `abstract_key` of records by row number (they stay out of the key frame)."""


def _with_heads(frame: pl.DataFrame, abstract_keys: AbstractKeys) -> pl.DataFrame:
    """Each record's head abstract hash (clauses 1-2); null when its paper has no abstract.

    Abstracts are compared by hash here: they are long, and nearly every title has one.
    Only titles seen with several different abstracts are resolved on the strings.
    """
    per_title = frame.group_by("title_key").agg(
        pl.col("a_hash").drop_nulls().n_unique().alias("n_abstracts"),
        pl.col("a_hash").drop_nulls().first().alias("simple_head"),
    )
    ambiguous = per_title.filter(pl.col("n_abstracts") > 1).select("title_key")
    frame = frame.join(
        per_title.filter(pl.col("n_abstracts") <= 1).select("title_key", "simple_head"),
        on="title_key",
        how="left",
    )
    if not ambiguous.height:
        return frame.rename({"simple_head": "head"})
    counts = (
        frame.join(ambiguous, on="title_key", how="semi")
        .group_by("title_key", "a_hash")
        .agg(pl.len(), pl.col("_record").min())
        .sort("title_key", "a_hash", nulls_last=True)
    )
    with_text = counts.filter(pl.col("a_hash").is_not_null())
    texts = abstract_keys(with_text["_record"]).to_list()
    per_title_counts: dict[str, dict[str, tuple[int, int]]] = defaultdict(dict)
    for (tkey, a_hash, n, _), text in zip(with_text.iter_rows(), texts, strict=True):
        per_title_counts[tkey][text] = (n, a_hash)
    null_titles = set(counts.filter(pl.col("a_hash").is_null())["title_key"].to_list())
    rows: list[tuple[str, int | None, int]] = []
    for tkey, present in per_title_counts.items():
        mapping, default = assign_heads({k: n for k, (n, _) in present.items()})
        rows.extend((tkey, h, present[mapping[k]][1]) for k, (_, h) in present.items())
        if tkey in null_titles:
            rows.append((tkey, None, present[default][1]))
    head_map = pl.DataFrame(
        rows,
        schema={"title_key": pl.String, "a_hash": pl.UInt64, "mapped_head": pl.UInt64},
        orient="row",
    )
    frame = frame.join(head_map, on=["title_key", "a_hash"], how="left", nulls_equal=True)
    return frame.with_columns(pl.coalesce("simple_head", "mapped_head").alias("head")).drop(
        "simple_head", "mapped_head"
    )


def _pair_codes(firsts: np.ndarray, seconds: np.ndarray) -> np.ndarray:
    """Index pairs as one sortable number each: `first << 32 | second`."""
    return (firsts.astype(np.uint64) << np.uint64(32)) | seconds.astype(np.uint64)


def _pair_halves(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    firsts = codes >> np.uint64(32)
    seconds = codes & np.uint64(0xFFFFFFFF)
    return firsts.astype(np.int64), seconds.astype(np.int64)


def _sorted_unique(codes: np.ndarray) -> np.ndarray:
    """np.unique by sorting: numpy's hash-based unique took 0.5 s on a million codes."""
    codes = np.sort(codes)
    return codes[np.concatenate(([True], codes[1:] != codes[:-1]))] if len(codes) else codes


def _block_pairs(blocks: list[list[int]]) -> np.ndarray:
    """Every pair of members that share a block, once, as sorted pair codes (a < b).

    Blocks are sorted lists of distinct indices; blocks of one size are expanded together.
    """
    by_size: dict[int, list[list[int]]] = defaultdict(list)
    for block in blocks:
        by_size[len(block)].append(block)
    codes = [np.empty(0, dtype=np.uint64)]
    for size, same in by_size.items():
        members = np.asarray(same, dtype=np.int64)
        first, second = np.triu_indices(size, k=1)
        codes.append(_pair_codes(members[:, first], members[:, second]).ravel())
    return _sorted_unique(np.concatenate(codes))


def _passing(scorer: Callable[..., float], lefts: np.ndarray, rights: np.ndarray) -> np.ndarray:
    """Whether each (lefts[k], rights[k]) scores at least the title cutoff; on both cores."""
    scores = process.cpdist(
        lefts.tolist(),
        rights.tolist(),
        scorer=scorer,
        score_cutoff=config.REVISED_TITLE_MIN_SIMILARITY,
        dtype=np.uint8,
        workers=-1,
    )
    return scores > 0


def _similar_by_rows(codes: np.ndarray, words: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Which of the pairs pass the title test, scored a batch at a time."""
    similar = np.zeros(len(codes), dtype=bool)
    for low in range(0, len(codes), _PAIR_BATCH):
        a, b = _pair_halves(codes[low : low + _PAIR_BATCH])
        passed = _passing(fuzz.token_set_ratio, words[a], words[b])
        rest = np.flatnonzero(~passed)  # only these need the second score
        passed[rest] = _passing(fuzz.ratio, keys[a[rest]], keys[b[rest]])
        similar[low : low + len(a)] = passed
    return similar


def _similar_in_matrix(block: list[int], words: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """The title test on one big block as two score matrices: its pairs never all exist."""
    members = np.asarray(block, dtype=np.int64)
    options = {
        "score_cutoff": config.REVISED_TITLE_MIN_SIMILARITY,
        "dtype": np.uint8,
        "workers": -1,
    }
    block_words, block_keys = words[members].tolist(), keys[members].tolist()
    by_words = process.cdist(block_words, block_words, scorer=fuzz.token_set_ratio, **options)
    by_keys = process.cdist(block_keys, block_keys, scorer=fuzz.ratio, **options)
    first, second = np.nonzero(np.triu((by_words > 0) | (by_keys > 0), k=1))
    return _pair_codes(members[first], members[second])


def _similar_title_pairs(
    blocks: list[list[int]],
    words: Sequence[str | None],
    keys: Sequence[str | None],
    max_batched_block: int = _BATCHED_MAX_BLOCK,
) -> list[tuple[int, int]]:
    """Pairs (i, j), i < j, sharing a block, whose titles are very similar (clause 3's test).

    Similar means a rapidfuzz token-set ratio of the lower-cased words, or a plain ratio of
    the same without spaces, of at least REVISED_TITLE_MIN_SIMILARITY; folding first makes
    `Vision-Language` and `Vision Language` the same words. `blocks` are sorted lists of
    indices into `words` (the folded titles) and `keys` (the same without spaces); `None`
    stands for an index no block uses. A pair in several blocks is scored once.
    """
    word_array = np.asarray(words, dtype=object)
    key_array = np.asarray(keys, dtype=object)
    codes = _block_pairs([b for b in blocks if len(b) <= max_batched_block])
    found = [codes[_similar_by_rows(codes, word_array, key_array)]]
    found += [
        _similar_in_matrix(block, word_array, key_array)
        for block in blocks
        if len(block) > max_batched_block
    ]
    firsts, seconds = _pair_halves(_sorted_unique(np.concatenate(found)))
    return list(zip(firsts.tolist(), seconds.tolist(), strict=True))


def _revised_title_roots(
    frame: pl.DataFrame, clusters: pl.DataFrame, titles: pl.Series, abstract_keys: AbstractKeys
) -> dict[int, int]:
    """Clause 3: union clusters whose abstracts share a block and pass the similarity tests.

    Blocks are clusters whose abstracts share their first or last 120 characters; within a
    block, titles are compared first (cheap, and they rarely match), and only the abstracts
    of title-similar pairs are looked up and compared.
    """
    union = _UnionFind()
    with_abstract = clusters.filter(pl.col("head").is_not_null())
    blocks: list[list[int]] = []
    for block in ("prefix_hash", "suffix_hash"):
        blocks += (
            with_abstract.group_by(block)
            .agg(pl.col("cluster").sort())
            .filter(pl.col("cluster").list.len() > 1)["cluster"]
            .to_list()
        )
    if not blocks:
        return {}
    members = sorted({c for block in blocks for c in block})
    words = pl.col("title").str.to_lowercase().str.replace_all(r"[\W_]+", " ")
    head_records = frame.join(
        clusters.filter(pl.col("cluster").is_in(members)).select("title_key", "head", "cluster"),
        on=["title_key", "head"],
    ).filter(pl.col("a_hash") == pl.col("head"))
    heads = (
        head_records.with_columns(titles.gather(head_records["_record"]).alias("title"))
        .group_by("cluster")
        .agg(pl.col("title").min(), pl.col("_record").min())
        .with_columns(words.alias("words"))
        .with_columns(pl.col("words").str.replace_all(" ", "", literal=True).alias("keys"))
        .sort("cluster")
    )
    # Titles by cluster number, so that blocks index them directly.
    numbers = heads["cluster"].to_numpy()
    title_words = np.full(int(numbers.max()) + 1, None, dtype=object)
    title_keys = title_words.copy()
    title_words[numbers] = heads["words"].to_list()
    title_keys[numbers] = heads["keys"].to_list()
    candidates = _similar_title_pairs(blocks, title_words, title_keys)
    if not candidates:
        return {}
    involved = sorted({c for pair in candidates for c in pair})
    rows = heads.filter(pl.col("cluster").is_in(involved))
    texts = dict(
        zip(rows["cluster"].to_list(), abstract_keys(rows["_record"]).to_list(), strict=True)
    )
    for a, b in candidates:
        if abstracts_near_identical(texts[a], texts[b]):
            union.union(a, b)
    return {c: union.find(c) for c in union.parent}


def _paper_ids(papers: pl.DataFrame, abstract_keys: AbstractKeys) -> pl.Series:
    """The smallest record id of each paper; on the (unlikely) clash of two papers, both
    hash their whole abstract instead of its first 100 characters."""
    ids = papers["min_record_id"]
    clashes = ids.is_duplicated()
    if not clashes.any():
        return ids.alias("paper_id")
    clashing = papers.filter(clashes)
    abstracts = abstract_keys(clashing["representative"]).to_list()
    fixed = pl.Series(
        [stable_id(t, a or "") for t, a in zip(clashing["min_title_key"], abstracts, strict=True)],
        dtype=pl.String,
    )
    return ids.scatter(clashes.arg_true(), fixed).alias("paper_id")


def deduplicate(keys: pl.DataFrame, abstract_keys: AbstractKeys | None = None) -> Deduplicated:
    """Merge raw records into papers (see the module docstring for the rule).

    `keys` holds one row per record with the columns `normalize.clean_records` makes (title,
    title_key, record_id, a_hash, prefix_hash, suffix_hash, abstract_len) and the footer
    fields (author_count, published_date, date_text, year_source, upvotes, captured_on).
    The abstracts themselves are looked up through `abstract_keys` only where hashes cannot
    decide; by default they come from the frame's own `abstract_key` column.

    Clustering runs on the hash columns alone, and the per-record answer is attached to
    `keys` without copying it: at a million records the key frame is the biggest thing the
    build holds.
    """
    if abstract_keys is None:
        column = keys["abstract_key"]
        abstract_keys = column.gather
    frame = keys.select("title_key", "a_hash", "prefix_hash", "suffix_hash").with_row_index(
        "_record"
    )
    frame = _with_heads(frame, abstract_keys)
    is_head = pl.col("a_hash") == pl.col("head")
    clusters = (
        frame.group_by("title_key", "head")
        .agg(
            pl.col("prefix_hash").filter(is_head).first(),
            pl.col("suffix_hash").filter(is_head).first(),
        )
        .sort("title_key", "head", nulls_last=True)
        .with_row_index("cluster")
    )
    roots = _revised_title_roots(frame, clusters, keys["title"], abstract_keys)
    clusters = clusters.with_columns(
        pl.col("cluster")
        .replace_strict(roots, default=pl.col("cluster"), return_dtype=pl.UInt32)
        .alias("paper")
    )
    paper_of_record = (
        frame.select("_record", "title_key", "head")
        .join(
            clusters.select("title_key", "head", "paper"),
            on=["title_key", "head"],
            how="left",
            nulls_equal=True,
        )
        .sort("_record")["paper"]
    )
    del frame
    records = keys.with_columns(
        paper_of_record, pl.int_range(pl.len(), dtype=pl.UInt32).alias("_record")
    ).lazy()
    latest_first = pl.col("captured_on").fill_null(pl.date(1, 1, 1))
    # The record whose abstract the paper keeps: the longest (ties: smallest record id).
    representative = (
        pl.col("_record")
        .sort_by(
            ["abstract_len", "record_id", "a_hash"],
            descending=[True, False, False],
            nulls_last=True,
        )
        .first()
    )
    papers = (
        records.group_by("paper")
        .agg(
            pl.col("title").sort_by([latest_first, "title"], descending=[True, False]).first(),
            representative.alias("representative"),
            pl.col("upvotes").max(),
            pl.len().cast(pl.Int32).alias("source_count"),
            pl.col("title_key").min().alias("min_title_key"),
            pl.col("record_id").min().alias("min_record_id"),
        )
        .sort("paper")
        .collect(engine="streaming")
    )
    papers = papers.with_columns(_paper_ids(papers, abstract_keys))
    record_paper_ids = (
        paper_of_record.to_frame()
        .join(papers.select("paper", "paper_id"), on="paper", how="left", maintain_order="left")
        .get_column("paper_id")
    )
    records = records.with_columns(record_paper_ids)

    authors = (
        records.filter(pl.col("author_count").is_not_null())
        .group_by("paper_id")
        .agg(
            pl.col("author_count")
            .sort_by([latest_first, "author_count"], descending=[True, True])
            .first()
        )
        .collect()
    )
    year_rank = pl.col("year_source").replace_strict(_YEAR_SOURCE_RANK, return_dtype=pl.Int8)
    date_order = [year_rank, latest_first, "published_date", "date_text"]
    date_desc = [False, True, False, False]
    dates = (
        records.filter(pl.col("published_date").is_not_null())
        .group_by("paper_id")
        .agg(
            pl.col(c).sort_by(date_order, descending=date_desc).first()
            for c in ("published_date", "date_text", "year_source")
        )
        .collect()
    )
    return Deduplicated(
        papers=papers.select(
            "paper_id", "title", "upvotes", "source_count", pl.col("representative").cast(pl.UInt32)
        ),
        authors=authors,
        dates=dates,
        record_paper_ids=record_paper_ids,
    )
