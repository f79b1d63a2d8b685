"""Frechet ChemNet Distance (Preuer et al. 2018) with the ``fcd`` package's torch ChemNet.

The ``fcd`` extra (``pip install molgen[fcd]``) ships the ChemNet weights inside its wheel
(``fcd/ChemNet_v0.13_pretrained.pt``); nothing is downloaded. It is imported lazily, only when an
FCD is requested. Activations are the 512-d penultimate ChemNet layer for SMILES one-hot encoded
exactly as ``fcd.utils.SmilesDataset`` does (padded to 350 tokens; longer SMILES to their
own length, see :func:`chemnet_activations`), or, for MOSES, as its ``fcd_torch`` package does
(:func:`fcd_torch_one_hot`; same ChemNet weights).

The moments of the activations are summed exactly (:class:`FrechetAccumulator`), so an FCD
does not depend on how the molecules were split into chunks or processes.
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
    "chemnet_input_length",
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
_CHEMNET_TOKENS = "C N O H F Cl P B Br S I Si # ( ) + - 1 2 3 4 5 6 7 8 = [ ] @ c n o s X ."
_VOCAB = {token: i for i, token in enumerate(_CHEMNET_TOKENS.split())}
#: fcd's default ChemNet input length (``SmilesDataset``'s ``DEFAULT_PAD_LEN``), also fcd_torch's.
CHEMNET_PAD_LENGTH = 350


def fcd_available() -> bool:
    """Whether the ``fcd`` extra is importable (without importing it)."""
    import importlib.util

    return importlib.util.find_spec("fcd") is not None


@functools.cache
def _chemnet():
    import fcd  # lazy: torch + the ChemNet weights, only when an FCD is asked for

    return fcd.load_ref_model()


def chemnet_input_length(smiles: str) -> int:
    """Time steps of a SMILES' ChemNet input: fcd's default 350, or its own length plus the end
    token when that is longer. It depends on the molecule alone (see
    :func:`chemnet_activations`)."""
    return max(CHEMNET_PAD_LENGTH, len(smiles) + 1)


def fcd_torch_one_hot(smiles: str) -> np.ndarray:
    """``float64[350, 35]``: the input ``fcd_torch`` (MOSES' FCD) gives ChemNet for a SMILES it
    has canonicalised (``fcd_torch.utils.get_one_hot(smiles, 350) / 35``): a letter followed by
    ``r``, ``i`` or ``l`` is one two-letter token, unknown tokens are ``X``, and the encoding ends
    with ``.`` at the first ``.`` of the SMILES (so only the first fragment of a disconnected
    molecule is read) or after 349 tokens."""
    text = smiles + "."
    one_hot = np.zeros((CHEMNET_PAD_LENGTH, len(_VOCAB)))
    src = dst = 0
    while True:
        width = 2 if text[src + 1] in "ril" else 1
        one_hot[dst, _VOCAB.get(text[src : src + width], _VOCAB["X"])] = 1
        src += width
        dst += 1
        if text[src] == "." or dst == CHEMNET_PAD_LENGTH - 1:
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
    """ChemNet activations ``float32[len(smiles), 512]`` (CPU, no gradient); each row depends on
    its SMILES alone, whatever the batch, its batch-mates and the thread count. ``encoding``
    (:data:`ENCODINGS`): ``"fcd"`` encodes as ``fcd.utils.SmilesDataset``, ``"fcd_torch"`` as
    MOSES' ``fcd_torch`` does.

    ChemNet's LSTMs read every time step, padding included, and the activations are their last
    output, so the padding length changes them. ``fcd.utils.SmilesDataset`` pads a list to its
    longest string (at least 350): one long SMILES would change every other molecule's
    activations. Here each SMILES is padded to :func:`chemnet_input_length` of itself (350 for
    all but the rare SMILES of 350 characters or more, which fcd would pad the same alone), and
    batches hold SMILES of one input length (``fcd_torch`` truncates: always 350).
    """
    import torch

    from molgen.metrics.chemnet import chemnet_forward

    if encoding not in ENCODINGS:
        raise ValueError(f"encoding must be one of {ENCODINGS}, got {encoding!r}")
    if encoding == "fcd":
        from fcd.utils import get_one_hot

        def encode(part: list[int], length: int) -> list[np.ndarray]:
            # fcd's SmilesDataset item: one-hot [length, vocab] divided by the vocab size
            rows = [get_one_hot(smiles[i], pad_len=length) for i in part]
            return [row / row.shape[1] for row in rows]

        lengths = [chemnet_input_length(s) for s in smiles]
    else:

        def encode(part: list[int], length: int) -> list[np.ndarray]:
            return _fcd_torch_rows([smiles[i] for i in part])

        lengths = [CHEMNET_PAD_LENGTH] * len(smiles)
    out = np.empty((len(smiles), N_ACTIVATIONS), np.float32)
    if len(smiles) == 0:
        return out
    model = _chemnet()
    by_length: dict[int, list[int]] = {}
    for i, length in enumerate(lengths):
        by_length.setdefault(length, []).append(i)
    with torch.inference_mode():
        for length, indices in by_length.items():
            for start in range(0, len(indices), batch_size):
                part = indices[start : start + batch_size]
                rows = encode(part, length)
                # a lone row would take a matrix-vector path whose last bits differ: pad to two,
                # so a molecule's activations never depend on the batch it lands in
                batch = np.stack(rows * 2 if len(rows) == 1 else rows).astype(np.float32)
                # [batch, length, vocab] -> ChemNet's conv wants [batch, vocab, length]
                x = torch.from_numpy(batch).transpose(1, 2)
                out[part] = chemnet_forward(model, x)[: len(part)].numpy()
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
    so duplicates count without being re-encoded and memory stays ``O(d^2)``.

    The sums are exact, so the statistics are the same bits however the vectors are split into
    :meth:`add` calls and in whatever order: each value is rounded once to the fixed grid
    :math:`2^{-34}` (a change of at most 3e-11, under float32 resolution for ChemNet's values in
    ``[-1, 1]``) and the integers ``a = round(x 2^34)`` are written in base :math:`2^{18}` with
    digits in ``[-2^17, 2^17]`` (two digits for values in ``[-1, 1]``). Products of digits,
    summed over a block of total weight at most :data:`BLOCK_WEIGHT`, stay below
    :math:`2^{53}`, so float64 matrix products of the digits are exact whatever their summation
    order; the block sums are then added as Python integers.
    :meth:`stats` divides once, rounding each entry of the mean and covariance once.
    """

    #: Fixed-point grid: values are multiples of ``2**-FRACTION_BITS``.
    FRACTION_BITS = 34
    #: Bits per digit of the fixed-point integers.
    DIGIT_BITS = 18
    #: Most total weight per exact block: ``BLOCK_WEIGHT * (2**17) ** 2 < 2**53``.
    BLOCK_WEIGHT = 2**18

    def __init__(self, dim: int = N_ACTIVATIONS) -> None:
        self.dim = dim
        self.n = 0
        self._sums: dict[int, np.ndarray] = {}  # digit level -> object[dim] of Python ints
        self._products: dict[tuple[int, int], np.ndarray] = {}  # (i <= j) -> object[dim, dim]

    def add(self, activations: np.ndarray, weights: np.ndarray | None = None) -> None:
        x = np.asarray(activations, np.float64)
        w = np.ones(len(x), np.int64) if weights is None else np.asarray(weights)
        if w.shape != (len(x),) or (w < 0).any() or (w != np.round(w)).any():
            raise ValueError(
                f"weights must be {len(x)} non-negative integer counts, got shape {w.shape}"
            )
        if x.ndim != 2 or x.shape[1] != self.dim or not np.isfinite(x).all():
            raise ValueError(f"activations must be finite float[n, {self.dim}], got {x.shape}")
        w = w.astype(np.int64)
        if (w > self.BLOCK_WEIGHT).any():
            raise ValueError(f"a weight above {self.BLOCK_WEIGHT} occurrences is not supported")
        start = 0
        while start < len(x):  # blocks of total weight <= BLOCK_WEIGHT: exact float64 sums
            stop = start + max(
                1, int(np.searchsorted(np.cumsum(w[start:]), self.BLOCK_WEIGHT, "right"))
            )
            self._add_block(x[start:stop], w[start:stop])
            start = stop
        self.n += int(w.sum())

    def _add_block(self, x: np.ndarray, w: np.ndarray) -> None:
        digits = _digits(np.round(np.ldexp(x, self.FRACTION_BITS)), self.DIGIT_BITS)
        wf = w.astype(np.float64)
        for i, d_i in enumerate(digits):
            _add_to(self._sums, i, wf @ d_i)  # [dim]
            weighted = d_i * wf[:, None]  # [m, dim]
            for j in range(i, len(digits)):
                _add_to(self._products, (i, j), weighted.T @ digits[j])  # [dim, dim]

    def _exact(self) -> tuple[np.ndarray, np.ndarray]:
        """The sums of ``a`` and of ``a a^T`` (weighted) as object arrays of Python ints."""
        total = np.zeros(self.dim, object)
        for i, value in self._sums.items():
            total = total + value * (1 << (self.DIGIT_BITS * i))
        outer = np.zeros((self.dim, self.dim), object)
        for (i, j), value in self._products.items():
            scaled = value * (1 << (self.DIGIT_BITS * (i + j)))
            outer = outer + (scaled if i == j else scaled + scaled.T)
        return total, outer

    def stats(self) -> FrechetStats:
        if self.n < 2:
            raise ValueError(f"an FCD needs at least 2 molecules per set, got {self.n}")
        total, outer = self._exact()
        scale = 1 << self.FRACTION_BITS
        # mean = total / (n 2^F); cov = (n outer - total total^T) / (n (n - 1) 2^2F): exact
        # integers divided once (Python's int / int rounds correctly)
        mean = (total / (self.n * scale)).astype(np.float64)
        centred = self.n * outer - np.outer(total, total)
        cov = (centred / (self.n * (self.n - 1) * scale * scale)).astype(np.float64)
        return FrechetStats(mean, cov, self.n)


def _digits(a: np.ndarray, bits: int) -> list[np.ndarray]:
    """Integers ``a`` (float64, exact) as digits ``d_k`` in ``[-2^(bits-1), 2^(bits-1)]`` with
    ``a = sum_k d_k 2^(bits k)``; as many digits as the largest value needs."""
    digits = []
    base = float(1 << bits)
    while True:
        high = np.round(a / base)
        digits.append(a - high * base)
        if not high.any():
            return digits
        a = high


def _add_to(sums: dict, key, block: np.ndarray) -> None:
    # float64 block sums are exact integers below 2**53: int64, then Python ints (no overflow)
    value = block.astype(np.int64).astype(object)
    sums[key] = value if key not in sums else sums[key] + value


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
