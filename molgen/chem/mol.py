"""RDKit molecules: sanitisation with a named reason for failure, validity, canonical SMILES.

The one definition of validity used everywhere in molgen (decoding, metrics, training):

* ``strict``: RDKit sanitizes the molecule, every bond is single, double, triple or aromatic,
  AND it is one connected fragment;
* ``relaxed``: RDKit sanitizes it and its bonds are of those four types (disconnected
  fragments allowed).

Other bonds (``~`` unspecified, ``->`` dative, ``$`` quadruple) make a molecule invalid
(reason ``"bond_type"``): no molecule graph of molgen can hold them, so a training file skips
such a line and an evaluation counts it invalid, by this one rule.

The one reading of a molecule: the one ``Chem.MolFromSmiles`` gives (hydrogen atoms removed as
it removes them, so ``[H]OC([H])([H])[H]`` is ``CO``; bridging and lone hydrogens kept as it
keeps them), with atom-map numbers and isotopes cleared (``[CH3:1][OH:2]`` is ``CO`` too, and
``[2H]C([2H])([2H])[2H]`` and ``[13CH4]`` are ``C``: a molecule is the same whatever its
isotopes, as it is whatever its stereochemistry). Canonical form:
``Chem.MolToSmiles(mol, isomericSmiles=False)`` of that molecule. Every SMILES molgen reads
goes through :func:`check_smiles` or :func:`parse_smiles`.

A SMILES is printable ASCII (``!`` to ``~``): surrounding spaces, tabs and line ends are
stripped, and any other character makes it invalid (reason ``"characters"``; ``"encoding"`` for
the lone surrogates U+DC80..U+DCFF that stand for bytes that were not UTF-8, see
:func:`molgen.chem.files.read_lines`); one longer than :data:`MAX_SMILES_LENGTH` characters is
invalid (``"too_long"``) before RDKit reads it, which bounds RDKit's time and memory. RDKit
itself would trim control characters, NUL and non-ASCII at the ends (``CCÖ`` would be ethane),
so a sample would not be what its file says.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rdkit import Chem
from rdkit.Chem import rdqueries

from molgen.chem.files import MAX_LINE_BYTES

__all__ = [
    "MAX_SMILES_LENGTH",
    "Checked",
    "canonical_smiles",
    "check_mol",
    "check_smiles",
    "parse_smiles",
    "sanitize_reason",
    "text_problem",
]

#: Reasons a molecule is not valid, as reported by :func:`check_mol` / :func:`check_smiles`.
REASONS = (
    "encoding",
    "characters",
    "too_long",
    "too_large",
    "parse",
    "empty",
    "valence",
    "kekulization",
    "sanitization",
    "bond_type",
    "disconnected",
)

#: The longest SMILES read (characters); a line of a SMILES file is read up to this length.
MAX_SMILES_LENGTH = MAX_LINE_BYTES
#: How RDKit writes the bonds that are not single, double, triple or aromatic.
_OTHER_BONDS = ("~", "->", "<-", "$")

_NOT_SMILES_TEXT = re.compile(r"[^!-~]")  # anything but printable ASCII
_UNDECODED = re.compile(r"[\udc80-\udcff]")  # bytes that were not UTF-8 (surrogateescape)
_SURROUNDING = " \t\r\n"

_MAPPED = rdqueries.HasPropQueryAtom("molAtomMapNumber")
_ISOTOPIC = rdqueries.IsotopeGreaterQueryAtom(0)


@dataclass(frozen=True, slots=True)
class Checked:
    """Outcome of a validity check. ``mol``/``smiles`` are set whenever the molecule sanitizes
    (even when ``reason == "disconnected"``), so relaxed validity is ``mol is not None``."""

    mol: Chem.Mol | None
    smiles: str | None
    reason: str | None  # None when valid

    @property
    def valid(self) -> bool:
        return self.reason is None


def sanitize_reason(mol: Chem.Mol) -> str | None:
    """Sanitize ``mol`` in place; return None on success or the reason it failed."""
    failed = Chem.SanitizeMol(mol, catchErrors=True)
    if failed == Chem.SanitizeFlags.SANITIZE_NONE:
        return None
    if failed == Chem.SanitizeFlags.SANITIZE_PROPERTIES:
        return "valence"
    if failed == Chem.SanitizeFlags.SANITIZE_KEKULIZE:
        return "kekulization"
    return "sanitization"


def canonical_smiles(mol: Chem.Mol) -> str:
    """molgen's canonical SMILES of a sanitized molecule (stereo dropped)."""
    return Chem.MolToSmiles(mol, isomericSmiles=False)


def _standardized(mol: Chem.Mol) -> tuple[Chem.Mol | None, str | None]:
    """Sanitize ``mol`` (in place), clear its atom maps and isotopes, then remove its hydrogens
    as ``Chem.MolFromSmiles`` does: ``(molecule, None)``, or ``(None, reason)`` when it does not
    sanitize."""
    reason = sanitize_reason(mol)
    if reason is not None:
        return None, reason
    for atom in mol.GetAtomsMatchingQuery(_MAPPED):
        atom.SetAtomMapNum(0)
    for atom in mol.GetAtomsMatchingQuery(_ISOTOPIC):
        atom.SetIsotope(0)  # a deuterium is then a hydrogen, removed below
    if mol.GetNumHeavyAtoms() != mol.GetNumAtoms():  # hydrogen atoms in the graph
        # MolFromSmiles' own call (RDKit SmilesToMol: implicitOnly=False, updateExplicitCount=True,
        # default RemoveHsParameters); it sanitizes afterwards, and so do we, to name a failure.
        mol = Chem.RemoveHs(mol, implicitOnly=False, updateExplicitCount=True, sanitize=False)
        reason = sanitize_reason(mol)
        if reason is not None:
            return None, reason
    return mol, None


def check_mol(mol: Chem.Mol | None, strict: bool = True, max_atoms: int | None = None) -> Checked:
    """Sanitize an unsanitized molecule (in place) and classify it; never raises. The molecule
    returned has hydrogens removed and atom maps cleared (see the module docstring), so it may
    be a new object. More than ``max_atoms`` heavy atoms is ``"too_large"``, decided before
    any costly RDKit call (RDKit's SMILES writer crashes on chains of ~20,000 atoms)."""
    if mol is None:
        return Checked(None, None, "parse")
    if mol.GetNumAtoms() == 0:
        return Checked(None, None, "empty")
    if max_atoms is not None and mol.GetNumHeavyAtoms() > max_atoms:
        return Checked(None, None, "too_large")
    mol, reason = _standardized(mol)
    if reason is not None:
        return Checked(None, None, reason)
    smiles = canonical_smiles(mol)
    if any(bond in smiles for bond in _OTHER_BONDS):
        return Checked(None, None, "bond_type")
    if strict and len(Chem.GetMolFrags(mol)) > 1:
        return Checked(mol, smiles, "disconnected")
    return Checked(mol, smiles, None)


def text_problem(smiles: str) -> str | None:
    """``"too_long"`` when ``smiles`` (surrounding spaces, tabs and line ends aside) is longer
    than :data:`MAX_SMILES_LENGTH`, ``"encoding"`` or ``"characters"`` when it is not printable
    ASCII (see the module docstring); else None."""
    text = smiles.strip(_SURROUNDING)
    if len(text) > MAX_SMILES_LENGTH:
        return "too_long"
    if _NOT_SMILES_TEXT.search(text) is None:
        return None
    return "encoding" if _UNDECODED.search(smiles) else "characters"


def _parse_unsanitized(smiles: str) -> Chem.Mol | None:
    try:
        return Chem.MolFromSmiles(smiles.strip(_SURROUNDING), sanitize=False)
    except Exception:  # RDKit raises on some inputs (e.g. non-str) instead of returning None
        return None


def check_smiles(smiles: str, strict: bool = True, max_atoms: int | None = None) -> Checked:
    """Check the text, parse, sanitize and classify a SMILES string; never raises."""
    problem = text_problem(smiles) if isinstance(smiles, str) else None
    if problem is not None:
        return Checked(None, None, problem)
    return check_mol(_parse_unsanitized(smiles), strict, max_atoms)


def parse_smiles(smiles: str) -> Chem.Mol | None:
    """molgen's molecule of a SMILES: the sanitized molecule ``Chem.MolFromSmiles`` gives, with
    atom maps cleared; None when it does not parse or sanitize (or has no atoms). Never raises.
    (:func:`check_smiles` without the canonical SMILES and reason.)"""
    if not isinstance(smiles, str) or text_problem(smiles) is not None:
        return None
    mol = _parse_unsanitized(smiles)
    if mol is None or mol.GetNumAtoms() == 0:
        return None
    return _standardized(mol)[0]
