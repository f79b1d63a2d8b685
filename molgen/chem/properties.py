"""Per-molecule properties, fingerprints, fragments and scaffolds (all RDKit work of the metrics).

Every function here takes a *sanitized* RDKit molecule, or canonical SMILES strings for the batch
functions :func:`classify_smiles` and :func:`compute_features`, which are top-level so a
multiprocessing pool can pickle them.

Sources of the definitions:

* QED: ``rdkit.Chem.QED.qed`` (Bickerton et al. 2012, default weights);
* logP: ``rdkit.Chem.Crippen.MolLogP`` (Wildman & Crippen 1999);
* SA: ``sascorer.calculateScore`` from RDKit's Contrib/SA_Score (Ertl & Schuffenhauer 2009);
* MolGAN's normalised logP and SA: ``MolecularMetrics`` in nicola-decao/MolGAN
  ``utils/molecular_metrics.py`` (see :func:`normalized_logp`, :func:`normalized_sa`);
* Morgan fingerprints: RDKit's Morgan generator, radius 2 (ECFP4-like), as bit vectors;
* BRICS fragments and Bemis-Murcko scaffolds: MOSES ``moses/metrics/utils.py`` (``fragmenter``,
  ``compute_scaffold`` with ``min_rings=2``);
* KL descriptors: GuacaMol ``KLDivBenchmark.pc_descriptor_subset``;
* molecular weight: ``Descriptors.MolWt`` (MOSES ``weight``); MOSES' filters:
  :func:`molgen.chem.moses.passes_moses_filters`;
* rings (:func:`ring_counts`): RDKit's ring perception (``mol.GetRingInfo()``, the symmetrized
  SSSR of sanitization), the rings MOSES' filters read for their large-ring rule.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from rdkit import Chem
from rdkit.Chem import (
    QED,
    AllChem,
    Crippen,
    Descriptors,
    FilterCatalog,
    MolSurf,
    rdFingerprintGenerator,
)
from rdkit.Chem import rdMolDescriptors as rdmd
from rdkit.Chem.Scaffolds import MurckoScaffold

from molgen.chem.mol import check_mol, check_smiles, parse_smiles
from molgen.chem.moses import MOSES_MAX_RING, passes_moses_filters
from molgen.chem.rdlog import rdkit_quiet

try:  # RDKit ships the SA scorer as a Contrib module, importable in current wheels
    from rdkit.Contrib.SA_Score import sascorer
except ImportError:  # older layouts: Contrib is a plain directory
    import os
    import sys

    from rdkit.Chem import RDConfig

    sys.path.append(os.path.join(RDConfig.RDContribDir, "SA_Score"))
    import sascorer

__all__ = [
    "FEATURES",
    "KL_DESCRIPTORS",
    "RING_SIZE_BINS",
    "RingCounts",
    "brics_fragments",
    "classify_smiles",
    "compute_features",
    "kl_descriptors",
    "logp",
    "morgan_bits",
    "murcko_scaffold",
    "normalized_logp",
    "normalized_sa",
    "qed",
    "qed_properties",
    "ring_counts",
    "sa_score",
]

#: MolGAN's logP range (``water_octanol_partition_coefficient_scores``).
MOLGAN_LOGP_RANGE = (-2.12178879609, 6.0429063424)
#: MolGAN's SA remap: ``remap(sa, 5, 1.5)``, i.e. SA 5 -> 0 and SA 1.5 -> 1.
MOLGAN_SA_RANGE = (5.0, 1.5)

#: GuacaMol's KL-divergence descriptors; the first four are continuous, the rest integer-valued.
KL_DESCRIPTORS = (
    "BertzCT",
    "MolLogP",
    "MolWt",
    "TPSA",
    "NumHAcceptors",
    "NumHDonors",
    "NumRotatableBonds",
    "NumAliphaticRings",
    "NumAromaticRings",
)
N_CONTINUOUS_KL_DESCRIPTORS = 4

#: Fingerprints used by the metrics: (radius, bits). ``morgan`` is MOSES' (intdiv, snn),
#: ``morgan4096`` GuacaMol's (internal similarity in the KL score).
FINGERPRINTS = {"morgan": (2, 1024), "morgan4096": (2, 4096)}

#: Names accepted by :func:`compute_features`.
FEATURES = (
    "qed",
    "logp",
    "sa",
    "weight",
    "kl_descriptors",
    "fragments",
    "scaffold",
    "moses_filters",
    *FINGERPRINTS,
)


@functools.cache
def _morgan_generator(radius: int, n_bits: int) -> rdFingerprintGenerator.FingerprintGenerator64:
    return rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=n_bits)


@functools.cache
def _alerts() -> FilterCatalog.FilterCatalog:
    """QED's 116 structural alerts as one catalog: a single C++ call reports every match."""
    catalog = FilterCatalog.FilterCatalog()
    for k, alert in enumerate(QED.StructuralAlerts):
        catalog.AddEntry(
            FilterCatalog.FilterCatalogEntry(f"alert{k}", FilterCatalog.SmartsMatcher(alert))
        )
    return catalog


def qed_properties(mol: Chem.Mol) -> QED.QEDproperties:
    """``rdkit.Chem.QED.properties(mol)``, the same values computed about twice as fast.

    ALERTS counts the alerts that match, as RDKit does, but through one ``FilterCatalog`` call
    instead of 116 ``HasSubstructMatch`` calls. ``RemoveHs`` is skipped when the molecule has no
    hydrogen atoms (it would return an identical copy), so RDKit's per-molecule caches (Crippen
    contributions, TPSA) are shared with the other descriptors computed on ``mol``.
    """
    if mol.GetNumHeavyAtoms() < mol.GetNumAtoms():  # hydrogens (or dummies) as atoms
        mol = Chem.RemoveHs(mol)
    return QED.QEDproperties(
        MW=rdmd._CalcMolWt(mol),
        ALOGP=Crippen.MolLogP(mol),
        HBA=sum(
            len(mol.GetSubstructMatches(pattern))
            for pattern in QED.Acceptors
            if mol.HasSubstructMatch(pattern)
        ),
        HBD=rdmd.CalcNumHBD(mol),
        PSA=MolSurf.TPSA(mol),
        ROTB=rdmd.CalcNumRotatableBonds(mol, rdmd.NumRotatableBondsOptions.Strict),
        AROM=len(Chem.GetSSSR(Chem.DeleteSubstructs(Chem.Mol(mol), QED.AliphaticRings))),
        ALERTS=len(_alerts().GetMatches(mol)),
    )


def qed(mol: Chem.Mol) -> float:
    """RDKit's QED with the default (mean) weights (``QED.qed``, properties from
    :func:`qed_properties`)."""
    return QED.qed(mol, qedProperties=qed_properties(mol))


def logp(mol: Chem.Mol) -> float:
    """Wildman-Crippen logP (``Crippen.MolLogP``)."""
    return Crippen.MolLogP(mol)


def sa_score(mol: Chem.Mol) -> float:
    """Synthetic accessibility in [1, 10] (1 = easy), RDKit Contrib's ``sascorer``."""
    return sascorer.calculateScore(mol)


def _remap_clip(values: np.ndarray | float, low: float, high: float) -> np.ndarray:
    return np.clip((np.asarray(values, dtype=np.float64) - low) / (high - low), 0.0, 1.0)


def normalized_logp(values: np.ndarray | float) -> np.ndarray:
    r"""MolGAN's normalised logP: :math:`\mathrm{clip}((x + 2.1218) / (6.0429 + 2.1218), 0, 1)`.

    From ``MolecularMetrics.water_octanol_partition_coefficient_scores(norm=True)``:
    ``np.clip(remap(logp, -2.12178879609, 6.0429063424), 0, 1)``.
    """
    return _remap_clip(values, *MOLGAN_LOGP_RANGE)


def normalized_sa(values: np.ndarray | float) -> np.ndarray:
    r"""MolGAN's normalised SA score: :math:`\mathrm{clip}((x - 5) / (1.5 - 5), 0, 1)`.

    From ``MolecularMetrics.synthetic_accessibility_score_scores(norm=True)``:
    ``np.clip(remap(sa, 5, 1.5), 0, 1)``, so 1 means easy to synthesise.
    """
    return _remap_clip(values, *MOLGAN_SA_RANGE)


def morgan_bits(mol: Chem.Mol, radius: int = 2, n_bits: int = 1024) -> np.ndarray:
    """Morgan bit vector as a ``uint8`` array of shape ``[n_bits]`` (same bits as
    ``AllChem.GetMorganFingerprintAsBitVect(mol, radius, nBits=n_bits)``)."""
    generator = _morgan_generator(radius, n_bits)
    return generator.GetFingerprintAsNumPy(mol).astype(np.uint8, copy=False)


def brics_fragments(mol: Chem.Mol) -> list[str]:
    """MOSES' ``fragmenter``: SMILES of the pieces left by cutting every BRICS bond (with the
    dummy atoms marking the cuts)."""
    return Chem.MolToSmiles(AllChem.FragmentOnBRICSBonds(mol)).split(".")


def murcko_scaffold(mol: Chem.Mol, min_rings: int = 2) -> str | None:
    """MOSES' ``compute_scaffold``: Bemis-Murcko scaffold SMILES, None when it has fewer than
    ``min_rings`` rings (acyclic molecules included) or RDKit cannot compute it."""
    try:
        scaffold = MurckoScaffold.GetScaffoldForMol(mol)
    except (ValueError, RuntimeError):
        return None
    smiles = Chem.MolToSmiles(scaffold)
    if smiles == "" or scaffold.GetRingInfo().NumRings() < min_rings:
        return None
    return smiles


def kl_descriptors(mol: Chem.Mol) -> np.ndarray:
    """GuacaMol's nine physchem descriptors (:data:`KL_DESCRIPTORS`), non-finite values set to 0
    as GuacaMol's ``_calculate_pc_descriptors`` does."""
    values = np.array([getattr(Descriptors, name)(mol) for name in KL_DESCRIPTORS], np.float64)
    values[~np.isfinite(values)] = 0.0
    return values


#: Ring sizes counted one by one by :class:`RingCounts`; the last bin holds every ring of
#: :data:`~molgen.chem.moses.MOSES_MAX_RING` (8) atoms or more.
RING_SIZE_BINS = tuple(range(3, MOSES_MAX_RING + 1))


@dataclass(frozen=True)
class RingCounts:
    """Ring counts summed over molecules (``+`` adds two sets' counts, so parts computed apart
    sum to the counts of the whole): ``molecules`` counted, ``rings`` (their SSSR rings),
    ``aromatic_rings`` (rings whose bonds are all aromatic, RDKit's ``NumAromaticRings``),
    ``rings_by_size`` (rings of 3, 4, 5, 6, 7 and >= 8 atoms: :data:`RING_SIZE_BINS`) and
    ``with_large_ring`` (molecules with a ring of >= 8 atoms, those MOSES' filters reject)."""

    molecules: int = 0
    rings: int = 0
    aromatic_rings: int = 0
    rings_by_size: tuple[int, ...] = (0,) * len(RING_SIZE_BINS)
    with_large_ring: int = 0

    def __add__(self, other: RingCounts) -> RingCounts:
        return RingCounts(
            self.molecules + other.molecules,
            self.rings + other.rings,
            self.aromatic_rings + other.aromatic_rings,
            tuple(a + b for a, b in zip(self.rings_by_size, other.rings_by_size, strict=True)),
            self.with_large_ring + other.with_large_ring,
        )


def _ring_counts_of(mol: Chem.Mol) -> RingCounts:
    rings = mol.GetRingInfo()
    sizes = [len(atoms) for atoms in rings.AtomRings()]
    aromatic = sum(
        all(mol.GetBondWithIdx(b).GetIsAromatic() for b in bonds) for bonds in rings.BondRings()
    )
    by_size = [0] * len(RING_SIZE_BINS)
    for size in sizes:
        by_size[min(size, MOSES_MAX_RING) - RING_SIZE_BINS[0]] += 1
    large = any(size >= MOSES_MAX_RING for size in sizes)
    return RingCounts(1, len(sizes), aromatic, tuple(by_size), int(large))


def ring_counts(smiles: Iterable[str]) -> RingCounts:
    """:class:`RingCounts` of the molecules of ``smiles`` (each must parse and sanitize; a
    SMILES of several fragments is one molecule). Raises ValueError naming a SMILES that does
    not."""
    total = RingCounts()
    for text in smiles:
        mol = parse_smiles(text)
        if mol is None:
            raise ValueError(f"smiles: {text!r} does not parse and sanitize")
        total += _ring_counts_of(mol)
    return total


def classify_smiles(
    samples: Sequence[str | Chem.Mol | None], max_atoms: int | None = None
) -> list[tuple[str | None, str | None]]:
    """``(canonical SMILES or None, reason or None)`` per sample (SMILES or unsanitized RDKit
    molecule, which is copied, not modified); None is a ``"parse"`` failure, "" ``"empty"``,
    more than ``max_atoms`` heavy atoms ``"too_large"``.

    The canonical SMILES is set whenever the molecule sanitizes (also when it is disconnected),
    the reason is None exactly when the sample is strict-valid (see ``molgen.chem.mol``).
    """
    out: list[tuple[str | None, str | None]] = []
    with rdkit_quiet():  # the reason is reported instead of RDKit's message
        for sample in samples:
            if isinstance(sample, Chem.Mol):
                checked = check_mol(Chem.Mol(sample), max_atoms=max_atoms)
            elif isinstance(sample, str):
                checked = check_smiles(sample, max_atoms=max_atoms)
            else:
                out.append((None, "parse"))
                continue
            out.append((checked.smiles, checked.reason))
    return out


def compute_features(
    canonical: Sequence[str], names: Iterable[str]
) -> dict[str, np.ndarray | list]:
    """Features of canonical SMILES (each must parse; molgen's are strict-valid, MOSES' may be
    disconnected); one entry per name in ``names``.

    ``qed``/``logp``/``sa``/``weight``: ``float64[n]``; ``moses_filters``: ``float64[n]`` of 0/1;
    ``kl_descriptors``: ``float64[n, 9]``;
    fingerprint names (:data:`FINGERPRINTS`): bit-packed ``uint8[n, bits / 8]``;
    ``fragments``: list of lists of SMILES; ``scaffold``: list of SMILES or None.
    """
    names = tuple(names)
    unknown = set(names) - set(FEATURES)
    if unknown:
        raise ValueError(f"names: unknown features {sorted(unknown)}; known: {FEATURES}")
    columns: dict[str, list] = {name: [] for name in names}
    for smiles in canonical:
        mol = parse_smiles(smiles)
        if mol is None:
            raise ValueError(f"canonical: {smiles!r} does not parse (pass canonical SMILES)")
        for name in names:
            columns[name].append(_feature(mol, name))
    out: dict[str, np.ndarray | list] = {}
    for name, values in columns.items():
        if name in ("fragments", "scaffold"):
            out[name] = values
        elif name in FINGERPRINTS:
            n_bytes = FINGERPRINTS[name][1] // 8
            out[name] = np.array(values, np.uint8).reshape(len(values), n_bytes)
        elif name == "kl_descriptors":
            out[name] = np.array(values, np.float64).reshape(len(values), len(KL_DESCRIPTORS))
        else:
            out[name] = np.array(values, np.float64)
    return out


def _feature(mol: Chem.Mol, name: str):
    if name in FINGERPRINTS:
        radius, n_bits = FINGERPRINTS[name]
        return np.packbits(morgan_bits(mol, radius, n_bits))
    return _PER_MOLECULE[name](mol)


_PER_MOLECULE = {
    "qed": qed,
    "logp": logp,
    "sa": sa_score,
    "weight": Descriptors.MolWt,
    "moses_filters": passes_moses_filters,
    "kl_descriptors": kl_descriptors,
    "fragments": brics_fragments,
    "scaffold": murcko_scaffold,
}
