"""Frechet ChemNet Distance (Preuer et al. 2018) with the ``fcd`` package's torch ChemNet.

The ``fcd`` extra (``pip install molgen[fcd]``) ships the ChemNet weights inside its wheel
(``fcd/ChemNet_v0.13_pretrained.pt``); nothing is downloaded. It is imported lazily, only when an
FCD is requested. Activations are the 512-d penultimate ChemNet layer for SMILES one-hot encoded
exactly as ``fcd.utils.SmilesDataset`` does (padded to 350 tokens).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from molgen.io import atomic_write

__all__ = [
    "FCD_MISSING_MESSAGE",
    "FrechetAccumulator",
    "FrechetStats",
    "chemnet_activations",
    "fcd_available",
    "frechet_distance",
]

FCD_MISSING_MESSAGE = (
    "fcd is skipped: the `fcd` package is not installed (pip install 'molgen[fcd]'); "
    "the other metrics are computed"
)
N_ACTIVATIONS = 512


def fcd_available() -> bool:
    """Whether the ``fcd`` extra is importable (without importing it)."""
    import importlib.util

    return importlib.util.find_spec("fcd") is not None


@functools.cache
def _chemnet():
    import fcd  # lazy: torch + the ChemNet weights, only when an FCD is asked for

    return fcd.load_ref_model()


def chemnet_activations(smiles: Sequence[str], batch_size: int = 256) -> np.ndarray:
    """ChemNet activations ``float32[len(smiles), 512]`` (CPU, no gradient); each row is the same
    whatever the batch and thread count."""
    import torch
    from fcd.utils import SmilesDataset

    if len(smiles) == 0:
        return np.zeros((0, N_ACTIVATIONS), np.float32)
    model = _chemnet()
    dataset = SmilesDataset(list(smiles))
    out = np.empty((len(smiles), N_ACTIVATIONS), np.float32)
    with torch.inference_mode():
        for start in range(0, len(smiles), batch_size):
            stop = min(start + batch_size, len(smiles))
            rows = [dataset[i] for i in range(start, stop)]
            # a lone row would take a matrix-vector path whose last bits differ: pad to two, so
            # a molecule's activations never depend on the batch it lands in
            batch = np.stack(rows * 2 if len(rows) == 1 else rows).astype(np.float32)
            # SmilesDataset gives [length, vocab]; ChemNet's conv wants [batch, vocab, length]
            out[start:stop] = model(torch.from_numpy(batch).transpose(1, 2))[: len(rows)].numpy()
    return out


@dataclass(frozen=True)
class FrechetStats:
    """Mean ``[d]`` and unbiased covariance ``[d, d]`` of ``n`` activation vectors."""

    mean: np.ndarray
    cov: np.ndarray
    n: int

    def write(self, f: BinaryIO) -> None:
        """Write as an ``.npz`` (``mean``, ``cov``, ``n``) to a binary file."""
        np.savez(f, mean=self.mean, cov=self.cov, n=np.array(self.n))

    def save(self, path: Path) -> None:
        """Write an ``.npz`` atomically (:func:`molgen.io.atomic_write`)."""
        atomic_write(path, self.write)

    @classmethod
    def load(cls, source: Path | BinaryIO) -> FrechetStats:
        """Read what :meth:`save` or :meth:`write` wrote (a path or a binary file)."""
        with np.load(source) as data:
            return cls(data["mean"], data["cov"], int(data["n"]))


class FrechetAccumulator:
    """Streams activation vectors (with integer weights = occurrences) into mean/covariance,
    so duplicates count without being re-encoded and memory stays ``O(d^2)``."""

    def __init__(self, dim: int = N_ACTIVATIONS) -> None:
        self.n = 0
        self.total = np.zeros(dim, np.float64)
        self.outer = np.zeros((dim, dim), np.float64)

    def add(self, activations: np.ndarray, weights: np.ndarray | None = None) -> None:
        x = np.asarray(activations, np.float64)
        w = np.ones(len(x)) if weights is None else np.asarray(weights, np.float64)
        if w.shape != (len(x),) or (w < 0).any():
            raise ValueError(f"weights must be {len(x)} non-negative counts, got shape {w.shape}")
        self.n += int(w.sum())
        self.total += w @ x
        self.outer += (x * w[:, None]).T @ x

    def stats(self) -> FrechetStats:
        if self.n < 2:
            raise ValueError(f"an FCD needs at least 2 molecules per set, got {self.n}")
        mean = self.total / self.n
        cov = (self.outer - self.n * np.outer(mean, mean)) / (self.n - 1)
        return FrechetStats(mean, cov, self.n)


def frechet_distance(a: FrechetStats, b: FrechetStats) -> float:
    r"""Frechet distance of two Gaussians:
    :math:`\lVert\mu_a-\mu_b\rVert^2 + \mathrm{Tr}(\Sigma_a+\Sigma_b-2(\Sigma_a\Sigma_b)^{1/2})`.

    :math:`\mathrm{Tr}\,(\Sigma_a\Sigma_b)^{1/2}` is the sum of the square roots of the
    eigenvalues of :math:`\Sigma_a^{1/2}\Sigma_b\Sigma_a^{1/2}` (symmetric PSD, same spectrum),
    which is stable where ``scipy.linalg.sqrtm`` of the non-symmetric product is not.
    """
    if a.mean.shape != b.mean.shape:
        raise ValueError(f"dimension mismatch: {a.mean.shape} vs {b.mean.shape}")
    diff = a.mean - b.mean
    evals, evecs = np.linalg.eigh(a.cov)
    sqrt_a = (evecs * np.sqrt(np.clip(evals, 0.0, None))) @ evecs.T
    inner = np.linalg.eigvalsh(sqrt_a @ b.cov @ sqrt_a)
    tr_covmean = np.sqrt(np.clip(inner, 0.0, None)).sum()
    return float(diff @ diff + np.trace(a.cov) + np.trace(b.cov) - 2.0 * tr_covmean)
