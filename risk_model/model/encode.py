"""The fitted row-local step: feature columns -> the numeric matrix the models read.

Categoricals become integer codes LightGBM treats natively. Categories seen fewer than
`min_count` times in training, and categories never seen (an agency's new call type), share one
OTHER code that the model did see in training; missing stays missing (NaN). The same object
encodes a 5M-row frame and a single live call (as one-element columns), with no pandas frame.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from risk_model.features.registry import CATEGORICAL, FEATURE_NAMES

OTHER = "OTHER"


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and value != value)


class FeatureEncoder:
    """sklearn-style: `__init__` stores parameters, `fit` learns vocabularies (`vocab_`)."""

    def __init__(self, min_count: int = 20, feature_names: Sequence[str] = FEATURE_NAMES) -> None:
        self.min_count = min_count
        self.feature_names = tuple(feature_names)

    @property
    def categorical(self) -> tuple[str, ...]:
        return tuple(n for n in self.feature_names if n in CATEGORICAL)

    def fit(self, frame: Mapping[str, Any]) -> FeatureEncoder:
        return self.fit_counts(
            {
                name: pd.Series(np.asarray(frame[name], dtype=object)).value_counts(dropna=True)
                for name in self.categorical
            }
        )

    def fit_counts(self, value_counts: Mapping[str, pd.Series]) -> FeatureEncoder:
        """Fit from each categorical feature's value counts (value -> calls): what a cluster
        sums across partitions, so the vocabulary is the one `fit` learns on the whole frame."""
        self.vocab_: dict[str, list[str]] = {}
        for name in self.categorical:
            counts = value_counts[name]
            keep = counts[counts >= self.min_count]
            # Frequency order, ties by name: stable codes for the same data.
            ordered = sorted(keep.items(), key=lambda kv: (-kv[1], str(kv[0])))
            self.vocab_[name] = [str(k) for k, _ in ordered if str(k) != OTHER]
        self._index()
        return self

    def _index(self) -> None:
        self._codes = {n: {v: i for i, v in enumerate(vs)} for n, vs in self.vocab_.items()}

    def codes(self, name: str, values: Any) -> np.ndarray:
        """Integer codes as float (NaN for missing; OTHER for rare or unseen)."""
        arr = np.asarray(values, dtype=object)
        table = self._codes[name]
        other = float(len(table))
        if len(arr) <= 64:  # a live call: dictionary lookups beat a hash-table build
            return np.array(
                [np.nan if _missing(v) else float(table.get(v, other)) for v in arr.tolist()]
            )
        uniques_codes, uniques = pd.factorize(arr, use_na_sentinel=True)
        mapped = np.array([float(table.get(u, other)) for u in uniques] + [np.nan])
        return mapped[np.where(uniques_codes < 0, len(uniques), uniques_codes)]

    def is_known(self, name: str, values: Any) -> np.ndarray:
        """True where a categorical value was common enough in training to have its own code."""
        table = self._codes[name]
        return np.array([v in table for v in np.asarray(values, dtype=object)], dtype=bool)

    def transform(self, frame: Mapping[str, Any]) -> np.ndarray:
        """Feature columns (a frame or a mapping of arrays) -> float32 matrix in registry order.

        float32 is the features' one dtype (features.build.FEATURE_DTYPE): the same values reach
        the model from a training frame, a scoring frame and a live call.
        """
        first = frame[self.feature_names[0]]
        n = len(first)
        out = np.empty((n, len(self.feature_names)), dtype=np.float32)
        for j, name in enumerate(self.feature_names):
            if name in self._codes:
                out[:, j] = self.codes(name, frame[name])
            else:
                col = frame[name]
                if isinstance(col, pd.Series):
                    col = col.to_numpy(dtype=np.float32, na_value=np.nan)
                out[:, j] = col
        return out

    def categorical_indices(self) -> list[int]:
        return [j for j, n in enumerate(self.feature_names) if n in self._codes]

    def category_name(self, name: str, code: float) -> str | None:
        if np.isnan(code):
            return None
        vocab = self.vocab_[name]
        return vocab[int(code)] if int(code) < len(vocab) else OTHER

    def to_dict(self) -> dict[str, Any]:
        return {
            "min_count": self.min_count,
            "feature_names": list(self.feature_names),
            "vocab": self.vocab_,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureEncoder:
        enc = cls(min_count=int(data["min_count"]), feature_names=data["feature_names"])
        enc.vocab_ = {k: list(v) for k, v in data["vocab"].items()}
        enc._index()
        return enc
