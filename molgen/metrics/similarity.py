"""Vectorised Tanimoto similarity between bit-packed fingerprint matrices.

Intersections are int8 matrix products of the unpacked bits with int32 accumulation
(``torch._int_mm``: exact, and about 2x a float32 GEMM on CPU), restricted to the bits set in
either set; the ratios are float32 (as MOSES computes them) in torch, which runs them on every
core. Blocks of query rows bound the memory to ``block * len(stock)`` floats.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

__all__ = ["max_tanimoto", "mean_tanimoto_power", "mean_tanimoto_powers"]

_BLOCK = 256  # rows per block: the [block, len(stock)] ratios stay near the cache


def _unpack_used(query: np.ndarray, stock: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """``int8[len(query), k]`` and ``int8[k, len(stock)]`` bits, k = the bits set anywhere."""
    if query.ndim != 2 or stock.ndim != 2 or query.shape[1] != stock.shape[1]:
        raise ValueError(f"fingerprints must be [n, bytes] alike, got {query.shape}, {stock.shape}")
    q = np.unpackbits(query, axis=1)
    s = np.unpackbits(stock, axis=1)
    used = q.any(0) | s.any(0)  # bits set nowhere add nothing to any intersection or union
    q, s = q[:, used].view(np.int8), s[:, used].view(np.int8)
    return _row_major(q), _row_major(s.T)


def _row_major(bits: np.ndarray) -> torch.Tensor:
    """A copy with the strides of a fresh row-major tensor. ``torch._int_mm`` on CPU reads a
    size-1 dimension's stride as a leading dimension: numpy may give a ``[1, k]`` row the
    strides ``(1, 1)`` (contiguous all the same), and the product then reads memory outside
    the operands (a lone molecule's similarity to itself came out 6e7 or -1)."""
    out = torch.empty(bits.shape, dtype=torch.int8)
    out.copy_(torch.from_numpy(np.ascontiguousarray(bits)))
    return out


def _blocks(
    query: np.ndarray, stock: np.ndarray, reduce: Callable[[torch.Tensor, int], None]
) -> None:
    """Call ``reduce(tanimoto float32[block, len(stock)], start)`` for each block of rows."""
    q, s_t = _unpack_used(query, stock)
    q_count = q.sum(1, dtype=torch.float32)
    s_count = s_t.sum(0, dtype=torch.float32)
    for start in range(0, len(q), _BLOCK):
        rows = q[start : start + _BLOCK]
        if rows.shape[1] == 0:  # every fingerprint empty
            inter = torch.zeros(len(rows), s_t.shape[1])
        else:
            inter = torch._int_mm(rows, s_t).float()
        union = (q_count[start : start + _BLOCK, None] + s_count).sub_(inter)
        # MOSES sets 0/0 (two empty fingerprints) to similarity 1
        reduce(inter.div_(union).nan_to_num_(1.0), start)


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

    def reduce(sim: torch.Tensor, start: int) -> None:
        if exclude_self:
            rows = torch.arange(len(sim))
            sim[rows, start + rows] = 0.0
        out[start : start + len(sim)] = sim.amax(1).numpy()

    _blocks(query, stock, reduce)
    return out


def mean_tanimoto_powers(
    query: np.ndarray,
    stock: np.ndarray,
    powers: Sequence[float],
    stock_weights: np.ndarray | None = None,
) -> np.ndarray:
    r"""``float64[len(powers), len(query)]``: row k holds
    :math:`(\sum_y w_y T(x,y)^{p_k} / \sum_y w_y)^{1/p_k}` per query ``x``, all from one pass.

    ``stock_weights`` (occurrence counts, default 1) let a set of distinct fingerprints stand for
    a multiset with duplicates.
    """
    if not powers or min(powers) <= 0:
        raise ValueError(f"p must be > 0, got {list(powers)}")
    w = np.ones(len(stock)) if stock_weights is None else np.asarray(stock_weights, np.float64)
    if w.shape != (len(stock),) or w.sum() <= 0:
        raise ValueError(f"stock_weights must be {len(stock)} counts with a positive sum")
    weights = torch.from_numpy(w)
    out = np.zeros((len(powers), len(query)))

    def reduce(sim: torch.Tensor, start: int) -> None:
        sim = sim.double()
        for k, p in enumerate(powers):
            powered = sim if p == 1 else sim.pow(p)
            out[k, start : start + len(sim)] = (powered @ weights).numpy()

    _blocks(query, stock, reduce)
    return np.stack([(row / w.sum()) ** (1.0 / p) for row, p in zip(out, powers, strict=True)])


def mean_tanimoto_power(
    query: np.ndarray, stock: np.ndarray, p: float, stock_weights: np.ndarray | None = None
) -> np.ndarray:
    r"""``float64[len(query)]``: :math:`(\sum_y w_y T(x,y)^p / \sum_y w_y)^{1/p}` per query ``x``
    (:func:`mean_tanimoto_powers` with one power)."""
    return mean_tanimoto_powers(query, stock, (p,), stock_weights)[0]
