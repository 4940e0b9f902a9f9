"""Rows of one extract as numpy columns, before they become text in a file.

Columns are kept in the form that is cheap to make in bulk and to corrupt on purpose: text as
indices into a vocabulary (a chunk's CPR numbers, referral ids, codes), dates and months as
whole numbers, decimals as floats. Only the writer turns them into the text of a dialect, so
a planted bad value (an impossible date, an unknown code) is just another index."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise

import numpy as np
import pyarrow as pa

from pipeline.contract import Extract, load_contract


class Vocab:
    """An immutable list of texts, with its Arrow form made once and shared by every batch
    that points into it (a chunk's 25,000 CPR numbers are taken from 60 times)."""

    def __init__(self, texts: Sequence[str] | np.ndarray):
        self.texts = np.asarray(texts, dtype=object)
        self._arrow: pa.Array | None = None
        self._needs_quotes: dict[str, bool] = {}

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def arrow(self) -> pa.Array:
        if self._arrow is None:
            self._arrow = pa.array(self.texts, type=pa.string())
        return self._arrow

    def needs_quotes(self, sep: str) -> bool:
        """Whether any text holds the separator or a quote (then a CSV must quote)."""
        if sep not in self._needs_quotes:
            self._needs_quotes[sep] = any(sep in t or '"' in t or "\n" in t for t in self.texts if t)
        return self._needs_quotes[sep]

    def extended(self, extra: Sequence[str]) -> Vocab:
        """This vocabulary plus a few texts (planted bad values), reusing what is known of it."""
        more = Vocab(extra)
        out = Vocab(np.concatenate([self.texts, more.texts]))
        if self._arrow is not None:
            out._arrow = pa.concat_arrays([self._arrow, more.arrow])
        out._needs_quotes = {
            sep: known or more.needs_quotes(sep) for sep, known in self._needs_quotes.items()
        }
        return out


@dataclass
class Labels:
    """A text column: idx[i] is the position of row i's text in vocab, -1 = empty."""

    idx: np.ndarray
    vocab: Vocab

    def take(self, rows: np.ndarray) -> Labels:
        return Labels(self.idx[rows], self.vocab)

    def texts(self) -> np.ndarray:
        out = np.full(len(self.idx), None, dtype=object)
        known = self.idx >= 0
        out[known] = self.vocab.texts[self.idx[known]]
        return out


Column = Labels | np.ndarray


@dataclass
class Rows:
    """A batch of one extract's rows with the delivery each row belongs to (-1 = after the
    period, never written)."""

    extract: str
    delivery: np.ndarray
    columns: dict[str, Column] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.delivery)

    @property
    def spec(self) -> Extract:
        return load_contract().extracts[self.extract]

    def take(self, rows: np.ndarray) -> Rows:
        return Rows(
            self.extract,
            self.delivery[rows],
            {
                name: col.take(rows) if isinstance(col, Labels) else col[rows]
                for name, col in self.columns.items()
            },
        )

    def by_delivery(self) -> list[tuple[int, Rows]]:
        """The known rows split per delivery, in delivery order; row order kept within each."""
        known = np.flatnonzero(self.delivery >= 0)
        order = known[np.argsort(self.delivery[known], kind="stable")]
        deliveries = self.delivery[order]
        starts = np.flatnonzero(np.r_[True, deliveries[1:] != deliveries[:-1]]) if len(order) else []
        bounds = [*list(starts), len(order)]
        return [(int(deliveries[a]), self.take(order[a:b])) for a, b in pairwise(bounds)]


def labels(idx: np.ndarray, vocab: Vocab) -> Labels:
    return Labels(np.asarray(idx, dtype=np.int64), vocab)


def code_labels(codes: np.ndarray, vocab: Vocab) -> Labels:
    """Codes given as text, as Labels into a code vocabulary."""
    lookup = {text: i for i, text in enumerate(vocab.texts)}
    return labels(np.array([lookup.get(c, -1) if c is not None else -1 for c in codes]), vocab)
