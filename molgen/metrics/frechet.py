"""Frechet ChemNet Distance (Preuer et al. 2018) with the ``fcd`` package's torch ChemNet.

The ``fcd`` extra (``pip install molgen[fcd]``) ships the ChemNet weights inside its wheel
(``fcd/ChemNet_v0.13_pretrained.pt``); nothing is downloaded. It is imported lazily, only when an
FCD is requested. Activations are the 512-d penultimate ChemNet layer for SMILES one-hot encoded
exactly as ``fcd.utils.SmilesDataset`` does (padded to 350 tokens), or, for MOSES, as its
``fcd_torch`` package does (:func:`fcd_torch_one_hot`; same ChemNet weights).
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
    "ENCODINGS",
    "FCD_MISSING_MESSAGE",
    "FrechetAccumulator",
    "FrechetStats",
    "chemnet_activations",
    "fcd_available",
    "fcd_torch_one_hot",
    "frechet_distance",
]

FCD_MISSING_MESSAGE = (
    "fcd is skipped: the `fcd` package is not installed (pip install 'molgen[fcd]'); "
    "the other metrics are computed"
)
N_ACTIVATIONS = 512
#: How a SMILES becomes ChemNet's input: the ``fcd`` package's encoder or ``fcd_torch``'s.
ENCODINGS = ("fcd", "fcd_torch")
#: ChemNet's alphabet (both packages); ``X`` stands for any other token, ``.`` ends the string.
_VOCAB = {
    token: i
    for i, token in enumerate(
        "C N O H F Cl P B Br S I Si # ( ) + - 1 2 3 4 5 6 7 8 = [ ] @ c n o s X .".split()  # noqa: SIM905
    )
}
_PAD_LEN = 350


def fcd_available() -> bool:
    """Whether the ``fcd`` extra is importable (without importing it)."""
    import importlib.util

    return importlib.util.find_spec("fcd") is not None


@functools.cache
def _chemnet():
    import fcd  # lazy: torch + the ChemNet weights, only when an FCD is asked for

    return fcd.load_ref_model()


def fcd_torch_one_hot(smiles: str) -> np.ndarray:
    """``float64[350, 35]``: the input ``fcd_torch`` (MOSES' FCD) gives ChemNet for a SMILES it
    has canonicalised (``fcd_torch.utils.get_one_hot(smiles, 350) / 35``): a letter followed by
    ``r``, ``i`` or ``l`` is one two-letter token, unknown tokens are ``X``, and the encoding ends
    with ``.`` at the first ``.`` of the SMILES (so only the first fragment of a disconnected
    molecule is read) or after 349 tokens."""
    text = smiles + "."
    one_hot = np.zeros((_PAD_LEN, len(_VOCAB)))
    src = dst = 0
    while True:
        width = 2 if text[src + 1] in "ril" else 1
        one_hot[dst, _VOCAB.get(text[src : src + width], _VOCAB["X"])] = 1
        src += width
        dst += 1
        if text[src] == "." or dst == _PAD_LEN - 1:
            one_hot[dst, _VOCAB["."]] = 1
            break
    return one_hot / len(_VOCAB)


def _fcd_torch_rows(smiles: list[str]):
    """``fcd_torch.utils.SmilesDataset(smiles, canonize=True)``: each SMILES is canonicalised
    again (``Chem.MolToSmiles(Chem.MolFromSmiles(s))``) before :func:`fcd_torch_one_hot`."""
    from molgen.chem.moses import classify_smiles_moses

    canonical = [c for c, _ in classify_smiles_moses(smiles)]
    for given, again in zip(smiles, canonical, strict=True):
        if again is None:
            raise ValueError(f"fcd_torch encoding: {given!r} does not parse")
    return [fcd_torch_one_hot(s) for s in canonical]


def chemnet_activations(
    smiles: Sequence[str], batch_size: int = 256, encoding: str = "fcd"
) -> np.ndarray:
    """ChemNet activations ``float32[len(smiles), 512]`` (CPU, no gradient); each row is the same
    whatever the batch and thread count. ``encoding`` (:data:`ENCODINGS`): ``"fcd"`` encodes as
    ``fcd.utils.SmilesDataset``, ``"fcd_torch"`` as MOSES' ``fcd_torch`` does."""
    import torch
    from fcd.utils import SmilesDataset

    from molgen.metrics.chemnet import chemnet_forward

    if encoding not in ENCODINGS:
        raise ValueError(f"encoding must be one of {ENCODINGS}, got {encoding!r}")
    if len(smiles) == 0:
        return np.zeros((0, N_ACTIVATIONS), np.float32)
    model = _chemnet()
    dataset = SmilesDataset(list(smiles)) if encoding == "fcd" else None
    out = np.empty((len(smiles), N_ACTIVATIONS), np.float32)
    with torch.inference_mode():
        for start in range(0, len(smiles), batch_size):
            stop = min(start + batch_size, len(smiles))
            if dataset is not None:
                rows = [dataset[i] for i in range(start, stop)]
            else:
                rows = _fcd_torch_rows(list(smiles[start:stop]))
            # a lone row would take a matrix-vector path whose last bits differ: pad to two, so
            # a molecule's activations never depend on the batch it lands in
            batch = np.stack(rows * 2 if len(rows) == 1 else rows).astype(np.float32)
            # SmilesDataset gives [length, vocab]; ChemNet's conv wants [batch, vocab, length]
            x = torch.from_numpy(batch).transpose(1, 2)
            out[start:stop] = chemnet_forward(model, x)[: len(rows)].numpy()
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
