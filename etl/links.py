"""Links: the URLs authors write in abstracts, cleaned of sentence punctuation and classified."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

import numpy as np
import polars as pl

_URL = re.compile(r"https?://[^\s<>\"'`]+", re.IGNORECASE)
_URL_VECTOR = r"(?i)https?://[^\s<>\"'`]+"  # the same pattern, for polars
# Punctuation that ends the sentence around a URL rather than the URL itself.
_TRAILING = ".,;:!?'\"*»\u201d\u2019"
_CLOSERS = {")": "(", "]": "[", "}": "{"}
_TRAILING_RUN = "[" + "".join("\\" + c if c in "\\]^-[" else c for c in _TRAILING) + "]+$"

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
        host = _host_of(url)
        if not host or "." not in host or url in links:
            continue
        kind = classify_host(host)
        repo = repo_of(host, urlsplit(url).path) if kind == "code" else None
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

    `extract_links` of each abstract, as column operations: only a URL whose host part is
    not plain ASCII (or holds `[`, `]` or `%`, which `urlsplit` treats specially) goes
    through Python. On one core, the links of 521 MB of abstracts took 0.54-0.56 s this way,
    against 0.72 s with every URL through `_distinct_links`.
    """
    written = (
        abstracts.str.extract_all(_URL_VECTOR)
        .to_frame("url")
        .with_row_index("record")
        .explode("url")
        .drop_nulls("url")
    )
    if written.height == 0:
        return pl.DataFrame(schema=LINK_ROW_SCHEMA)
    urls = _stripped(written["url"])
    netloc = urls.str.extract(r"^[^:]*://([^/?#]*)", 1)
    plain = netloc.str.contains(r"^[\x21-\x7e]*$") & ~netloc.str.contains(r"[\[\]%]")
    host = netloc.str.split("@").list.last().str.split(":").list.first().str.to_lowercase()
    odd = (~plain).arg_true()
    if odd.len():
        hosts = [_host_of(url) for url in urls.gather(odd).to_list()]
        host = host.scatter(odd, pl.Series(hosts, dtype=pl.String))
    links = (
        written.with_columns(urls, host.alias("host"))
        .filter(pl.col("host").str.contains(".", literal=True))
        .unique(["record", "url"], keep="first", maintain_order=True)
    )
    kind = pl.lit("project")
    for name, domains in reversed(_KINDS_BY_HOST):
        on_domain = pl.col("host").is_in(domains) | pl.any_horizontal(
            pl.col("host").str.ends_with("." + d) for d in domains
        )
        kind = pl.when(on_domain).then(pl.lit(name)).otherwise(kind)
    path_parts = (
        pl.col("url")
        .str.extract(r"^[^:]*://[^/?#]*([^?#]*)", 1)
        .str.split("/")
        .list.eval(pl.element().filter(pl.element() != ""))
    )
    owner = path_parts.list.get(0, null_on_oob=True)
    name = path_parts.list.get(1, null_on_oob=True).str.replace(r"\.git$", "")
    on_code_host = pl.col("host").str.replace(r"^www\.", "").is_in(CODE_HOSTS)
    repo = (
        pl.when(on_code_host & (owner != "") & (name != ""))
        .then(pl.format("{}/{}", owner, name))
        .otherwise(None)
    )
    return (
        links.with_columns(kind.alias("kind"))
        .with_columns(repo.alias("repo"))
        .select(*LINK_ROW_SCHEMA)
        .cast(LINK_ROW_SCHEMA)  # type: ignore[arg-type]
    )


def _stripped(urls: pl.Series) -> pl.Series:
    """`strip_trailing_punctuation` of each URL: two rounds of column operations, each
    stripping a URL's whole run of sentence punctuation, then one unbalanced closing bracket
    (two rounds finish nearly every URL), then the function itself for the URLs the second
    round still changed. Round after round over the few URLs left cost about 2 ms each: a URL
    ending in 2,000 brackets took 4.8 s that way."""
    active = pl.Series(np.arange(len(urls), dtype=np.uint32))
    for _ in range(2):
        part = urls.gather(active)
        stripped = part.str.replace(_TRAILING_RUN, "")
        last = stripped.str.slice(-1)
        unbalanced = pl.repeat(False, len(part), eager=True)
        for closer, opener in _CLOSERS.items():
            unbalanced |= (last == closer) & (
                stripped.str.count_matches(opener, literal=True)
                < stripped.str.count_matches(closer, literal=True)
            )
        stripped = pl.select(
            pl.when(unbalanced)
            .then(stripped.str.slice(0, stripped.str.len_chars() - 1))
            .otherwise(stripped)
        ).to_series()
        changed = (stripped != part).arg_true()
        active = active.gather(changed)
        urls = urls.scatter(active, stripped.gather(changed))
        if not len(active):
            return urls
    rest = [strip_trailing_punctuation(url) for url in urls.gather(active).to_list()]
    return urls.scatter(active, pl.Series(rest, dtype=pl.String))


def _host_of(url: str) -> str | None:
    """A URL's host, lower-cased, or None (none, or a URL `urlsplit` refuses)."""
    try:
        return urlsplit(url).hostname
    except ValueError:
        return None
