"""Links: the URLs authors write in abstracts, cleaned of sentence punctuation and classified."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

import polars as pl

_URL = re.compile(r"https?://[^\s<>\"'`]+", re.IGNORECASE)
_URL_VECTOR = r"(?i)https?://[^\s<>\"'`]+"  # the same pattern, for polars
# Punctuation that ends the sentence around a URL rather than the URL itself.
_TRAILING = ".,;:!?'\"*»\u201d\u2019"
_CLOSERS = {")": "(", "]": "[", "}": "{"}

CODE_HOSTS = ("github.com", "gitlab.com", "bitbucket.org")
_KINDS_BY_HOST: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("code", (*CODE_HOSTS, "gist.github.com")),
    ("huggingface", ("huggingface.co", "hf.co", "hf.space")),
    ("arxiv", ("arxiv.org",)),
    ("video", ("youtube.com", "youtu.be", "vimeo.com", "bilibili.com")),
)


@dataclass(frozen=True, slots=True)
class Link:
    url: str
    host: str
    kind: str
    repo: str | None


def strip_trailing_punctuation(url: str) -> str:
    """`https://github.com/a/b).` -> `https://github.com/a/b` (a balanced `)` is kept)."""
    while url:
        last = url[-1]
        if last in _TRAILING or (last in _CLOSERS and url.count(_CLOSERS[last]) < url.count(last)):
            url = url[:-1]
        else:
            break
    return url


def _host_matches(host: str, domains: tuple[str, ...]) -> bool:
    return any(host == d or host.endswith("." + d) for d in domains)


def classify_host(host: str) -> str:
    for kind, domains in _KINDS_BY_HOST:
        if _host_matches(host, domains):
            return kind
    return "project"


def repo_of(host: str, path: str) -> str | None:
    """`owner/name` of a repository URL on a code host; None for anything else."""
    bare = host.removeprefix("www.")
    if bare not in CODE_HOSTS:
        return None
    parts = [p for p in path.split("/") if p]
    if len(parts) < 2:
        return None
    owner, name = parts[0], parts[1].removesuffix(".git")
    return f"{owner}/{name}" if owner and name else None


def extract_links(text: str) -> list[Link]:
    """Every distinct well-formed URL in the text, in order of first appearance."""
    return _distinct_links(match.group(0) for match in _URL.finditer(text))


def _distinct_links(written: Iterable[str]) -> list[Link]:
    links: dict[str, Link] = {}
    for raw in written:
        url = strip_trailing_punctuation(raw)
        try:
            parts = urlsplit(url)
            host = parts.hostname
        except ValueError:
            continue
        if not host or "." not in host or url in links:
            continue
        kind = classify_host(host)
        repo = repo_of(host, parts.path) if kind == "code" else None
        links[url] = Link(url=url, host=host, kind=kind, repo=repo)
    return list(links.values())


LINK_ROW_SCHEMA = {
    "record": pl.UInt32,
    "url": pl.String,
    "host": pl.String,
    "kind": pl.String,
    "repo": pl.String,
}


def link_rows(abstracts: pl.Series) -> pl.DataFrame:
    """One row per link of each abstract, keyed by the abstract's position in `abstracts`.

    The URLs are found by a vectorized regex; only the found URLs go through Python.
    """
    found = (
        abstracts.str.extract_all(_URL_VECTOR)
        .to_frame("urls")
        .with_row_index("record")
        .filter(pl.col("urls").list.len() > 0)
    )
    columns: dict[str, list] = {name: [] for name in LINK_ROW_SCHEMA}
    for record, urls in found.iter_rows():
        for link in _distinct_links(urls):
            columns["record"].append(record)
            columns["url"].append(link.url)
            columns["host"].append(link.host)
            columns["kind"].append(link.kind)
            columns["repo"].append(link.repo)
    return pl.DataFrame(columns, schema=LINK_ROW_SCHEMA)
