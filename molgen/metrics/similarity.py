"""Vectorised Tanimoto similarity between bit-packed fingerprint matrices.

Intersections are float32 matrix products of the unpacked bits (exact: counts are integers
far below 2**24), restricted to the bits set in either set; blocks bound the memory to
``block * len(stock)`` floats.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["max_tanimoto", "mean_tanimoto_power"]

_BLOCK = 2048


def _unpack_used(query: np.ndarray, stock: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if query.ndim != 2 or stock.ndim != 2 or query.shape[1] != stock.shape[1]:
        raise ValueError(f"fingerprints must be [n, bytes] alike, got {query.shape}, {stock.shape}")
    q = np.unpackbits(query, axis=1)
    s = np.unpackbits(stock, axis=1)
    used = q.any(0) | s.any(0)  # bits set nowhere add nothing to any intersection or union
    return q[:, used].astype(np.float32), s[:, used].astype(np.float32)


def _blocks(query: np.ndarray, stock: np.ndarray, reduce: Callable[[np.ndarray, int], None]):
    """Call ``reduce(tanimoto[block, len(stock)], start)`` for each block of query rows."""
    q, s = _unpack_used(query, stock)
    q_count, s_count = q.sum(1), s.sum(1)
    s_t = np.ascontiguousarray(s.T)
    for start in range(0, len(q), _BLOCK):
        inter = q[start : start + _BLOCK] @ s_t
        union = q_count[start : start + _BLOCK, None] + s_count[None, :] - inter
        # MOSES sets 0/0 (two empty fingerprints) to similarity 1
        with np.errstate(invalid="ignore", divide="ignore"):
            sim = np.where(union > 0, inter / union, 1.0)
        reduce(sim, start)


def max_tanimoto(query: np.ndarray, stock: np.ndarray, exclude_self: bool = False) -> np.ndarray:
    """``float64[len(query)]``: max Tanimoto of each query fingerprint to any stock fingerprint.

    With ``exclude_self`` (query and stock the same set) the diagonal pairs are skipped, as in
    GuacaMol's internal similarity (its diagonal is set to 0, so a lone molecule scores 0).
    """
    if exclude_self and query.shape != stock.shape:
        raise ValueError("exclude_self needs query and stock to be the same set")
    if len(stock) == 0:
        raise ValueError("stock is empty")
    out = np.zeros(len(query))

    def reduce(sim: np.ndarray, start: int) -> None:
        if exclude_self:
            rows = np.arange(len(sim))
            sim[rows, start + rows] = 0.0
        out[start : start + len(sim)] = sim.max(1)

    _blocks(query, stock, reduce)
    return out


def mean_tanimoto_power(
    query: np.ndarray, stock: np.ndarray, p: float, stock_weights: np.ndarray | None = None
) -> np.ndarray:
    r"""``float64[len(query)]``: :math:`(\sum_y w_y T(x,y)^p / \sum_y w_y)^{1/p}` per query ``x``.

    ``stock_weights`` (occurrence counts, default 1) let a set of distinct fingerprints stand for
    a multiset with duplicates.
    """
    if p <= 0:
        raise ValueError(f"p must be > 0, got {p}")
    w = np.ones(len(stock)) if stock_weights is None else np.asarray(stock_weights, np.float64)
    if w.shape != (len(stock),) or w.sum() <= 0:
        raise ValueError(f"stock_weights must be {len(stock)} counts with a positive sum")
    out = np.zeros(len(query))

    def reduce(sim: np.ndarray, start: int) -> None:
        powered = sim if p == 1 else sim.astype(np.float64) ** p
        out[start : start + len(sim)] = powered @ w

    _blocks(query, stock, reduce)
    return (out / w.sum()) ** (1.0 / p)
