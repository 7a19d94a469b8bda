"""Deterministic generator of realistic Hugging Face Papers dumps for the benchmark.

Why synthetic: the two real dumps are 240 KB; the build must be measured at 10 MB-1 GB.
The piles mimic both dump formats byte for byte (see data/raw/) and the copy artefacts a
parser must fold (case, punctuation, hyphens, whitespace, CRLF, NFD accents, truncated
abstracts, revised titles), and `expected.json` says exactly how many distinct papers a
correct deduplicator must find. Distinct papers never collide by construction: every abstract
has a unique first sentence, and every title a unique folded key but for a few namesakes (a
paper titled word for word as an earlier one), which a deduplicator must keep apart. Some
dumps hold two pasted pages. `truth_records.csv` and `truth_papers.csv` are the answer key
bench/check_truth.py grades a build's tables by.

    python bench/generate.py --out DIR --size 100MB [--seed 0] [--extra-dir DIR2]

Same arguments -> byte-identical files (one seeded `random.Random`; no set iteration).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import hashlib
import io
import json
import math
import random
import re
import sys
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple, TextIO, cast

GENERATOR_VERSION = "5"

# Shape of the pile.
NEW_PAPER_RATE = 0.70  # share of records that introduce a new paper (~70% distinct)
RECENT_WINDOW = 5_000  # half of the repeats come from the most recent papers
SEARCH_PAGE_SHARE = 0.75
CRLF_FILE_RATE = 0.08
NO_CAPTURE_DATE_RATE = 0.15
TRAILING_NEWLINE_RATE = 0.5
FOOTERLESS_RATE = 0.05
NAMESAKE_RATE = 0.003  # of new papers: another paper's title, word for word
MULTI_PAGE_FILE_RATE = 0.05  # dumps holding two pasted pages
TITLE_VARIANT_RATE = 0.30
TRAILING_SPACE_RATE = 0.04
NFD_RATE = 0.25  # of the copies that have accents
TRUNCATE_RATE = 0.015  # of the repeated copies
REVISE_RATE = 0.015  # of the repeated copies of a paper not yet revised
UPVOTED_PAPER_RATE = 0.35
URL_ABSTRACT_RATE = 0.18
NAMED_PAPER_RATE = 0.55
ACCENTED_PROSE_RATE = 0.006  # per concept slot in the sentence bank
ACCENTED_TITLE_RATE = 0.04  # per concept slot in a title
FILE_MEDIAN_BYTES = 700_000
FILE_MIN_BYTES = 200_000
FILE_MAX_BYTES = 4_000_000
ABSTRACT_MIN, ABSTRACT_MAX = 400, 1900
TITLE_MIN, TITLE_MAX = 40, 160
TRUNCATED_MIN_CHARS = 200
SENTENCE_BANK_SIZE = 40_000
CAPTURE_START = dt.date(2023, 1, 16).toordinal()
CAPTURE_END = dt.date(2025, 11, 20).toordinal()
# A dump whose last line is an abstract without one of these and without a final newline
# reads as an interrupted copy (a parser rightly drops that abstract), so such dumps get
# their final newline: the pile's expected counts must not depend on that judgement.
SENTENCE_END = (".", "!", "?", ")", '"', "'", "\u201d", "\u2019", "]")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

SEARCH_HEADER = (
    "new\n\nGet trending papers in your email inbox!\n\nSubscribe\n\nDaily Papers\n\n"
    "byAK and the research community\n\n"
)
COMPACT_HEADER = (
    "Get trending papers in your email inbox once a day!\n"
    "Get trending papers in your email inbox!\nSubscribe"
)

# --- vocabulary ---------------------------------------------------------------------------

ADJECTIVES = (
    "scalable", "efficient", "robust", "unified", "lightweight", "hierarchical", "modular",
    "adaptive", "sparse", "multimodal", "contrastive", "generative", "probabilistic",
    "differentiable", "causal", "compositional", "autoregressive", "diffusion-based",
    "training-free", "self-supervised", "zero-shot", "few-shot", "multi-agent",
    "cross-lingual", "long-context", "parameter-efficient", "data-efficient",
    "interpretable", "end-to-end", "retrieval-augmented", "open-vocabulary",
    "physics-informed", "privacy-preserving", "fine-grained", "large-scale", "low-rank",
    "memory-efficient", "instruction-tuned", "vision-language", "uncertainty-aware",
    "task-agnostic", "equivariant", "decentralized", "multi-scale", "token-level",
    "reward-guided", "continual", "federated", "bilevel", "self-correcting",
)
NOUNS = (
    "framework", "model", "method", "approach", "architecture", "algorithm", "pipeline",
    "benchmark", "system", "technique", "objective", "estimator", "policy", "agent",
    "encoder", "decoder", "tokenizer", "retriever", "planner", "optimizer", "module",
    "representation", "curriculum", "prior", "sampler", "critic", "world model",
    "reward model", "adapter", "router",
)
TASKS = (
    "image segmentation", "machine translation", "code generation", "question answering",
    "text-to-image synthesis", "video understanding", "robot manipulation",
    "protein structure prediction", "speech recognition", "mathematical reasoning",
    "tabular classification", "3D reconstruction", "motion forecasting",
    "graph representation learning", "molecular property prediction",
    "time-series forecasting", "document retrieval", "visual navigation",
    "dialogue state tracking", "anomaly detection", "novel view synthesis",
    "semantic parsing", "reward modeling", "theorem proving", "weather forecasting",
    "music generation", "named entity recognition", "domain adaptation",
    "continual learning", "federated learning", "neural architecture search",
    "offline reinforcement learning", "in-context learning", "chain-of-thought reasoning",
    "knowledge distillation", "preference optimization", "speculative decoding",
    "model merging", "uncertainty quantification", "causal discovery", "meta-learning",
    "long-horizon planning", "web navigation", "table understanding", "image editing",
    "point cloud registration", "optical flow estimation", "text-to-speech synthesis",
    "multi-object tracking", "instruction following", "tool use", "program synthesis",
    "few-shot classification", "open-domain dialogue", "visual grounding",
    "scene graph generation", "human motion generation", "drug discovery",
    "medical report generation", "legal document analysis",
)
CONCEPTS = (
    "attention", "mixture of experts", "state space models", "diffusion models",
    "graph neural networks", "low-rank adaptation", "contrastive pretraining",
    "masked autoencoders", "policy gradients", "optimal transport", "flow matching",
    "neural radiance fields", "Gaussian splatting", "vision transformers",
    "large language models", "reinforcement learning from human feedback",
    "direct preference optimization", "test-time scaling", "synthetic data",
    "curriculum learning", "knowledge graphs", "sparse autoencoders", "model editing",
    "quantization", "pruning", "memory replay", "self-play", "tree search",
    "energy-based models", "variational inference", "Bayesian optimization",
    "kernel methods", "prompt tuning", "weight averaging", "token merging",
)
# Proper names with accents: rare in prose, so only a few percent of copies are non-ASCII.
ACCENTED_CONCEPTS = (
    "Nyström approximation", "Fréchet distance", "Schrödinger bridges", "Gödel machines",
    "Bézier curves", "Möbius transformations", "Lévy processes", "Hölder continuity",
    "Padé approximants", "Erdős\u2013Rényi graphs", "Cramér\u2013Rao bounds", "Kähler manifolds",
)
PROPERTIES = (
    "role", "limits", "robustness", "sample complexity", "expressivity", "calibration",
    "scaling behavior", "stability", "generalization", "emergence", "failure modes",
    "implicit bias", "convergence", "transferability", "brittleness",
)
GERUNDS = (
    "Scaling", "Improving", "Rethinking", "Learning", "Benchmarking", "Accelerating",
    "Aligning", "Distilling", "Grounding", "Evaluating", "Steering", "Compressing",
    "Unifying", "Adapting", "Probing", "Revisiting",
)
VERBS = ("Plan", "Reason", "Retrieve", "Segment", "Navigate", "Generate", "Verify", "Search",
         "Predict", "Explain", "Imitate", "Compose")
OBJECTS = ("Programs", "Proofs", "Trajectories", "Skills", "Molecules", "Scenes", "Tools",
           "Rewards", "Queries", "Layouts", "Dialogues", "Graphs")
SOURCES = ("Unlabeled Videos", "Human Feedback", "Synthetic Data", "Web Demonstrations",
           "Sparse Rewards", "Noisy Labels", "Language Instructions", "Self-Play",
           "Simulation", "Few Examples")
DOMAINS = ("Healthcare", "Autonomous Driving", "Low-Resource Languages", "Scientific Discovery",
           "Edge Devices", "Open-World Settings", "Finance", "Education", "Remote Sensing")
REVISION_WORDS = ("Efficient", "Scalable", "Robust", "Unified", "Improved", "Generalized",
                  "Simple", "Fast", "Principled", "Practical", "Towards", "Reliable")
SMALL_WORDS = frozenset(("a", "an", "and", "at", "for", "from", "in", "of", "on", "the",
                         "to", "via", "with"))
SYLLABLES = ("ve", "lo", "ra", "ta", "ki", "no", "mi", "zu", "sa", "pe", "ro", "da", "qu",
             "xi", "be", "go", "lu", "fa", "ne", "ti", "mo", "ka", "re", "vi", "cha", "dri",
             "sto", "gra", "pla", "tre", "kro", "fli", "ze", "ho", "ja", "wu", "ny", "ul",
             "ar", "en", "is", "or", "ax", "ex", "om", "un", "yl", "ob")
NAME_SUFFIXES = ("", "", "", "Net", "Former", "GPT", "Diff", "Bench", "-R1", "Agent", "LM",
                 "++", "-VL", "Fusion", "Mamba", "Gen", "Nav", "Coder", "-o1", "Zero")
BASELINES = ("strong baselines", "prior state-of-the-art methods", "GPT-4o", "Llama 3",
             "standard fine-tuning", "existing approaches", "competitive baselines",
             "recent specialist models", "CLIP", "PPO", "DPO", "the previous best method")
DATASETS = ("ImageNet", "COCO", "GSM8K", "MATH", "HumanEval", "MMLU", "ScanNet", "nuScenes",
            "LibriSpeech", "WMT", "SQuAD", "ARC", "Kinetics-400", "ADE20K", "WebArena",
            "SWE-bench", "MiniF2F", "QM9", "ETTh1", "BEIR")
METRICS = ("accuracy", "sample efficiency", "robustness", "calibration", "throughput",
           "success rate", "F1 score", "perplexity", "latency", "exact match")
PROBLEMS = (
    "they struggle to generalize beyond the training distribution",
    "their computational cost grows quadratically with sequence length",
    "they require large amounts of labeled data",
    "they are brittle under distribution shift",
    "their predictions are poorly calibrated",
    "existing methods ignore the structure of the problem",
    "evaluation protocols remain inconsistent across studies",
    "they often hallucinate unsupported content",
    "training remains unstable at scale",
    "their behavior is difficult to interpret",
    "they fail on long-horizon tasks",
    "inference latency limits their deployment on edge devices",
    "they suffer from catastrophic forgetting",
    "they rely on hand-crafted heuristics",
    "their memory footprint is prohibitive",
    "the reward signal is sparse and delayed",
)
LEADS = ("Recent advances in", "Progress in", "Current approaches to", "Most methods for",
         "State-of-the-art systems for", "Modern pipelines for", "Prior studies of",
         "Benchmarks for")
LINKS_ = ("rely heavily on", "are dominated by", "increasingly build on", "typically employ",
          "have been transformed by", "still depend on")
BUTS = ("yet", "but", "however,", "although", "while")
CLOSING_LEADS = ("Overall,", "In short,", "Taken together,", "In summary,", "As a result,",
                 "Beyond accuracy,", "In our experiments,")
CLOSING_VERBS = ("improves", "speeds up", "stabilizes", "simplifies", "scales",
                 "outperforms prior work on")
CONDITIONS = ("distribution shift", "limited supervision", "adversarial perturbations",
              "a fixed compute budget", "partial observability", "label noise",
              "non-stationary environments", "strict latency constraints")
REQUIREMENTS = ("labeled data", "human annotations", "access to model weights", "a reward model",
                "paired examples", "task-specific tuning")
NAIVE = ("naive",) * 9 + ("naïve",)
ADVERBS = ("strongly", "weakly", "surprisingly", "consistently", "only loosely", "negatively")


@dataclass(slots=True)
class Sizes:
    """Counters that end up in expected.json (also the test's consistency checks)."""

    records: int = 0
    papers: int = 0
    files: int = 0
    bytes: int = 0
    records_by_format: dict[str, int] = field(
        default_factory=lambda: {"search_page": 0, "compact": 0}
    )
    files_by_format: dict[str, int] = field(
        default_factory=lambda: {"search_page": 0, "compact": 0}
    )
    footer_records: int = 0
    footerless_search_records: int = 0
    yearless_dates: int = 0
    upvoted_footers: int = 0
    title_variant_records: int = 0
    trailing_space_records: int = 0
    nfd_records: int = 0
    truncated_records: int = 0
    revised_title_papers: int = 0
    revised_title_records: int = 0
    crlf_files: int = 0
    files_without_capture_date: int = 0
    abstracts_with_urls: int = 0
    namesake_papers: int = 0
    multi_page_files: int = 0


_CsvWriter = type(csv.writer(io.StringIO()))


class Link(NamedTuple):
    """A paper's link as the links table must show it."""

    url: str
    host: str
    kind: str
    repo: str | None


TRUTH_RECORDS = "truth_records.csv"
TRUTH_PAPERS = "truth_papers.csv"
TRUTH_RECORD_COLUMNS = ("source_file", "dump_format", "line_start", "line_end", "paper",
                        "captured_on", "listed", "title", "date_text", "upvotes")
TRUTH_PAPER_COLUMNS = ("paper", "abstract_sha256", "author_count", "published_date", "url",
                       "host", "kind", "repo")


# --- text helpers -------------------------------------------------------------------------

_NON_ALNUM = re.compile(r"[\W_]+")


def strict_key(title: str) -> str:
    """Title key, stricter than any plausible deduplicator's: accents stripped too."""
    if not title.isascii():
        title = "".join(
            c for c in unicodedata.normalize("NFKD", title) if not unicodedata.combining(c)
        )
    return _NON_ALNUM.sub("", title.casefold())


def title_case(text: str) -> str:
    """`zero-shot segmentation of scenes` -> `Zero-Shot Segmentation of Scenes`."""
    words = text.split(" ")
    out = []
    for i, word in enumerate(words):
        if i and word in SMALL_WORDS:
            out.append(word)
        else:
            out.append("-".join(p[:1].upper() + p[1:] for p in word.split("-")))
    return " ".join(out)


def a(word: str) -> str:
    """`a scalable`, `an efficient`."""
    return f"an {word}" if word[:1] in "aeiou" else f"a {word}"


def parse_size(text: str) -> int:
    """`200KB`, `100MB`, `1GB` (decimal), `1GiB` (binary) or plain bytes."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?i?B?)\s*", text, re.IGNORECASE)
    if not match:
        raise ValueError(f"not a size: {text!r}")
    unit = match[2].upper().rstrip("B") or ""
    base = 1024 if unit.endswith("I") else 1000
    power = "KMGT".find(unit[:1]) + 1 if unit else 0
    return int(float(match[1]) * base**power)


# --- the pool of papers -------------------------------------------------------------------


class Pool:
    """Distinct synthetic papers, created lazily as the record stream needs them."""

    def __init__(self, rng: random.Random, bank_rng: random.Random) -> None:
        self.rng = rng
        self.bank = self._sentence_bank(bank_rng)
        self.titles: list[str] = []
        self.abstracts: list[str] = []
        self.authors: list[int] = []
        self.upvotes: list[int] = []
        self.published: list[int] = []  # date ordinal
        self.revised: list[str | None] = []  # "" = revision attempted and refused
        self.links: list[Link | None] = []
        self._link: Link | None = None  # the link of the abstract made last
        self._title_keys: set[str] = set()
        self._openings: set[str] = set()
        self._closings: set[str] = set()
        self._names: set[str] = set()

    def __len__(self) -> int:
        return len(self.titles)

    # prose ---------------------------------------------------------------------------
    @staticmethod
    def _sentence_bank(rng: random.Random) -> list[str]:
        """Precomputed body sentences: abstracts are assembled from them, cheaply."""
        c = rng.choice

        def k() -> str:
            if rng.random() < ACCENTED_PROSE_RATE:
                return rng.choice(ACCENTED_CONCEPTS)
            return rng.choice(CONCEPTS)

        templates = (
            lambda: f"We evaluate our {c(NOUNS)} on {rng.randint(3, 24)} benchmarks spanning "
            f"{c(TASKS)} and {c(TASKS)}, where it outperforms {c(BASELINES)} by "
            f"{rng.randint(2, 40)}.{rng.randint(0, 9)}%.",
            lambda: f"Our analysis reveals that {k()} is {c(ADVERBS)} correlated with "
            f"{c(METRICS)} on {c(DATASETS)}.",
            lambda: f"Extensive experiments on {c(DATASETS)} and {c(DATASETS)} demonstrate that "
            f"the proposed {c(NOUNS)} achieves state-of-the-art {c(METRICS)} while using "
            f"{rng.randint(2, 12)}x fewer parameters.",
            lambda: f"To address this issue, we design {a(c(ADJECTIVES))} {c(NOUNS)} that "
            f"combines {k()} with {k()}.",
            lambda: f"Unlike prior work, our approach does not require {c(REQUIREMENTS)}.",
            lambda: f"We further show that {k()} can be combined with {k()} to "
            f"improve {c(METRICS)} under {c(CONDITIONS)}.",
            lambda: f"Theoretically, we prove that the {c(PROPERTIES)} of {k()} is "
            f"preserved under {c(CONDITIONS)}.",
            lambda: f"Ablation studies confirm that each component of the {c(NOUNS)} "
            f"contributes to the final {c(METRICS)}.",
            lambda: f"Compared with {c(BASELINES)}, our {c(NOUNS)} reduces inference cost by "
            f"{rng.randint(10, 90)}% on {c(TASKS)}.",
            lambda: f"Notably, a {c(NAIVE)} application of {k()} to {c(TASKS)} leads to "
            f"degraded {c(METRICS)}.",
            lambda: f"This is achieved by aligning {k()} with {a(c(ADJECTIVES))} "
            f"{c(NOUNS)} based on {k()}.",
            lambda: f"In addition, we introduce a new benchmark of {rng.randint(1, 90)}k "
            f"examples for {c(TASKS)} collected from {c(SOURCES).lower()}.",
            lambda: f"Our results suggest that {c(PROPERTIES)} rather than model size is the "
            f"main bottleneck for {c(TASKS)}.",
            lambda: f"We also find that {c(ADJECTIVES)} {c(NOUNS)}s trained with "
            f"{k()} transfer well to {c(TASKS)} in {c(DOMAINS).lower()}.",
            lambda: f"Human evaluation with {rng.randint(5, 300)} annotators shows a clear "
            f"preference for our outputs over those of {c(BASELINES)}.",
            lambda: f"Finally, we discuss limitations regarding {c(CONDITIONS)} and outline "
            f"directions for {c(ADJECTIVES)} {c(TASKS)}.",
        )
        return [rng.choice(templates)() for _ in range(SENTENCE_BANK_SIZE)]

    def _unique_name(self) -> str:
        rng = self.rng
        while True:
            stem = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))
            style = rng.random()
            if style < 0.35:
                stem = stem.upper()[: rng.randint(3, 7)]
            elif style < 0.6:
                cut = rng.randint(2, len(stem) - 1)
                stem = stem[:cut].capitalize() + stem[cut:].capitalize()
            else:
                stem = stem.capitalize()
            name = stem + rng.choice(NAME_SUFFIXES)
            key = name.casefold()
            if key not in self._names and len(name) >= 3:
                self._names.add(key)
                return name

    def _descriptive_title(self) -> str:
        rng, c = self.rng, self.rng.choice

        def k() -> str:
            if rng.random() < ACCENTED_TITLE_RATE:
                return rng.choice(ACCENTED_CONCEPTS)
            return rng.choice(CONCEPTS)

        form = rng.randrange(12)
        if form == 0:
            text = f"{c(ADJECTIVES)} {c(NOUNS)}s for {c(TASKS)}"
        elif form == 1:
            text = f"{c(GERUNDS)} {c(TASKS)} with {c(ADJECTIVES)} {k()}"
        elif form == 2:
            text = f"towards {c(ADJECTIVES)} {c(TASKS)} via {k()}"
        elif form == 3:
            text = f"{k()} for {c(ADJECTIVES)} {c(TASKS)} in {c(DOMAINS)}"
        elif form == 4:
            text = f"on the {c(PROPERTIES)} of {k()} in {c(TASKS)}"
        elif form == 5:
            text = f"{k()} meets {k()}: {c(GERUNDS)} {c(ADJECTIVES)} {c(TASKS)}"
        elif form == 6:
            text = f"learning to {c(VERBS)} {c(OBJECTS)} from {c(SOURCES)} with {k()}"
        elif form == 7:
            text = f"{k()} is all you need for {c(ADJECTIVES)} {c(TASKS)}"
        elif form == 8:
            text = f"{c(GERUNDS)} {k()} for {c(TASKS)} under {c(CONDITIONS)}"
        elif form == 9:
            text = f"{c(ADJECTIVES)} and {c(ADJECTIVES)} {c(TASKS)} with {k()}"
        elif form == 10:
            text = f"{a(c(ADJECTIVES))} {c(NOUNS)} for {c(TASKS)} from {c(SOURCES)}"
        else:
            text = f"when does {k()} help {c(TASKS)}?"
        return title_case(text)

    def _title(self, name: str | None) -> str:
        while True:
            text = self._descriptive_title()
            if name is not None:
                text = f"{name}: {text}"
            elif self.rng.random() < 0.15:
                text = f"{text}: {self._descriptive_title().rstrip('?')}"
            if not TITLE_MIN <= len(text) <= TITLE_MAX:
                continue
            if text.endswith("?") and len(text) >= 100:
                continue  # would look like an abstract line to a parser
            key = strict_key(text)
            if key not in self._title_keys:
                self._title_keys.add(key)
                return text

    def _opening(self, name: str | None) -> str:
        """A first sentence no other paper has, so no abstract prefixes another's."""
        rng, c = self.rng, self.rng.choice
        while True:
            if name is not None and rng.random() < 0.5:
                text = (f"We present {name}, {a(c(ADJECTIVES))} {c(NOUNS)} for {c(TASKS)} "
                        f"that {c(('leverages', 'builds on', 'revisits', 'scales'))} "
                        f"{c(CONCEPTS)}.")
            else:
                text = (f"{c(LEADS)} {c(TASKS)} {c(LINKS_)} {c(ADJECTIVES)} {c(NOUNS)}s, "
                        f"{c(BUTS)} {c(PROBLEMS)}.")
            if len(text) < TRUNCATED_MIN_CHARS and text not in self._openings:
                self._openings.add(text)
                return text

    def _closing(self) -> str:
        """A last sentence no other paper has: real abstracts end in their own words, so
        no two papers share the closing characters that dedupe blocks abstracts on."""
        rng, c = self.rng, self.rng.choice
        while True:
            text = (f"{c(CLOSING_LEADS)} the {c(NOUNS)} {c(CLOSING_VERBS)} {c(TASKS)} on "
                    f"{c(DATASETS)} by {rng.randint(2, 40)}.{rng.randint(0, 9)} points.")
            if text not in self._closings:
                self._closings.add(text)
                return text

    def _url_sentence(self, name: str | None) -> tuple[str, Link]:
        """A sentence pointing to the paper's code, model, preprint, video or page, and
        that link as the links table must show it (trailing `.` or `)` not part of it)."""
        rng, c = self.rng, self.rng.choice
        owner = "".join(c(SYLLABLES) for _ in range(rng.randint(2, 4))) + c(("", "-lab", "ai",
                                                                              "-nlp", "42"))
        repo = (name or "".join(c(SYLLABLES) for _ in range(3)).capitalize()).replace("+", "p")
        kind = rng.randrange(7)
        if kind <= 2:
            url = f"https://github.com/{owner}/{repo}"
            return (f"Code is available at {url}.",
                    Link(url, "github.com", "code", f"{owner}/{repo}"))
        if kind == 3:
            url = f"https://huggingface.co/{owner}/{repo.lower()}"
            return (f"Our models and data are released at {url}.",
                    Link(url, "huggingface.co", "huggingface", None))
        if kind == 4:
            url = (f"https://arxiv.org/abs/"
                   f"{rng.randint(18, 25)}{rng.randint(1, 12):02d}.{rng.randint(0, 29999):05d}")
            return (f"An extended version is available at {url}.",
                    Link(url, "arxiv.org", "arxiv", None))
        if kind == 5:
            vid = "".join(c("abcdefghijkLMNOPQRSTUVWXYZ0123456789_-") for _ in range(11))
            url = f"https://youtu.be/{vid}"
            return f"A video demo is available at {url}", Link(url, "youtu.be", "video", None)
        url = f"https://{owner}.github.io/{repo.lower()}/"
        return (f"The project page ({url}) includes code and demos.",
                Link(url, f"{owner}.github.io", "project", None))

    def _abstract(self, name: str | None) -> str:
        rng = self.rng
        target = min(ABSTRACT_MAX, max(ABSTRACT_MIN, int(rng.gauss(1300, 330))))
        parts = [self._opening(name)]
        length = len(parts[0])
        if name is not None and not parts[0].startswith("We present"):
            intro = (f"In this work, we introduce {name}, {a(rng.choice(ADJECTIVES))} "
                     f"{rng.choice(NOUNS)} for {rng.choice(TASKS)}.")
            parts.append(intro)
            length += len(intro) + 1
        tail, self._link = (
            self._url_sentence(name) if rng.random() < URL_ABSTRACT_RATE else (None, None)
        )
        ending = [self._closing(), *([tail] if tail else [])]
        ending_length = sum(len(e) + 1 for e in ending)
        budget = target - ending_length
        bank = self.bank
        while True:
            sentence = bank[int(rng.random() * SENTENCE_BANK_SIZE)]
            grown = length + 1 + len(sentence)
            if grown > budget and length >= ABSTRACT_MIN:
                break
            if grown + ending_length > ABSTRACT_MAX:
                continue
            parts.append(sentence)
            length = grown
        parts += ending
        return " ".join(parts)

    def new_paper(self, published: int, namesake_of: int | None = None) -> int:
        """A new paper; with `namesake_of`, one titled exactly as that (different) paper is,
        which dedupe must keep apart by their abstracts."""
        rng = self.rng
        if namesake_of is None:
            name = self._unique_name() if rng.random() < NAMED_PAPER_RATE else None
            title = self._title(name)
        else:
            name, title = None, self.titles[namesake_of]
        self.titles.append(title)
        self.abstracts.append(self._abstract(name))
        self.links.append(self._link)
        r = rng.random()
        authors = (rng.randint(100, 3000) if r < 0.002
                   else min(60, max(1, int(rng.lognormvariate(1.6, 0.6)))))
        self.authors.append(authors)
        upvotes = (min(999, int(rng.lognormvariate(2.0, 1.3)) + 1)
                   if rng.random() < UPVOTED_PAPER_RATE else 0)
        self.upvotes.append(upvotes)
        self.published.append(published)
        self.revised.append(None)
        return len(self.titles) - 1

    def revise(self, index: int) -> str | None:
        """A revised title (one word inserted or changed) the deduplicator must merge."""
        from rapidfuzz import fuzz

        rng = self.rng
        title = self.titles[index]
        words = title.split(" ")
        spots = [i for i, w in enumerate(words)
                 if w.isalpha() and w.isascii() and len(w) >= 4 and not w.endswith(":")
                 and w.lower() not in SMALL_WORDS]
        old_key = strict_key(title)
        old_folded = " ".join(title.split()).casefold()
        for _ in range(4):
            if not spots:
                break
            spot = rng.choice(spots)
            word = rng.choice(REVISION_WORDS)
            if word.lower() == words[spot].lower():
                continue
            new_words = list(words)
            if rng.random() < 0.6:
                new_words.insert(spot, word)
            else:
                new_words[spot] = word
            candidate = " ".join(new_words)
            key = strict_key(candidate)
            if (len(candidate) > TITLE_MAX or key in self._title_keys
                    or fuzz.token_set_ratio(old_folded, candidate.casefold()) < 90
                    or fuzz.ratio(old_key, key) < 85):
                continue
            self._title_keys.add(key)
            self.revised[index] = candidate
            return candidate
        self.revised[index] = ""
        return None


# --- copy artefacts -----------------------------------------------------------------------


def vary_title(rng: random.Random, title: str) -> str:
    """A cosmetic variant that folds to the same key (case, punctuation, hyphens, spaces)."""
    choice = rng.randrange(6)
    if choice == 0:
        return title.lower()
    if choice == 1:
        return " ".join(w[:1].upper() + w[1:].lower() for w in title.split(" "))
    if choice == 2 and "-" in title:
        return title.replace("-", " ")
    if choice == 3 and "-" in title:
        return title.replace("-", "")
    if choice == 4 and ": " in title:
        return title.replace(": ", rng.choice((" - ", " ", " — ")), 1)
    spaces = [i for i, ch in enumerate(title) if ch == " "]
    if not spaces:
        return title.lower()
    at = rng.choice(spaces)
    return title[:at] + " " + title[at:]


def truncate(rng: random.Random, abstract: str) -> str | None:
    """A word-boundary prefix of at least TRUNCATED_MIN_CHARS, as an interrupted copy shows."""
    if len(abstract) < TRUNCATED_MIN_CHARS + 80:
        return None
    cut = abstract.find(" ", rng.randint(TRUNCATED_MIN_CHARS, len(abstract) - 60))
    if cut < TRUNCATED_MIN_CHARS:
        return None
    prefix = abstract[:cut]
    r = rng.random()
    if r < 0.25:
        return prefix + "..."
    if r < 0.4:
        return prefix + " …"
    return prefix


def date_text(published: int, capture_year: int) -> str:
    """As the page shows it: no year for papers of the year the page was viewed in."""
    d = dt.date.fromordinal(published)
    if d.year == capture_year:
        return f"{MONTHS[d.month - 1]} {d.day}"
    return f"{MONTHS[d.month - 1]} {d.day}, {d.year}"


# --- the writer ---------------------------------------------------------------------------


class Generator:
    """Streams records into files until the target size; all choices from one RNG."""

    def __init__(self, size: int, seed: int) -> None:
        self.size = size
        self.seed = seed
        self.rng = random.Random(seed)
        self.pool = Pool(self.rng, random.Random(seed * 7919 + 17))
        self.stats = Sizes()
        self.file_cap = max(size // 8, 20_000)
        est_files = max(1.0, size / min(self.file_cap, FILE_MEDIAN_BYTES * 1.25))
        self.capture_step = (CAPTURE_END - CAPTURE_START) / est_files
        self.capture = float(CAPTURE_START)
        self.manifest: list[tuple[str, str, str]] = []
        self.truth_records: list[tuple[object, ...]] = []  # of the files not yet saved

    def _pick(self, in_file: set[int]) -> tuple[int, bool]:
        """(paper, is_new): a new paper ~70% of the time, else a repeat not in this file."""
        rng, pool = self.rng, self.pool
        n = len(pool)
        if n and rng.random() >= NEW_PAPER_RATE:
            for _ in range(4):
                if rng.random() < 0.5:
                    index = int(rng.random() * n)
                else:
                    index = n - 1 - int(rng.random() * min(n, RECENT_WINDOW))
                if index not in in_file:
                    return index, False
        return -1, True

    def _file_target(self, remaining: int) -> int:
        drawn = math.exp(self.rng.gauss(math.log(FILE_MEDIAN_BYTES), 0.7))
        drawn = min(FILE_MAX_BYTES, max(FILE_MIN_BYTES, drawn), self.file_cap)
        return max(2_000, min(int(drawn), remaining))

    def write_file(self, out: Path, number: int, target: int, *, forced: str | None = None,
                   force_plain: bool = False) -> None:
        rng, pool, stats = self.rng, self.pool, self.stats
        # File-level properties (the first files force every feature into tiny piles).
        if forced is not None:
            fmt = forced
        elif number == 1:
            fmt = "compact"
        elif number in (0, 2, 3):
            fmt = "search_page"
        else:
            fmt = "search_page" if rng.random() < SEARCH_PAGE_SHARE else "compact"
        crlf = not force_plain and (number == 3 or rng.random() < CRLF_FILE_RATE)
        # Where a second pasted page begins (a share of the target), if the dump has one.
        second_page = (rng.uniform(0.3, 0.7) if not force_plain and (
            number == 4 or rng.random() < MULTI_PAGE_FILE_RATE) else None)
        dated = force_plain or (number != 2 and rng.random() >= NO_CAPTURE_DATE_RATE)
        trailing_newline = number != 0 and rng.random() < TRAILING_NEWLINE_RATE
        self.capture = min(float(CAPTURE_END), self.capture + rng.random() * 2 * self.capture_step)
        capture_ord = int(self.capture)
        captured = dt.date.fromordinal(capture_ord)
        capture_year = captured.year
        search = fmt == "search_page"
        name = f"bench_{number:06d}.txt"

        parts: list[str] = []
        if search:
            parts.append(f"{SEARCH_HEADER}{MONTHS[captured.month - 1]} {captured.day}")
        else:
            parts.append(COMPACT_HEADER)
        chars = len(parts[0])
        newlines = parts[0].count("\n")
        in_file: set[int] = set()
        records = 0
        open_end = False  # the last line is an abstract with no sentence end
        titles, abstracts = pool.titles, pool.abstracts
        glued = not search  # the compact header's `Subscribe` takes the next title
        while chars < target:
            if second_page is not None and chars >= second_page * target and records:
                header = ("\n\n" if search else "\n") + parts[0]  # the same page again
                parts.append(header)
                chars += len(header)
                newlines += header.count("\n")
                glued, second_page = not search, None
                stats.multi_page_files += 1
            index, is_new = self._pick(in_file)
            if is_new:
                offset = int(rng.expovariate(1 / 420))
                published = max(capture_ord - min(offset, 3650), CAPTURE_START - 3650)
                first_namesake = number == 2 and not stats.namesake_papers
                if (rng.random() < NAMESAKE_RATE or first_namesake) and len(pool):
                    index = pool.new_paper(published, namesake_of=int(rng.random() * len(pool)))
                    stats.namesake_papers += 1
                else:
                    index = pool.new_paper(published)
                stats.papers += 1
            in_file.add(index)
            title, abstract = titles[index], abstracts[index]
            revised = False
            last_chance = chars + len(title) + len(abstract) + 120 >= target
            if not is_new:
                current = pool.revised[index]
                if current is None and rng.random() < REVISE_RATE:
                    current = pool.revise(index)
                    if current:
                        stats.revised_title_papers += 1
                        revised = True
                elif current and rng.random() < 0.5:
                    revised = True
                if revised:
                    assert current
                    title = current
                    stats.revised_title_records += 1
                elif not last_chance and rng.random() < TRUNCATE_RATE:
                    cut = truncate(rng, abstract)
                    if cut is not None:
                        abstract = cut
                        stats.truncated_records += 1
            if not revised and rng.random() < TITLE_VARIANT_RATE:
                varied = vary_title(rng, title)
                if varied != title:
                    title = varied
                    stats.title_variant_records += 1
            true_title = " ".join(title.split())
            shown_date = shown_upvotes = ""
            if rng.random() < TRAILING_SPACE_RATE:
                title += " "
                abstract += rng.choice((" ", "  ", "\t"))
                stats.trailing_space_records += 1
            if not (title.isascii() and abstract.isascii()) and rng.random() < NFD_RATE:
                title = unicodedata.normalize("NFD", title)
                abstract = unicodedata.normalize("NFD", abstract)
                stats.nfd_records += 1
            if "https://" in abstract:
                stats.abstracts_with_urls += 1
            if search:
                if rng.random() < FOOTERLESS_RATE:
                    piece = f"\n\n{title}\n\n{abstract}"
                    stats.footerless_search_records += 1
                    open_end = not abstract.rstrip().endswith(SENTENCE_END)
                else:
                    authors = pool.authors[index]
                    noun = "author" if authors == 1 else "authors"
                    when = shown_date = date_text(pool.published[index], capture_year)
                    if "," not in when:
                        stats.yearless_dates += 1
                    upvotes = pool.upvotes[index]
                    if upvotes and rng.random() < 0.7:
                        shown_upvotes = str(rng.randint(1, upvotes))
                        when = f"{when} {shown_upvotes}"
                        stats.upvoted_footers += 1
                    piece = f"\n\n{title}\n\n{abstract}\n\n  • {authors} {noun}\n·\n{when}"
                    stats.footer_records += 1
                    open_end = False
            else:
                piece = f"{title}\n{abstract}" if glued else f"\n{title}\n{abstract}"
                glued = False
                open_end = not abstract.rstrip().endswith(SENTENCE_END)
            parts.append(piece)
            chars += len(piece)
            records += 1
            first_line = newlines + 1 + len(piece) - len(piece.lstrip("\n"))
            newlines += piece.count("\n")
            self.truth_records.append((
                name, fmt, first_line, newlines + 1, index, captured.isoformat(),
                str(dated).lower(), true_title, shown_date, shown_upvotes,
            ))
        if trailing_newline or open_end:
            parts.append("\n")
        data = "".join(parts).encode("utf-8")
        if crlf:
            data = data.replace(b"\n", b"\r\n")
            stats.crlf_files += 1
        (out / name).write_bytes(data)
        stats.records += records
        stats.records_by_format[fmt] += records
        stats.files_by_format[fmt] += 1
        stats.files += 1
        stats.bytes += len(data)
        if dated:
            query = rng.choice(TASKS).replace(" ", "+")
            self.manifest.append((name, captured.isoformat(),
                                  f"https://huggingface.co/papers?q={query}"))
        else:
            self.manifest.append((name, "", ""))
            stats.files_without_capture_date += 1

    def run(self, out: Path) -> dict[str, object]:
        out.mkdir(parents=True, exist_ok=True)
        number = 0
        with open(out / TRUTH_RECORDS, "w", encoding="utf-8", newline="") as truth:
            records = csv_writer(truth, TRUTH_RECORD_COLUMNS)
            while self.stats.bytes < self.size:
                self.write_file(out, number, self._file_target(self.size - self.stats.bytes))
                records.writerows(self.truth_records)
                self.truth_records.clear()
                number += 1
        self.write_truth_papers(out / TRUTH_PAPERS, 0)
        write_manifest(out / "manifest.csv", self.manifest)
        expected = self.expected()
        (out / "expected.json").write_text(json.dumps(expected, indent=2, sort_keys=True) + "\n")
        return expected

    def expected(self) -> dict[str, object]:
        s = self.stats
        return {
            "generator_version": GENERATOR_VERSION,
            "args": {"size": self.size, "seed": self.seed},
            "distinct_papers": s.papers,
            "raw_records": s.records,
            "files": s.files,
            "bytes": s.bytes,
            # What a title-key-only deduplicator (bench/naive.py) finds: revised titles
            # count twice there, namesakes once.
            "distinct_title_keys": s.papers + s.revised_title_papers - s.namesake_papers,
            "details": {
                "records_by_format": dict(s.records_by_format),
                "files_by_format": dict(s.files_by_format),
                "footer_records": s.footer_records,
                "footerless_search_records": s.footerless_search_records,
                "yearless_dates": s.yearless_dates,
                "upvoted_footers": s.upvoted_footers,
                "title_variant_records": s.title_variant_records,
                "trailing_space_records": s.trailing_space_records,
                "nfd_records": s.nfd_records,
                "truncated_records": s.truncated_records,
                "revised_title_papers": s.revised_title_papers,
                "revised_title_records": s.revised_title_records,
                "crlf_files": s.crlf_files,
                "files_without_capture_date": s.files_without_capture_date,
                "abstracts_with_urls": s.abstracts_with_urls,
                "namesake_papers": s.namesake_papers,
                "multi_page_files": s.multi_page_files,
            },
        }

    def write_extra(self, extra: Path) -> dict[str, object]:
        """One more dump, continuing the same stream: the incremental-rebuild input."""
        extra.mkdir(parents=True, exist_ok=True)
        before = self.stats.papers, self.stats.records, len(self.manifest)
        target = min(600_000, self.file_cap)
        self.write_file(extra, self.stats.files, target, forced="search_page", force_plain=True)
        write_manifest(extra / "manifest.csv", self.manifest[before[2]:])
        with open(extra / TRUTH_RECORDS, "w", encoding="utf-8", newline="") as truth:
            csv_writer(truth, TRUTH_RECORD_COLUMNS).writerows(self.truth_records)
        self.truth_records.clear()
        self.write_truth_papers(extra / TRUTH_PAPERS, before[0])
        result = {
            "file": self.manifest[-1][0],
            "new_papers": self.stats.papers - before[0],
            "records": self.stats.records - before[1],
            "distinct_papers_after": self.stats.papers,
            "raw_records_after": self.stats.records,
            "files_after": self.stats.files,
        }
        (extra / "expected.json").write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
        return result

    def write_truth_papers(self, path: Path, first: int) -> None:
        """The facts of papers `first`.. (abstract, footer, link) for bench/check_truth.py.

        The abstract as the SHA-256 of its UTF-8 (NFC) text: the whole text would double
        the pile's size on disk."""
        pool = self.pool
        with open(path, "w", encoding="utf-8", newline="") as handle:
            writer = csv_writer(handle, TRUTH_PAPER_COLUMNS)
            for index in range(first, len(pool)):
                link = pool.links[index] or Link("", "", "", None)
                abstract = unicodedata.normalize("NFC", pool.abstracts[index]).encode("utf-8")
                writer.writerow((index, hashlib.sha256(abstract).hexdigest(), pool.authors[index],
                                 dt.date.fromordinal(pool.published[index]).isoformat(),
                                 link.url, link.host, link.kind, link.repo or ""))


def csv_writer(handle: TextIO, columns: tuple[str, ...]) -> _CsvWriter:
    """The pile's CSV files (the manifest, the answer key), header written. In the answer
    key, an empty value is none."""
    writer = csv.writer(handle, lineterminator="\n")
    writer.writerow(columns)
    return writer


def write_manifest(path: Path, rows: list[tuple[str, str, str]]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        csv_writer(handle, ("file", "captured_on", "source_url")).writerows(rows)


def generate(out: Path, size: int, seed: int = 0, extra: Path | None = None) -> dict[str, object]:
    """Write the pile (and optionally the extra dump); returns expected.json's content."""
    generator = Generator(size, seed)
    expected = generator.run(out)
    if extra is not None:
        expected = {**expected, "extra": generator.write_extra(extra)}
    return expected


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for the pile")
    parser.add_argument("--size", default="100MB", help="target size, e.g. 200KB, 100MB, 1GB")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--extra-dir", type=Path, default=None,
                        help="also write one extra dump there (for an incremental rebuild)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    expected = generate(args.out, parse_size(args.size), args.seed, args.extra_dir)
    seconds = time.perf_counter() - started
    megabytes = cast(int, expected["bytes"]) / 1e6
    print(json.dumps({
        "files": expected["files"], "raw_records": expected["raw_records"],
        "distinct_papers": expected["distinct_papers"], "megabytes": round(megabytes, 1),
        "seconds": round(seconds, 2), "mb_per_s": round(megabytes / seconds, 1),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
