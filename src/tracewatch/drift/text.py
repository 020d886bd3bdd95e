"""A cheap, deterministic local text representation and its topic cells.

Word unigrams and bigrams are hashed (CRC-32, stable across Python and polars versions) into `BUCKETS`
buckets and projected to `DIMENSIONS` with a fixed +-1 matrix; each text's unit vector goes to the nearest of
`TOPIC_CELLS` fixed random centroids. Matrix and centroids are pure functions of `SEED`, so every day, past
and future, is cut into the same cells without storing anything: change a constant and bump
`REPRESENTATION_VERSION`, which profiles record. The cells are locality-sensitive hash cells, not named
topics: a shift in what users ask about moves mass between cells, which the categorical tests see.
"""

from __future__ import annotations

import itertools
import re
import zlib
from functools import lru_cache

import numpy as np
import numpy.typing as npt

REPRESENTATION_VERSION = 1
SEED = 20261127
BUCKETS = 4096
DIMENSIONS = 64
TOPIC_CELLS = 16
_WORD = re.compile(r"\w+")
_CHUNK = 1000  # texts per projection step, bounding the (grams x DIMENSIONS) temporary


@lru_cache(maxsize=1)
def _projection() -> npt.NDArray[np.float64]:
    rng = np.random.default_rng(SEED)
    return rng.choice(np.array([-1.0, 1.0]), size=(BUCKETS, DIMENSIONS))


@lru_cache(maxsize=1)
def topic_centroids() -> npt.NDArray[np.float64]:
    """The fixed unit-length centroids, one row per topic cell."""
    rng = np.random.default_rng(SEED + 1)
    centroids = rng.normal(size=(TOPIC_CELLS, DIMENSIONS))
    unit: npt.NDArray[np.float64] = centroids / np.linalg.norm(centroids, axis=1, keepdims=True)
    return unit


def _buckets(text: str) -> list[int]:
    words = _WORD.findall(text.lower())
    grams = words + [f"{a} {b}" for a, b in itertools.pairwise(words)]
    return [zlib.crc32(g.encode()) % BUCKETS for g in grams]


def embed(texts: list[str | None]) -> npt.NDArray[np.float64]:
    """Unit vectors (rows) of the texts; an empty or missing text is the zero vector."""
    projection = _projection()
    vectors = np.zeros((len(texts), DIMENSIONS))
    for start in range(0, len(texts), _CHUNK):
        rows: list[int] = []
        cols: list[int] = []
        for i, text in enumerate(texts[start : start + _CHUNK], start):
            found = _buckets(text or "")
            rows.extend([i] * len(found))
            cols.extend(found)
        np.add.at(vectors, np.array(rows, np.int64), projection[np.array(cols, np.int64)])
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit: npt.NDArray[np.float64] = np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)
    return unit


def topic_cells(texts: list[str | None]) -> list[str]:
    """Each text's topic cell as a label `cell-NN`, or `empty` for a text without words."""
    return topic_cells_of(embed(texts))


def topic_cells_of(vectors: npt.NDArray[np.float64]) -> list[str]:
    """`topic_cells` of texts already embedded."""
    nearest = np.argmax(vectors @ topic_centroids().T, axis=1)
    cells = [f"cell-{c:02d}" for c in nearest.tolist()]
    norms = np.linalg.norm(vectors, axis=1).tolist()
    return [cell if norm > 0 else "empty" for cell, norm in zip(cells, norms, strict=True)]
