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

`paper_id` is the smallest record id of the paper, a record id hashing the record's folded
title with the first 100 characters of its abstract (`etl.normalize`): stable across runs,
input order and unrelated dumps.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl
from rapidfuzz import fuzz, process

from etl import config
from etl.normalize import abstract_key, stable_id

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
    Papers, authors and dates are in `paper_id` order, the order of their tables: sorting
    authors and dates by their string ids when writing them took 0.25-0.32 s each at 1 GB
    of dumps, placing them by the papers' order takes a few milliseconds.
    """

    papers: pl.DataFrame
    authors: pl.DataFrame
    dates: pl.DataFrame
    record_paper_ids: pl.Series

    @property
    def merged_records(self) -> int:
        return self.record_paper_ids.len() - self.papers.height


AbstractKeys = Callable[[pl.Series], pl.Series]
"""Looks up the `abstract_key` of records by row number (abstracts stay out of the key frame)."""


def _title_codes(title_keys: pl.Series) -> tuple[pl.Series, pl.Series]:
    """Each record's folded title as a dense number in sorted title order, and the titles.

    Numbering titles as they sort keeps clusters, and so papers, in title order while every
    later group and join runs on integers. Sorting the strings and joining the numbers back
    is about three times faster than ranking or arg-sorting them (0.3 s against 0.9 s at
    744k records).
    """
    sorted_keys = title_keys.sort().rle().struct.field("value").alias("title_key")
    numbered = sorted_keys.to_frame().with_row_index("title_code")
    codes = title_keys.to_frame("title_key").join(
        numbered, on="title_key", how="left", maintain_order="left"
    )["title_code"]
    return codes, sorted_keys


def _title_abstracts(frame: pl.DataFrame, abstract_keys: AbstractKeys) -> pl.DataFrame:
    """Each title's distinct abstracts (by hash), with their first record, record count and
    block hashes, and the number of abstracts their title has.

    `abstract` is looked up only where clauses 1-3 compare the strings: titles with several
    abstracts, and abstracts sharing a block. That is a superset of what clause 3 needs, so
    that the dumps are read once.
    """
    title_abstracts = (
        frame.filter(pl.col("a_hash").is_not_null())
        .group_by("title_code", "a_hash")
        .agg(
            pl.len(),
            pl.col("_record").min(),
            pl.col("prefix_hash").first(),
            pl.col("suffix_hash").first(),
        )
        .with_columns(pl.len().over("title_code").alias("n_abstracts"))
    )
    compared = title_abstracts.select(
        (pl.col("n_abstracts") > 1)
        | pl.col("prefix_hash").is_duplicated()
        | pl.col("suffix_hash").is_duplicated()
    ).to_series()
    abstracts = pl.repeat(None, title_abstracts.height, dtype=pl.String, eager=True)
    if compared.any():
        positions = compared.arg_true()
        texts = abstract_keys(title_abstracts["_record"].gather(positions))
        abstracts = abstracts.scatter(positions, texts)
    return title_abstracts.with_columns(abstracts.alias("abstract"))


def _ambiguous_heads(ambiguous: pl.DataFrame) -> pl.DataFrame:
    """Clauses 1-2 on the strings, for titles seen with several abstracts: the head of each
    abstract, and (`a_hash` null) the head that records without an abstract join."""
    per_title: dict[int, dict[str, tuple[int, int]]] = defaultdict(dict)
    columns = ambiguous.select("title_code", "a_hash", "len", "abstract")
    for title, a_hash, n, text in columns.iter_rows():
        per_title[title][text] = (n, a_hash)
    rows: list[tuple[int, int | None, int]] = []
    for title, present in per_title.items():
        mapping, default = assign_heads({k: n for k, (n, _) in present.items()})
        rows.extend((title, h, present[mapping[k]][1]) for k, (_, h) in present.items())
        rows.append((title, None, present[default][1]))
    return pl.DataFrame(
        rows,
        schema={"title_code": pl.UInt32, "a_hash": pl.UInt64, "head": pl.UInt64},
        orient="row",
    )


def _with_clusters(
    frame: pl.DataFrame, title_abstracts: pl.DataFrame, n_titles: int
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Each record's head abstract hash (clauses 1-2; null when its paper has no abstract)
    and its cluster: one number per (title, head), in that order, so the smallest cluster
    of a paper is the same whatever order the records come in. Title abstracts that are
    heads get their cluster too (the others null).

    Abstracts are compared by hash here: they are long, and nearly every title has one.
    Only titles seen with several different abstracts are resolved on the strings; every
    other title is one cluster.
    """
    simple = title_abstracts.filter(pl.col("n_abstracts") == 1)
    title_codes = frame["title_code"].to_numpy()
    head = (
        pl.repeat(None, n_titles, dtype=pl.UInt64, eager=True)
        .scatter(simple["title_code"], simple["a_hash"])
        .gather(title_codes)
    )
    clusters_per_title = np.ones(n_titles, dtype=np.int64)
    head_rank = np.zeros(frame.height, dtype=np.int64)
    abstract_rank = np.zeros(title_abstracts.height, dtype=np.int64)
    is_head = title_abstracts["n_abstracts"].to_numpy() == 1
    ambiguous = title_abstracts.with_row_index("row").filter(pl.col("n_abstracts") > 1)
    if ambiguous.height:
        head_map = _ambiguous_heads(ambiguous).with_columns(
            (pl.col("head").rank("dense").over("title_code") - 1).alias("rank")
        )
        is_ambiguous = np.zeros(n_titles, dtype=bool)
        is_ambiguous[ambiguous["title_code"].to_numpy()] = True
        ranked = frame.filter(is_ambiguous[title_codes]).join(
            head_map, on=["title_code", "a_hash"], how="left", nulls_equal=True
        )
        records = ranked["_record"].to_numpy()
        head = head.scatter(records, ranked["head"])
        head_rank[records] = ranked["rank"].to_numpy()
        most = head_map.group_by("title_code").agg(pl.col("rank").max())
        clusters_per_title[most["title_code"].to_numpy()] = most["rank"].to_numpy() + 1
        head_abstracts = ambiguous.join(head_map, on=["title_code", "a_hash"]).filter(
            pl.col("a_hash") == pl.col("head")
        )
        is_head[head_abstracts["row"].to_numpy()] = True
        abstract_rank[head_abstracts["row"].to_numpy()] = head_abstracts["rank"].to_numpy()
    first_cluster = np.cumsum(clusters_per_title) - clusters_per_title
    cluster = first_cluster[title_codes] + head_rank
    abstract_cluster = first_cluster[title_abstracts["title_code"].to_numpy()] + abstract_rank
    frame = frame.with_columns(head.alias("head"), pl.Series("cluster", cluster, dtype=pl.UInt32))
    title_abstracts = title_abstracts.with_columns(
        pl.when(pl.Series(is_head))
        .then(pl.Series(abstract_cluster, dtype=pl.UInt32))
        .alias("cluster")
    )
    return frame, title_abstracts


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
    frame: pl.DataFrame, title_abstracts: pl.DataFrame, titles: pl.Series
) -> dict[int, int]:
    """Clause 3: union clusters whose abstracts share a block and pass the similarity tests.

    Blocks are clusters whose abstracts share their first or last 120 characters; within a
    block, titles are compared first (cheap, and they rarely match), and only the abstracts
    of title-similar pairs are compared.
    """
    union = _UnionFind()
    head_abstracts = title_abstracts.filter(pl.col("cluster").is_not_null())
    blocks: list[list[int]] = []
    for block in ("prefix_hash", "suffix_hash"):
        blocks += (
            head_abstracts.filter(pl.col(block).is_duplicated())
            .group_by(block)
            .agg(pl.col("cluster").sort())["cluster"]
            .to_list()
        )
    if not blocks:
        return {}
    members = sorted({c for block in blocks for c in block})
    words = pl.col("title").str.to_lowercase().str.replace_all(r"[\W_]+", " ")
    member_records = frame.filter(
        pl.col("cluster").is_in(members) & (pl.col("a_hash") == pl.col("head"))
    )
    heads = (
        member_records.with_columns(titles.gather(member_records["_record"]).alias("title"))
        .group_by("cluster")
        .agg(pl.col("title").min())
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
    rows = head_abstracts.filter(pl.col("cluster").is_in(involved))
    texts = dict(zip(rows["cluster"].to_list(), rows["abstract"].to_list(), strict=True))
    for a, b in candidates:
        if abstracts_near_identical(texts[a], texts[b]):
            union.union(a, b)
    return {c: union.find(c) for c in union.parent}


def _paper_ids(
    papers: pl.DataFrame, title_keys: pl.Series, abstract_keys: AbstractKeys
) -> pl.Series:
    """The smallest record id of each paper; on the (unlikely) clash of two papers, both
    hash their whole abstract instead of its first 100 characters.

    `title_keys` are the folded titles in `title_code` order.
    """
    ids = papers["min_record_id"]
    # Distinct hashes prove the ids distinct, and are counted far faster than the strings.
    if ids.hash().n_unique() == ids.len():
        return ids.alias("paper_id")
    clashes = ids.is_duplicated()
    if not clashes.any():
        return ids.alias("paper_id")
    clashing = papers.filter(clashes)
    min_title_keys = title_keys.gather(clashing["min_title_code"]).to_list()
    abstracts = abstract_keys(clashing["representative"]).to_list()
    fixed = pl.Series(
        [stable_id(t, a or "") for t, a in zip(min_title_keys, abstracts, strict=True)],
        dtype=pl.String,
    )
    return ids.scatter(clashes.arg_true(), fixed).alias("paper_id")


_LATEST_FIRST = pl.col("captured_on").fill_null(pl.date(1, 1, 1))
_YEAR_RANK = pl.col("year_source").replace_strict(_YEAR_SOURCE_RANK, return_dtype=pl.Int8)


@dataclass(frozen=True)
class _Fields:
    """A table's columns from the records of each paper (clause 4): taken from the record
    of a paper that has one, or merged over several. Both give the same values on one
    record; most papers have one, and merging is what costs."""

    only_record: tuple[pl.Expr, ...]
    merged: tuple[pl.Expr, ...]


_PAPER_FIELDS = _Fields(
    only_record=(
        pl.col("title"),
        pl.col("_record").alias("representative"),
        pl.col("upvotes"),
        pl.lit(1, pl.Int32).alias("source_count"),
        pl.col("title_code").alias("min_title_code"),
        pl.col("record_id").alias("min_record_id"),
    ),
    merged=(
        pl.col("title").sort_by([_LATEST_FIRST, "title"], descending=[True, False]).first(),
        # The record whose abstract the paper keeps: the longest (ties: smallest record id,
        # then the first record read, so that `No...` and `No…` never swap between runs).
        pl.col("_record")
        .sort_by(
            ["abstract_len", "record_id", "a_hash", "_record"],
            descending=[True, False, False, False],
            nulls_last=True,
        )
        .first()
        .alias("representative"),
        pl.col("upvotes").max(),
        pl.len().cast(pl.Int32).alias("source_count"),
        pl.col("title_code").min().alias("min_title_code"),
        pl.col("record_id").min().alias("min_record_id"),
    ),
)
_AUTHOR_FIELDS = _Fields(
    only_record=(pl.col("author_count"),),
    merged=(
        pl.col("author_count")
        .sort_by([_LATEST_FIRST, "author_count"], descending=[True, True])
        .first(),
    ),
)
_DATE_COLUMNS = ("published_date", "date_text", "year_source")
_DATE_FIELDS = _Fields(
    only_record=tuple(pl.col(c) for c in _DATE_COLUMNS),
    merged=tuple(
        pl.col(c)
        .sort_by(
            [_YEAR_RANK, _LATEST_FIRST, "published_date", "date_text"],
            descending=[False, True, False, False],
        )
        .first()
        for c in _DATE_COLUMNS
    ),
)


def _per_paper(records: pl.LazyFrame, fields: _Fields) -> pl.LazyFrame:
    """One row per paper of `records`, which say their `paper` and whether it is `single`
    (has one record in all)."""
    single = pl.col("single")
    return pl.concat(
        [
            records.filter(single).select("paper", *fields.only_record),
            records.filter(~single).group_by("paper").agg(fields.merged),
        ]
    )


def deduplicate(keys: pl.DataFrame, abstract_keys: AbstractKeys | None = None) -> Deduplicated:
    """Merge raw records into papers (see the module docstring for the rule).

    `keys` holds one row per record with the columns `normalize.clean_records` makes (title,
    title_key, record_id, a_hash, prefix_hash, suffix_hash, abstract_len) and the footer
    fields (author_count, published_date, date_text, year_source, upvotes, captured_on).
    The abstracts themselves are looked up through `abstract_keys` only where hashes cannot
    decide; by default they come from the frame's own `abstract` column.

    Clustering runs on the hash columns and title numbers alone, and the per-record answer
    is attached to `keys` without copying it: at a million records the key frame is the
    biggest thing the build holds.
    """
    if abstract_keys is None:
        column = abstract_key(keys["abstract"], keys["abstract_len"])
        abstract_keys = column.gather
    title_codes, title_keys = _title_codes(keys["title_key"])
    frame = (
        keys.select("a_hash", "prefix_hash", "suffix_hash")
        .with_columns(title_codes)
        .with_row_index("_record")
    )
    title_abstracts = _title_abstracts(frame, abstract_keys)
    frame, title_abstracts = _with_clusters(frame, title_abstracts, title_keys.len())
    roots = _revised_title_roots(frame, title_abstracts, keys["title"])
    del title_abstracts
    cluster = frame["cluster"].to_numpy()
    del frame
    paper_of_cluster = np.arange(int(cluster.max()) + 1 if cluster.size else 0, dtype=np.uint32)
    paper_of_cluster[list(roots)] = list(roots.values())
    paper_of_record = paper_of_cluster[cluster]
    records_per_paper = np.bincount(paper_of_record, minlength=paper_of_cluster.size)
    records = keys.with_columns(
        pl.Series("paper", paper_of_record),
        pl.Series("single", records_per_paper[paper_of_record] == 1),
        title_codes,
        pl.int_range(pl.len(), dtype=pl.UInt32).alias("_record"),
    ).lazy()
    papers = _per_paper(records, _PAPER_FIELDS).sort("paper").collect()
    # Paper ids are distinct (`_paper_ids`), so this order is total.
    papers = papers.with_columns(_paper_ids(papers, title_keys, abstract_keys)).sort("paper_id")
    row_of_paper = np.zeros(paper_of_cluster.size, dtype=np.uint32)
    row_of_paper[papers["paper"].to_numpy()] = np.arange(papers.height, dtype=np.uint32)
    paper_ids = papers["paper_id"]
    record_paper_ids = paper_ids.gather(row_of_paper[paper_of_record])
    authors = _per_paper(
        records.filter(pl.col("author_count").is_not_null()), _AUTHOR_FIELDS
    ).collect()
    dates = _per_paper(
        records.filter(pl.col("published_date").is_not_null()), _DATE_FIELDS
    ).collect()
    return Deduplicated(
        papers=papers.select(
            "paper_id", "title", "upvotes", "source_count", pl.col("representative").cast(pl.UInt32)
        ),
        authors=_in_paper_order(authors, row_of_paper, paper_ids, ("author_count",)),
        dates=_in_paper_order(
            dates, row_of_paper, paper_ids, ("published_date", "date_text", "year_source")
        ),
        record_paper_ids=record_paper_ids,
    )


def _in_paper_order(
    per_paper: pl.DataFrame, row_of_paper: np.ndarray, paper_ids: pl.Series, columns: Sequence[str]
) -> pl.DataFrame:
    """A table of some papers (at most one row each) with their ids, in the papers' order."""
    rows = row_of_paper[per_paper["paper"].to_numpy()]
    order = pl.Series(np.argsort(rows, kind="stable"), dtype=pl.UInt32)
    return (
        per_paper.select(*columns)
        .gather(order)
        .select(paper_ids.gather(rows[order.to_numpy()]), *columns)
    )
