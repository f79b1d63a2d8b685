"""The reference set of an evaluation and its statistics, cached on disk by content.

A :class:`Reference` holds the distinct strict-valid canonical SMILES of a reference file
(usually the training data) and computes its statistics lazily (fingerprints, FCD moments,
fragment and scaffold counts, KL descriptors, property distributions, the mean NSPDK vector).
With ``cache_dir`` each statistic is one file under ``cache_dir/reference-HASH/`` (HASH: of the
canonical set), and the canonical set itself is cached under a hash of the raw input.

Each cache file starts with a SHA-256 over its key (the file's role and the reference's hash)
and its payload, and is written atomically (:func:`molgen.io.atomic_write`). A file that does
not match its checksum or does not parse (truncated, altered, copied from another reference) is
rebuilt with a warning naming it, never trusted; the same policy as the dataset cache.
"""

from __future__ import annotations

import hashlib
import io
import json
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import partial
from pathlib import Path

import numpy as np

from molgen.chem.properties import classify_smiles
from molgen.errors import InputError
from molgen.io import atomic_write
from molgen.metrics import frechet
from molgen.metrics.features import (
    CHEMNET,
    KL_FEATURES,
    NSPDK,
    concat,
    count_items,
    features,
    kl_subset,
    kl_table,
)
from molgen.metrics.nspdk import NSPDK_FEATURE_SIZE, mean_nspdk_vector
from molgen.parallel import ProcessPool

__all__ = ["Reference"]

#: Bump when a statistic's definition or the cache layout changes: old entries are then unused.
# 3: explicit hydrogens and atom maps canonicalised away; 4: non-ASCII and control characters
# invalid, ChemNet inputs padded per molecule, FCD moments summed exactly
CACHE_VERSION = "molgen-metrics-4"


def _encode_npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _decode_npy(payload: bytes) -> np.ndarray:
    return np.load(io.BytesIO(payload), allow_pickle=False)


def _encode_fcd(stats: frechet.FrechetStats) -> bytes:
    buffer = io.BytesIO()
    stats.write(buffer)
    return buffer.getvalue()


def _decode_fcd(payload: bytes) -> frechet.FrechetStats:
    return frechet.FrechetStats.load(io.BytesIO(payload))


#: How each kind of statistic becomes bytes and back: (file suffix, encode, decode).
_CODECS: dict[str, tuple[str, Callable[[object], bytes], Callable[[bytes], object]]] = {
    "npy": (".npy", _encode_npy, _decode_npy),
    "json": (".json", lambda value: json.dumps(value).encode(), json.loads),
    "fcd": (".npz", _encode_fcd, _decode_fcd),
    "lines": (".txt", lambda lines: "\n".join(lines).encode(), lambda b: b.decode().splitlines()),
}


def _checksum(key: str, payload: bytes) -> bytes:
    return hashlib.sha256(key.encode() + b"\n" + payload).hexdigest().encode()


def _write_entry(path: Path, key: str, payload: bytes) -> None:
    try:
        atomic_write(path, lambda f: f.write(_checksum(key, payload) + b"\n" + payload))
    except (OSError, InputError) as exc:  # the cache only saves time: evaluate on without it
        warnings.warn(f"cannot write the reference cache entry {path}: {exc}", stacklevel=4)


def _read_entry(path: Path, key: str, decode: Callable[[bytes], object]):
    """The decoded entry at ``path`` when it exists and matches its checksum; else None (with a
    warning naming the file when one was there but cannot be trusted)."""
    if not path.exists():
        return None
    try:
        checksum, _, payload = path.read_bytes().partition(b"\n")
        if checksum != _checksum(key, payload):
            raise ValueError("checksum differs (truncated or altered)")
        return decode(payload)
    except Exception as exc:  # any failure to read means the file cannot be trusted
        warnings.warn(f"rebuilding the reference cache entry {path}: {exc}", stacklevel=4)
        return None


class Reference:
    """A reference set: its distinct strict-valid canonical SMILES (MOSES' training set keeps its
    strings as written, as MOSES' novelty compares them: :func:`molgen.metrics.moses.
    moses_references`) and lazily computed, cached statistics (see the module docstring), or
    ``statistics`` given precomputed. Statistics take the evaluation's
    :class:`~molgen.parallel.ProcessPool` (default: this process)."""

    def __init__(
        self,
        canonical: Sequence[str],
        *,
        n_input: int | None = None,
        cache_dir: Path | None = None,
        statistics: Mapping[str, object] | None = None,
    ) -> None:
        self.canonical: tuple[str, ...] = tuple(canonical)
        if not self.canonical:
            raise InputError("reference: no strict-valid molecules")
        self.n_input = len(self.canonical) if n_input is None else n_input
        self.cache_dir = None if cache_dir is None else Path(cache_dir)
        digest = hashlib.sha256(CACHE_VERSION.encode())
        for smiles in self.canonical:
            digest.update(smiles.encode() + b"\n")
        self.digest = digest.hexdigest()
        self._set: frozenset[str] | None = None
        # Precomputed statistics (e.g. those MOSES ships for its test sets) by their cache names:
        # a feature's name, ``fragments_counts``/``scaffold_counts``, ``fcd``/``fcd_FEATURE``.
        self._memo: dict[str, object] = dict(statistics or {})

    @classmethod
    def from_smiles(
        cls,
        smiles: Iterable[str],
        cache_dir: Path | None = None,
        *,
        n_jobs: int | None = 1,
        classify: Callable[[list[str]], list[tuple]] = classify_smiles,
        max_atoms: int | None = None,
    ) -> Reference:
        """Canonicalise ``smiles`` (invalid and disconnected ones dropped, and those with more
        than ``max_atoms`` heavy atoms, duplicates merged, first-occurrence order kept).
        ``classify`` defines validity and the canonical form (contract of
        :func:`~molgen.chem.properties.classify_smiles`; e.g.
        :func:`~molgen.chem.moses.classify_smiles_moses` for MOSES' sets)."""
        lines = list(smiles)
        if not lines:
            raise InputError("reference: no SMILES given")
        cache_file = key = None
        if cache_dir is not None:
            raw = hashlib.sha256(f"{CACHE_VERSION} max_atoms={max_atoms}".encode())
            if classify is not classify_smiles:  # molgen's own keys stay as they were
                raw.update(f"{classify.__module__}.{classify.__qualname__}\n".encode())
            for line in lines:
                raw.update(str(line).encode("utf-8", "surrogateescape") + b"\n")
            key = f"canonical-{raw.hexdigest()[:32]}"
            cache_file = Path(cache_dir) / f"{key}.txt"
            canonical = _read_entry(cache_file, key, _CODECS["lines"][2])
            if canonical is not None:
                return cls(canonical, n_input=len(lines), cache_dir=cache_dir)
        with ProcessPool(n_jobs) as pool:
            classify = partial(classify, max_atoms=max_atoms)
            classified = concat(pool.map(classify, lines, min_part=2))
        canonical = list(dict.fromkeys(c for c, reason in classified if reason is None))
        if cache_file is not None and canonical:
            _write_entry(cache_file, key, _CODECS["lines"][1](canonical))
        return cls(canonical, n_input=len(lines), cache_dir=cache_dir)

    @classmethod
    def from_canonical(cls, canonical: Iterable[str], cache_dir: Path | None = None) -> Reference:
        """A reference from SMILES already in molgen's canonical form (a dataset's, which
        :func:`~molgen.chem.mol_graphs` canonicalised when the data were loaded): disconnected
        ones (with a ``.``) dropped, duplicates merged, first-occurrence order kept, as
        :meth:`from_smiles` would, without parsing them again (minutes for MOSES' 1.4M)."""
        lines = list(canonical)
        distinct = dict.fromkeys(s for s in lines if "." not in s)
        return cls(list(distinct), n_input=len(lines), cache_dir=cache_dir)

    def __len__(self) -> int:
        return len(self.canonical)

    def __repr__(self) -> str:
        return f"Reference(n={len(self)}, n_input={self.n_input}, hash={self.digest[:12]})"

    @property
    def canonical_set(self) -> frozenset[str]:
        if self._set is None:
            self._set = frozenset(self.canonical)
        return self._set

    def _cached(self, name: str, kind: str, compute: Callable[[], object]):
        """Memory memo, then the disk cache (``kind``: a key of ``_CODECS``), then
        ``compute()``."""
        if name in self._memo:
            return self._memo[name]
        suffix, encode, decode = _CODECS[kind]
        value = path = None
        key = f"{self.digest}/{name}"
        if self.cache_dir is not None:
            path = self.cache_dir / f"reference-{self.digest[:32]}" / f"{name}{suffix}"
            value = _read_entry(path, key, decode)
        if value is None:
            value = compute()
            if path is not None:
                _write_entry(path, key, encode(value))
        self._memo[name] = value
        return value

    def feature(self, name: str, pool: ProcessPool | None = None) -> np.ndarray:
        """Array feature (``qed``/``logp``/``sa``/``morgan``) of every reference molecule."""
        pool = pool or ProcessPool()
        return self._cached(name, "npy", lambda: features(pool, self.canonical, [name])[name])

    def counts(self, name: str, pool: ProcessPool | None = None) -> dict[str, int]:
        """``fragments`` (BRICS) or ``scaffold`` (Murcko) counts over the reference."""
        pool = pool or ProcessPool()

        def compute() -> dict[str, int]:
            values = features(pool, self.canonical, [name])[name]
            return dict(count_items(values, np.ones(len(values), np.int64)))

        return self._cached(f"{name}_counts", "json", compute)

    def kl_statistics(self, pool: ProcessPool | None = None) -> np.ndarray:
        """``float64[n, 10]``: GuacaMol's 9 descriptors and the internal similarity of a seeded
        subset of at most 10000 reference molecules."""
        pool = pool or ProcessPool()

        def compute() -> np.ndarray:
            subset = [self.canonical[i] for i in kl_subset(len(self))]
            return kl_table(features(pool, subset, KL_FEATURES))

        return self._cached("kl_statistics", "npy", compute)

    def fcd_stats(
        self, pool: ProcessPool | None = None, feature: str = CHEMNET
    ) -> frechet.FrechetStats:
        """ChemNet activation mean/covariance of the reference (cached as ``fcd.npz``; with
        another ChemNet ``feature`` of :data:`~molgen.metrics.features.CHEMNETS` as
        ``fcd_FEATURE.npz``)."""
        pool = pool or ProcessPool()

        def compute() -> frechet.FrechetStats:
            acc = frechet.FrechetAccumulator()
            step = 16384  # bounded memory for large references (32 MiB of activations)
            for start in range(0, len(self), step):
                block = self.canonical[start : start + step]
                acc.add(features(pool, block, [feature])[feature])
            return acc.stats()

        return self._cached("fcd" if feature == CHEMNET else f"fcd_{feature}", "fcd", compute)

    def mean_nspdk(self, pool: ProcessPool | None = None) -> np.ndarray:
        """The mean NSPDK vector of the reference molecules (``float64[NSPDK_FEATURE_SIZE]``,
        :mod:`molgen.metrics.nspdk`; cached as ``nspdk_mean.npy``)."""
        pool = pool or ProcessPool()

        def compute() -> np.ndarray:
            total = np.zeros(NSPDK_FEATURE_SIZE)
            step = 16384  # bounded memory: the sparse vectors of one block at a time
            for start in range(0, len(self), step):
                block = self.canonical[start : start + step]
                total += mean_nspdk_vector(features(pool, block, [NSPDK])[NSPDK]) * len(block)
            return total / len(self)

        return self._cached("nspdk_mean", "npy", compute)
