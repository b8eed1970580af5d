"""Ranking behind a protocol: `Ranker` indexes a configuration's texts once and scores each turn's query.

`BM25Ranker` is lexical (rank_bm25's BM25Plus); an embedding ranker can implement the same two methods.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Protocol

from rank_bm25 import BM25Plus

__all__ = ["DEFAULT_RANKER", "BM25Ranker", "RankIndex", "RankedText", "Ranker", "tokenize"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RankedText:
    """One document to index: a rule's or a scenario's id and the text that describes it."""

    id: str
    text: str


class RankIndex(Protocol):
    """A configuration's documents, indexed once; scored against each turn's query."""

    def scores(self, query: str, ids: Sequence[str]) -> list[float]:
        """How well each of `ids` matches `query` (higher is better; 0 for nothing in common), in order."""
        ...


class Ranker(Protocol):
    """Builds a `RankIndex` over documents (once per configuration version, see `index_for`)."""

    @property
    def name(self) -> str:
        """The ranker and its settings: part of the index cache key."""
        ...

    def index(self, documents: Sequence[RankedText]) -> RankIndex: ...


_WORD = re.compile(r"[^\W_]+")
_STOPWORD_LIST = (
    "a an and are as at be but by can could do does for from had has have i if in into is it its me my no not of "
    "on or our so than that the their them then there these they this to was we were what when where which who "
    "will with would you your"
)
STOPWORDS: Final = frozenset(_STOPWORD_LIST.split())


def tokenize(text: str) -> list[str]:
    """Lowercase words (letters and digits; `_` splits), stopwords out, a plural `s` folded."""
    return [
        word[:-1] if len(word) > 3 and word[-1] == "s" and word[-2] != "s" else word
        for word in _WORD.findall(text.lower())
        if word not in STOPWORDS
    ]


@dataclass(frozen=True, slots=True, kw_only=True)
class BM25Ranker:
    """Lexical ranking with rank_bm25: Okapi BM25 term weighting (`k1`, `b`) with the always-positive idf
    `log((N + 1) / n)` of its `BM25Plus` (taken with `delta=0`). BM25Okapi's own idf is zero or negative
    for a term in half the documents or more, which inverts rankings over the few scenarios a config
    has (rank_bm25 issues #39, #43).

    The index keeps each term's weight per document, computed once from the library's statistics, so a
    query costs the postings of its terms rather than a pass over every document; the scores are
    `BM25Plus(corpus, k1=k1, b=b, delta=0).get_scores(tokenize(query))`.
    """

    k1: float = 1.5
    b: float = 0.75

    @property
    def name(self) -> str:
        return f"bm25(k1={self.k1},b={self.b})"

    def index(self, documents: Sequence[RankedText]) -> _BM25Index:
        corpus = [tokenize(d.text) for d in documents]
        postings: dict[str, dict[str, float]] = {}
        if any(corpus):
            bm25 = BM25Plus(corpus, k1=self.k1, b=self.b, delta=0)
            for document, frequencies, length in zip(documents, bm25.doc_freqs, bm25.doc_len, strict=True):
                norm = self.k1 * (1 - self.b + self.b * length / bm25.avgdl)
                for term, frequency in frequencies.items():
                    weight = bm25.idf[term] * frequency * (self.k1 + 1) / (norm + frequency)
                    postings.setdefault(term, {})[document.id] = weight
        return _BM25Index(postings)


class _BM25Index:
    __slots__ = ("_postings",)

    def __init__(self, postings: dict[str, dict[str, float]]) -> None:
        self._postings = postings

    def scores(self, query: str, ids: Sequence[str]) -> list[float]:
        totals: dict[str, float] = {}
        total = totals.get
        for term, count in Counter(tokenize(query)).items():  # a repeated term counts again, as in get_scores
            posting = self._postings.get(term)
            if posting:
                for doc_id, weight in posting.items():
                    totals[doc_id] = total(doc_id, 0.0) + weight * count
        return [total(i, 0.0) for i in ids]


DEFAULT_RANKER: Final = BM25Ranker()
