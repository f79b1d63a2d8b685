"""MOSES' molecule-level definitions (Polykovskiy et al. 2020, molecularsets/moses 0.3.1).

* valid: ``moses.utils.get_mol``: ``Chem.MolFromSmiles`` returns a molecule (RDKit's default
  parser: sanitized, hydrogens removed; fragments allowed) that sanitizes again; "" is invalid.
* canonical: ``moses.metrics.utils.canonic_smiles``: ``Chem.MolToSmiles(mol)`` (isomeric).
* the filters: ``moses.metrics.utils.mol_passes_filters``, with MOSES' MCF and PAINS SMARTS
  lists read from the installed ``molsets`` wheel (``moses/metrics/mcf.csv``,
  ``wehi_pains.csv``), never imported: the package itself no longer imports on today's stack.

The wheel is located and its data splits read here, for every part of molgen that needs them
(:func:`moses_file`, :func:`iter_moses_split`): without it, each raises one
:class:`~molgen.errors.MissingExtraError` whose message is the install command.
"""

from __future__ import annotations

import csv
import functools
import gzip
import importlib.util
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
from rdkit import Chem

from molgen.chem.mol import MAX_SMILES_LENGTH
from molgen.chem.rdlog import rdkit_quiet
from molgen.errors import InputError, MissingExtraError

__all__ = [
    "MOSES_ALLOWED_ATOMS",
    "MOSES_INSTALL",
    "MOSES_SPLITS",
    "classify_smiles_moses",
    "iter_moses_split",
    "moses_file",
    "moses_split_file",
    "passes_moses_filters",
    "read_moses_split",
]

MOSES_INSTALL = "pip install --no-deps molsets==0.3.1"
#: MOSES' data splits in the wheel: ``moses/dataset/data/{split}.csv.gz``, one column
#: ``SMILES``.
MOSES_SPLITS = ("train", "test", "test_scaffolds")
#: ``mol_passes_filters``' default ``allowed`` atoms.
MOSES_ALLOWED_ATOMS = frozenset({"C", "N", "S", "O", "F", "Cl", "Br", "H"})
#: ``mol_passes_filters`` rejects a molecule with a ring of this many atoms or more.
MOSES_MAX_RING = 8


def moses_file(relative: str) -> Path:
    """A file of the installed ``molsets`` wheel, ``relative`` to its ``moses`` folder (e.g.
    ``"dataset/data/test.csv.gz"``), located without importing ``moses`` (its imports fail on
    today's packages). Raises :class:`~molgen.errors.MissingExtraError` naming the install
    command when the wheel, or that file of it, is absent."""
    spec = importlib.util.find_spec("moses")
    if spec is None or not spec.submodule_search_locations:
        raise MissingExtraError(
            f"MOSES' data and filters (moses/{relative}) come from the molsets wheel, which is "
            f"not installed; install it with: {MOSES_INSTALL} (without its declared "
            "dependencies, which do not install on today's packages and are not needed)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.is_file():
        raise MissingExtraError(
            f"{path}: missing from the installed molsets wheel; reinstall it with: "
            f"{MOSES_INSTALL} --force-reinstall"
        )
    return path


def moses_split_file(split: str) -> Path:
    """The gzipped CSV of a MOSES split (one of :data:`MOSES_SPLITS`) in the wheel."""
    if split not in MOSES_SPLITS:
        raise ValueError(f"unknown MOSES split {split!r}; known: {list(MOSES_SPLITS)}")
    return moses_file(f"dataset/data/{split}.csv.gz")


def iter_moses_split(split: str) -> Iterator[str]:
    """The SMILES of a MOSES split, in file order, read as they are iterated (all 1,584,663 of
    ``train`` take seconds, its first thousand do not). The wheel is located at the call, so
    a missing wheel raises before any line is read."""
    return _smiles_column(moses_split_file(split))


def _smiles_column(path: Path) -> Iterator[str]:
    with gzip.open(path, "rt") as f:
        header = f.readline().strip()
        if header != "SMILES":
            raise InputError(f"{path}: expected the header SMILES, got {header!r}")
        for line in f:
            yield line.strip()


def read_moses_split(split: str) -> list[str]:
    """All SMILES of a MOSES split (:func:`iter_moses_split`), as a list."""
    return list(iter_moses_split(split))


def _moses_mol(smiles: str) -> Chem.Mol | None:
    """``moses.utils.get_mol`` of a string."""
    if not smiles:
        return None
    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        return None
    try:
        Chem.SanitizeMol(mol)
    except ValueError:
        return None
    return mol


def classify_smiles_moses(
    samples: Sequence[str | None], max_atoms: int | None = None
) -> list[tuple[str | None, str | None]]:
    """``(MOSES canonical SMILES or None, reason or None)`` per sample, the reason None exactly
    when MOSES counts the sample valid (``"empty"`` for "", ``"parse"`` otherwise). The same
    contract as :func:`molgen.chem.properties.classify_smiles`, with MOSES' validity; more than
    ``max_atoms`` heavy atoms is ``"too_large"`` (counted on the unsanitized parse, before
    RDKit's costly calls: MOSES itself has no cap and crashes or hangs on such molecules; that
    parse is skipped for a sample of at most ``max_atoms`` characters, as every atom of a SMILES
    takes at least one); longer than :data:`~molgen.chem.mol.MAX_SMILES_LENGTH` characters is
    ``"too_long"``, before RDKit reads it."""
    out: list[tuple[str | None, str | None]] = []
    with rdkit_quiet():
        for sample in samples:
            if not isinstance(sample, str) or not sample:
                out.append((None, "empty" if sample == "" else "parse"))
                continue
            if len(sample) > MAX_SMILES_LENGTH:  # before RDKit: its time grows with the length
                out.append((None, "too_long"))
                continue
            if max_atoms is not None and len(sample) > max_atoms:
                unsanitized = Chem.MolFromSmiles(sample, sanitize=False)
                if unsanitized is not None and unsanitized.GetNumHeavyAtoms() > max_atoms:
                    out.append((None, "too_large"))
                    continue
            try:
                mol = _moses_mol(sample)
            except Exception:  # RDKit raises on some malformed inputs instead of returning None
                mol = None
            out.append((None, "parse") if mol is None else (Chem.MolToSmiles(mol), None))
    return out


def _filter_smarts() -> list[str]:
    """MOSES' MCF SMARTS (``mcf.csv``, header ``names,smarts``) and PAINS SMARTS
    (``wehi_pains.csv``, no header, ``smarts,name``), in MOSES' order."""
    with open(moses_file("metrics/mcf.csv"), newline="") as f:
        mcf = [row["smarts"].strip() for row in csv.DictReader(f)]
    with open(moses_file("metrics/wehi_pains.csv"), newline="") as f:
        pains = [row[0].strip() for row in csv.reader(f) if row]
    return mcf + pains


#: Bits of RDKit's pattern fingerprint (``Chem.PatternFingerprint``'s default size).
_PATTERN_FP_BITS = 2048


def _pattern_bits(mol: Chem.Mol) -> np.ndarray:
    """``uint64[_PATTERN_FP_BITS // 64]``: the pattern fingerprint of ``mol`` (a molecule or a
    SMARTS query), packed."""
    fp = Chem.PatternFingerprint(mol, _PATTERN_FP_BITS)
    bits = np.frombuffer(fp.ToBitString().encode(), np.uint8) == ord("1")
    return np.packbits(bits).view(np.uint64)


@functools.cache
def _filter_patterns() -> tuple[tuple[Chem.Mol, ...], np.ndarray]:
    """MOSES' MCF and PAINS patterns and their packed pattern fingerprints
    (``uint64[n_patterns, _PATTERN_FP_BITS // 64]``)."""
    patterns = []
    for k, smarts in enumerate(_filter_smarts()):
        pattern = Chem.MolFromSmarts(smarts)
        if pattern is None:
            raise ValueError(f"MOSES filter {k}: SMARTS {smarts!r} does not parse")
        patterns.append(pattern)
    return tuple(patterns), np.stack([_pattern_bits(p) for p in patterns])


def _matches_a_filter(mol: Chem.Mol) -> bool:
    """Whether any MCF or PAINS pattern matches ``mol``. A pattern is matched only when its
    pattern-fingerprint bits are all set in the molecule's: RDKit's pattern fingerprint is a
    substructure screen (every bit a query sets is set in any molecule it matches), so the
    screen skips only patterns that cannot match and the answer is that of matching all of them
    (checked pattern by pattern in the tests); it leaves about 1 pattern in 20 to match."""
    patterns, pattern_bits = _filter_patterns()
    mol_bits = _pattern_bits(mol)
    candidates = np.flatnonzero(~(pattern_bits & ~mol_bits).any(axis=1))
    return any(mol.HasSubstructMatch(patterns[k]) for k in candidates)


def passes_moses_filters(mol: Chem.Mol) -> bool:
    """MOSES ``mol_passes_filters`` of a sanitized molecule: no ring of 8 or more atoms, no
    formal charge, only :data:`MOSES_ALLOWED_ATOMS`, no MCF or PAINS match (on the molecule with
    explicit hydrogens, as the PAINS SMARTS spell hydrogens as atoms), and its non-isomeric
    SMILES is non-empty and parses again."""
    if any(len(ring) >= MOSES_MAX_RING for ring in mol.GetRingInfo().AtomRings()):
        return False
    atoms = mol.GetAtoms()
    if any(atom.GetFormalCharge() != 0 for atom in atoms):
        return False
    if any(atom.GetSymbol() not in MOSES_ALLOWED_ATOMS for atom in atoms):
        return False
    if _matches_a_filter(Chem.AddHs(mol)):
        return False
    smiles = Chem.MolToSmiles(mol, isomericSmiles=False)
    return bool(smiles) and Chem.MolFromSmiles(smiles) is not None
