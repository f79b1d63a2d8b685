"""RDKit molecules: sanitisation with a named reason for failure, validity, canonical SMILES.

The one definition of validity used everywhere in molgen (decoding, metrics, training):

* ``strict``: RDKit sanitizes the molecule AND it is one connected fragment;
* ``relaxed``: RDKit sanitizes it (disconnected fragments allowed).

Canonical form: ``Chem.MolToSmiles(mol, isomericSmiles=False)``.
"""

from __future__ import annotations

from dataclasses import dataclass

from rdkit import Chem

__all__ = ["Checked", "canonical_smiles", "check_mol", "check_smiles", "sanitize_reason"]

#: Reasons a molecule is not valid, as reported by :func:`check_mol` / :func:`check_smiles`.
REASONS = ("parse", "empty", "valence", "kekulization", "sanitization", "disconnected")


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


def check_mol(mol: Chem.Mol | None, strict: bool = True) -> Checked:
    """Sanitize an unsanitized molecule (in place) and classify it; never raises."""
    if mol is None:
        return Checked(None, None, "parse")
    if mol.GetNumAtoms() == 0:
        return Checked(None, None, "empty")
    reason = sanitize_reason(mol)
    if reason is not None:
        return Checked(None, None, reason)
    smiles = canonical_smiles(mol)
    if strict and len(Chem.GetMolFrags(mol)) > 1:
        return Checked(mol, smiles, "disconnected")
    return Checked(mol, smiles, None)


def check_smiles(smiles: str, strict: bool = True) -> Checked:
    """Parse, sanitize and classify a SMILES string; never raises."""
    try:
        mol = Chem.MolFromSmiles(smiles.strip(), sanitize=False)
    except Exception:  # RDKit raises on some inputs (e.g. non-str) instead of returning None
        mol = None
    return check_mol(mol, strict)
