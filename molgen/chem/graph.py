"""Molecules as dense graphs: the boundary between generators (tensors) and RDKit (molecules).

A molecule with ``n <= N`` heavy atoms is a pair of integer tensors

* ``x: [N]``: the atom class of each node; class 0 is "no atom" (padding);
* ``adj: [N, N]``: the bond class between two nodes; class 0 is "no bond". Symmetric, zero
  diagonal, no bond to a padding node. Real atoms come first (RDKit's order), padding last.

A :class:`Vocabulary` names the classes. An atom type is an element, optionally a fixed hydrogen
count and a formal charge: ``C``, ``N+``, ``O-``, ``NH`` (a pyrrole-type aromatic nitrogen),
``CH0`` (a carbon with no hydrogen, e.g. a radical). Hydrogens are fixed only where RDKit would
not recompute the right count from the graph, so ordinary data needs element plus charge only.
Bonds are kekulized (``SINGLE``, ``DOUBLE``, ``TRIPLE``) unless the vocabulary has ``AROMATIC``.

:func:`encode` turns SMILES into graphs, :func:`decode` turns graphs (class indices or the
generator's one-hot output) back into molgen's canonical SMILES, and :func:`decode_mols` returns
the :class:`~molgen.chem.mol.Checked` outcome (molecule, SMILES, reason for failure) for
debugging a generator. Both take ``n_jobs`` to spread large batches over processes.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import torch
from rdkit import Chem

from molgen.chem.mol import (
    MAX_SMILES_LENGTH,
    Checked,
    check_mol,
    check_smiles,
    parse_smiles,
    text_problem,
)
from molgen.chem.rdlog import rdkit_quiet
from molgen.parallel import ProcessPool

__all__ = [
    "BOND_TYPES",
    "bond_types_for",
    "MolGraph",
    "Vocabulary",
    "decode",
    "decode_mols",
    "encode",
    "mol_graphs",
    "parse_atom_type",
]

#: Bond classes a vocabulary may hold, in class order (class 0 is "no bond").
BOND_TYPES = ("SINGLE", "DOUBLE", "TRIPLE", "AROMATIC")
_RDKIT_BONDS = {name: getattr(Chem.BondType, name) for name in BOND_TYPES}
_BOND_NAMES = {bond_type: name for name, bond_type in _RDKIT_BONDS.items()}

_PERIODIC_TABLE = Chem.GetPeriodicTable()
_ATOM_TYPE = re.compile(r"(?P<element>[A-Z][a-z]?)(?:H(?P<hs>\d*))?(?P<charge>[+-]\d*)?")

#: Below this many molecules per process, a process pool costs more than it saves.
_MIN_PER_JOB = 512


# --------------------------------------------------------------------------- atom types


def bond_types_for(aromatic: bool) -> tuple[str, ...]:
    """Kekulized bond types, plus ``AROMATIC`` when aromatic bonds are kept."""
    return BOND_TYPES if aromatic else BOND_TYPES[:3]


def parse_atom_type(symbol: str) -> tuple[int, int, int | None]:
    """``"N+"`` -> ``(7, 1, None)``, ``"NH"`` -> ``(7, 0, 1)``: atomic number, formal charge,
    fixed hydrogen count (None: RDKit computes it from the valence)."""
    match = _ATOM_TYPE.fullmatch(symbol) if isinstance(symbol, str) else None
    atomic_num = _atomic_number(match["element"]) if match else 0
    if not atomic_num:
        raise ValueError(
            f"atom type {symbol!r} is not an element symbol with optional hydrogens and charge "
            "(e.g. 'C', 'N+', 'O-', 'NH', 'Fe+2')"
        )
    charge_text = match["charge"] or ""
    charge = 0
    if charge_text:
        charge = int(charge_text[1:] or 1) * (1 if charge_text[0] == "+" else -1)
    hs = match["hs"]
    return atomic_num, charge, None if hs is None else int(hs or 1)


def _atomic_number(element: str) -> int:
    try:
        return _PERIODIC_TABLE.GetAtomicNumber(element)
    except RuntimeError:  # RDKit raises on unknown element symbols
        return 0


def _atom_type_symbol(atomic_num: int, charge: int, hs: int | None) -> str:
    symbol = _PERIODIC_TABLE.GetElementSymbol(atomic_num)
    if hs is not None:
        symbol += "H" if hs == 1 else f"H{hs}"
    if charge:
        sign = "+" if charge > 0 else "-"
        symbol += sign if abs(charge) == 1 else f"{sign}{abs(charge)}"
    return symbol


def _atom_type_order(symbol: str) -> tuple[int, int, int, int]:
    atomic_num, charge, hs = parse_atom_type(symbol)
    return atomic_num, abs(charge), -charge, -1 if hs is None else hs


# --------------------------------------------------------------------------- SMILES -> graph


class MolGraph(NamedTuple):
    """A molecule as vocabulary-independent lists: ``atoms[i]`` is an atom-type symbol,
    ``bonds`` holds ``(i, j, bond_type)`` with ``i < j``; ``smiles`` is molgen's canonical SMILES
    when asked for (else None)."""

    atoms: tuple[str, ...]
    bonds: tuple[tuple[int, int, str], ...]
    smiles: str | None = None


def _mol_graph(
    smiles: str, aromatic: bool, canonical: bool, max_atoms: int | None
) -> MolGraph | None:
    """Parse one SMILES into a :class:`MolGraph`, None when it has more than ``max_atoms`` heavy
    atoms (counted before sanitizing); a ValueError says what is wrong with it."""
    problem = text_problem(smiles) if isinstance(smiles, str) else None
    if problem == "too_long":  # not quoted: the line is the problem
        raise ValueError(f"a SMILES longer than {MAX_SMILES_LENGTH:,} characters")
    if problem is not None:
        what = "bytes that are not UTF-8" if problem == "encoding" else "non-ASCII or control bytes"
        raise ValueError(f"{what} in SMILES {smiles!r}")
    reason = None
    if canonical or max_atoms is not None:
        checked = check_smiles(smiles, strict=False, max_atoms=max_atoms)
        if checked.reason == "too_large":
            return None
        mol, canonical_form = checked.mol, checked.smiles if canonical else None
        reason = checked.reason
    else:
        mol, canonical_form = parse_smiles(smiles), None
    if reason == "bond_type":
        raise ValueError(f"a bond that is not single, double, triple or aromatic in {smiles!r}")
    if mol is None:
        raise ValueError(f"malformed SMILES {smiles!r}")
    if not aromatic:
        Chem.Kekulize(mol, clearAromaticFlags=True)
    # Index loops: RDKit's GetAtoms()/GetBonds() sequences are slow Python wrappers.
    symbols = []
    bracketed = []
    for idx in range(mol.GetNumAtoms()):
        atom = mol.GetAtomWithIdx(idx)
        if atom.GetAtomicNum() == 0:
            raise ValueError(f"dummy atom '*' (no element) in SMILES {smiles!r}")
        symbols.append(_symbol_of((atom.GetAtomicNum(), atom.GetFormalCharge(), None)))
        if atom.GetNoImplicit() or atom.GetNumExplicitHs():
            bracketed.append(idx)
    if bracketed:
        _fix_hydrogens(mol, bracketed, symbols)
    bonds = []
    for idx in range(mol.GetNumBonds()):
        bond = mol.GetBondWithIdx(idx)
        name = _BOND_NAMES.get(bond.GetBondType())
        if name is None:
            raise ValueError(f"unsupported bond type {bond.GetBondType()} in SMILES {smiles!r}")
        i, j = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
        bonds.append((i, j, name) if i < j else (j, i, name))
    return MolGraph(tuple(symbols), tuple(bonds), canonical_form)


def _fix_hydrogens(mol: Chem.Mol, bracketed: list[int], symbols: list[str]) -> None:
    """Only atoms written with explicit hydrogens (``[NH3+]``, ``[nH]``, radicals) can disagree
    with the count RDKit derives from the graph; where they do, fix the count in the type."""
    probe = Chem.RWMol(mol)
    for idx in bracketed:
        probe_atom = probe.GetAtomWithIdx(idx)
        probe_atom.SetNumExplicitHs(0)
        probe_atom.SetNoImplicit(False)
        probe_atom.SetNumRadicalElectrons(0)
    probe.UpdatePropertyCache(strict=False)
    for idx in bracketed:
        atom = mol.GetAtomWithIdx(idx)
        hs = atom.GetTotalNumHs()
        if probe.GetAtomWithIdx(idx).GetTotalNumHs() != hs:
            symbols[idx] = _symbol_of((atom.GetAtomicNum(), atom.GetFormalCharge(), hs))


@functools.cache
def _symbol_of(key: tuple[int, int, int | None]) -> str:
    return _atom_type_symbol(*key)


def _mol_graphs_chunk(
    smiles: Sequence[str], aromatic: bool, canonical: bool, max_atoms: int | None
) -> list[MolGraph | str | None]:
    graphs: list[MolGraph | str | None] = []
    with rdkit_quiet():  # a failure is returned as its message instead
        for item in smiles:
            try:
                graphs.append(_mol_graph(item, aromatic, canonical, max_atoms))
            except ValueError as exc:
                graphs.append(str(exc))
    return graphs


def mol_graphs(
    smiles: Sequence[str],
    aromatic: bool = False,
    canonical: bool = False,
    n_jobs: int | None = None,
    max_atoms: int | None = None,
) -> list[MolGraph | str | None]:
    """Parse SMILES into :class:`MolGraph` s; a SMILES that fails gives the message why instead,
    one with more than ``max_atoms`` heavy atoms gives None.

    Args:
        smiles: SMILES strings.
        aromatic: keep aromatic bonds instead of kekulizing.
        canonical: also compute molgen's canonical SMILES (``MolGraph.smiles``).
        n_jobs: processes for large inputs (None or 1: this process; -1: all cores).
        max_atoms: heavy atoms at most, counted on the unsanitized parse, before RDKit's costly
            calls (sanitizing a huge molecule takes minutes, writing its SMILES can crash).
    """
    smiles = list(smiles)
    chunk = functools.partial(
        _mol_graphs_chunk, aromatic=aromatic, canonical=canonical, max_atoms=max_atoms
    )
    return _map_chunks(chunk, smiles, n_jobs)


# --------------------------------------------------------------------------- vocabulary


@dataclass(frozen=True)
class Vocabulary:
    """Atom and bond classes of the dense graphs, and their size ``N = max_atoms``.

    Atom class ``k >= 1`` is ``atom_types[k - 1]``, bond class ``k >= 1`` is
    ``bond_types[k - 1]``; class 0 is "no atom" / "no bond". Serialise with :meth:`to_dict`
    (plain lists, ints and strings, so checkpoints load with ``torch.load(weights_only=True)``).

    Args:
        atom_types: atom-type symbols, e.g. ``("C", "N", "O", "F", "N+", "O-")``.
        bond_types: bond types from :data:`BOND_TYPES`; ``AROMATIC`` keeps aromatic bonds,
            without it molecules are kekulized.
        max_atoms: ``N``, the number of nodes of every graph.
    """

    atom_types: tuple[str, ...]
    bond_types: tuple[str, ...] = BOND_TYPES[:3]
    max_atoms: int = 9

    def __post_init__(self) -> None:
        # Symbols are normalised ("N+1" -> "N+") so they match what mol_graphs produces.
        atom_types = tuple(_symbol_of(parse_atom_type(s)) for s in self.atom_types)
        bond_types = tuple(self.bond_types)
        if not atom_types:
            raise ValueError("atom_types must name at least one atom type")
        if len(set(atom_types)) != len(atom_types):
            raise ValueError(f"atom_types has duplicates: {list(atom_types)}")
        if len(atom_types) > 255 or len(bond_types) > 255:
            raise ValueError("at most 255 atom types and 255 bond types (stored as uint8)")
        unknown = [b for b in bond_types if b not in BOND_TYPES]
        if unknown or len(set(bond_types)) != len(bond_types):
            raise ValueError(
                f"bond_types must be distinct names from {BOND_TYPES}, got {bond_types}"
            )
        if isinstance(self.max_atoms, bool) or not isinstance(self.max_atoms, int):
            raise ValueError(f"max_atoms must be an int, got {self.max_atoms!r}")
        if self.max_atoms < 1:
            raise ValueError(f"max_atoms must be >= 1, got {self.max_atoms}")
        templates = []
        for symbol in atom_types:
            atomic_num, charge, hs = parse_atom_type(symbol)
            atom = Chem.Atom(atomic_num)
            atom.SetFormalCharge(charge)
            if hs is not None:
                atom.SetNumExplicitHs(hs)
                atom.SetNoImplicit(True)
            templates.append(atom)
        # Derived lookups are plain attributes, not dataclass fields (no effect on ==, repr).
        object.__setattr__(self, "atom_types", atom_types)
        object.__setattr__(self, "bond_types", bond_types)
        object.__setattr__(self, "_templates", tuple(templates))
        object.__setattr__(self, "_atom_index", {s: k for k, s in enumerate(atom_types, 1)})
        object.__setattr__(self, "_bond_index", {s: k for k, s in enumerate(bond_types, 1)})

    # ----------------------------------------------------------------- construction

    @classmethod
    def from_smiles(
        cls, smiles: Iterable[str], max_atoms: int | None = None, aromatic: bool = False
    ) -> Vocabulary:
        """Infer atom types (element + charge, hydrogens where needed); bond types are the
        kekulized ones, plus ``AROMATIC`` when ``aromatic``.

        ``max_atoms`` defaults to the largest molecule; when given, larger molecules are left
        out of the inference (they cannot be encoded). A malformed SMILES is a ValueError.
        """
        graphs = []
        for graph in mol_graphs(list(smiles), aromatic=aromatic):
            if isinstance(graph, str):
                raise ValueError(graph)
            graphs.append(graph)
        return cls.from_graphs(graphs, max_atoms, aromatic)

    @classmethod
    def from_graphs(
        cls, graphs: Sequence[MolGraph], max_atoms: int | None = None, aromatic: bool = False
    ) -> Vocabulary:
        """:meth:`from_smiles` for graphs already parsed by :func:`mol_graphs`."""
        if max_atoms is not None:
            graphs = [g for g in graphs if len(g.atoms) <= max_atoms]
        if not graphs:
            raise ValueError("cannot infer a vocabulary from no molecules")
        atom_types = {symbol for g in graphs for symbol in g.atoms}
        return cls(
            atom_types=tuple(sorted(atom_types, key=_atom_type_order)),
            bond_types=bond_types_for(aromatic),
            max_atoms=max_atoms if max_atoms is not None else max(len(g.atoms) for g in graphs),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "atom_types": list(self.atom_types),
            "bond_types": list(self.bond_types),
            "max_atoms": self.max_atoms,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Vocabulary:
        expected = {"atom_types", "bond_types", "max_atoms"}
        if not isinstance(d, dict) or set(d) != expected:
            got = sorted(d) if isinstance(d, dict) else type(d).__name__
            raise ValueError(
                f"a vocabulary dict has exactly the keys {sorted(expected)}, got {got}"
            )
        return cls(tuple(d["atom_types"]), tuple(d["bond_types"]), d["max_atoms"])

    # ----------------------------------------------------------------- properties

    @property
    def num_atom_types(self) -> int:
        """``A``: atom classes including class 0 ("no atom")."""
        return len(self.atom_types) + 1

    @property
    def num_bond_types(self) -> int:
        """``R``: bond classes including class 0 ("no bond")."""
        return len(self.bond_types) + 1

    @property
    def aromatic(self) -> bool:
        """Whether aromatic bonds are kept (else molecules are kekulized)."""
        return "AROMATIC" in self.bond_types

    def atom_class(self, symbol: str) -> int:
        """Class index of an atom-type symbol (>= 1); ValueError when it is not in here."""
        if symbol not in self._atom_index:
            raise ValueError(f"atom type {symbol!r} is not in {self!r}")
        return self._atom_index[symbol]

    def bond_class(self, bond_type: str) -> int:
        """Class index of a bond type (>= 1); ValueError when it is not in here."""
        if bond_type not in self._bond_index:
            raise ValueError(f"bond type {bond_type!r} is not in {self!r}")
        return self._bond_index[bond_type]

    def __repr__(self) -> str:
        atoms = ", ".join(f"{k}: {s}" for k, s in enumerate(self.atom_types, 1))
        bonds = ", ".join(f"{k}: {s}" for k, s in enumerate(self.bond_types, 1))
        return (
            f"Vocabulary(max_atoms={self.max_atoms}, atoms=[0: none, {atoms}], "
            f"bonds=[0: none, {bonds}])"
        )

    def __reduce__(self):  # RDKit atom templates do not pickle; rebuild them instead
        return (Vocabulary, (self.atom_types, self.bond_types, self.max_atoms))

    # ----------------------------------------------------------------- graphs -> arrays

    def encoding_problem(self, graph: MolGraph) -> str | None:
        """Why ``graph`` cannot be encoded with this vocabulary (None when it can)."""
        if len(graph.atoms) > self.max_atoms:
            return f"{len(graph.atoms)} atoms, more than max_atoms={self.max_atoms}"
        atom_index = self._atom_index
        for symbol in graph.atoms:
            if symbol not in atom_index:
                return f"atom type {symbol!r} is not in the vocabulary"
        bond_index = self._bond_index
        for _, _, bond in graph.bonds:
            if bond not in bond_index:
                return f"bond type {bond} is not in the vocabulary"
        return None

    def graphs_to_arrays(self, graphs: Sequence[MolGraph]) -> tuple[np.ndarray, np.ndarray]:
        """Fill ``x: uint8 [M, N]`` and ``adj: uint8 [M, N, N]``; every graph must pass
        :meth:`encoding_problem`."""
        n = self.max_atoms
        x = np.zeros((len(graphs), n), dtype=np.uint8)
        adj = np.zeros((len(graphs), n, n), dtype=np.uint8)
        atom_index, bond_index = self._atom_index, self._bond_index
        rows, cols, classes = [], [], []
        bond_mol, bond_i, bond_j, bond_cls = [], [], [], []
        for m, graph in enumerate(graphs):
            rows.extend([m] * len(graph.atoms))
            cols.extend(range(len(graph.atoms)))
            classes.extend(atom_index[s] for s in graph.atoms)
            for i, j, bond in graph.bonds:
                bond_mol.append(m)
                bond_i.append(i)
                bond_j.append(j)
                bond_cls.append(bond_index[bond])
        x[rows, cols] = classes
        adj[bond_mol, bond_i, bond_j] = bond_cls
        adj[bond_mol, bond_j, bond_i] = bond_cls
        return x, adj


# --------------------------------------------------------------------------- encode


def encode(
    smiles: str | Sequence[str], vocab: Vocabulary, n_jobs: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """SMILES -> dense graphs ``x: LongTensor[B, N]``, ``adj: LongTensor[B, N, N]``.

    A single string is a batch of one. A malformed SMILES, an atom or bond type outside
    ``vocab``, or more than ``vocab.max_atoms`` atoms raises a ValueError quoting the SMILES.
    ``n_jobs`` spreads parsing over processes for large batches (-1: all cores).
    """
    batch = [smiles] if isinstance(smiles, str) else list(smiles)
    graphs = mol_graphs(batch, aromatic=vocab.aromatic, n_jobs=n_jobs)
    for item, graph in zip(batch, graphs, strict=True):
        if isinstance(graph, str):
            raise ValueError(f"cannot encode: {graph}")
        problem = vocab.encoding_problem(graph)
        if problem is not None:
            raise ValueError(f"cannot encode SMILES {item!r}: {problem}")
    x, adj = vocab.graphs_to_arrays(graphs)
    return torch.from_numpy(x).long(), torch.from_numpy(adj).long()


# --------------------------------------------------------------------------- decode


def decode(
    x: torch.Tensor,
    adj: torch.Tensor,
    vocab: Vocabulary,
    strict: bool = True,
    n_jobs: int | None = None,
) -> list[str | None]:
    """Dense graphs -> molgen's canonical SMILES, or None for a graph that is not a molecule.

    Args:
        x: atom classes ``[B, N]`` (integers) or one-hot / scores ``[B, N, A]`` (argmax taken).
        adj: bond classes ``[B, N, N]`` or one-hot / scores ``[B, N, N, R]``. Only the upper
            triangle is read (generators symmetrise their bond logits); bonds to padding nodes
            are ignored.
        vocab: the vocabulary the graphs were made with (``A``, ``R`` must match one-hot input).
        strict: valid means sanitizable AND one connected fragment; False: sanitizable.
        n_jobs: processes for large batches (None or 1: this process; -1: all cores).

    Never raises on integer graphs: classes outside the vocabulary make that graph None. Shapes
    that do not fit (``adj`` not ``[B, N, N]``, one-hot width not ``A`` / ``R``, float class
    indices) are a ValueError.
    """
    return [
        checked.smiles if checked.valid else None
        for checked in _decode(x, adj, vocab, strict, n_jobs, False)
    ]


def decode_mols(
    x: torch.Tensor,
    adj: torch.Tensor,
    vocab: Vocabulary,
    strict: bool = True,
    n_jobs: int | None = None,
) -> list[Checked]:
    """:func:`decode` with the whole :class:`~molgen.chem.mol.Checked` outcome per graph: the
    sanitized RDKit molecule and SMILES when it sanitizes, and the reason it is not valid
    (``valence``, ``kekulization``, ``sanitization``, ``disconnected``, ``empty`` for a graph with
    no atoms, ``parse`` for classes outside the vocabulary)."""
    return _decode(x, adj, vocab, strict, n_jobs, True)


def _as_classes(t: torch.Tensor, name: str, dims: int, width: int) -> np.ndarray:
    """Integer classes ``[B, N(, N)]`` from class indices or from one-hot / scores."""
    t = torch.as_tensor(t).detach()
    if t.dim() == dims + 1:
        if t.shape[-1] != width:
            raise ValueError(
                f"{name} has {t.shape[-1]} classes in its last dimension, the vocabulary {width}"
            )
        t = t.argmax(-1)
    elif t.dim() != dims or t.is_floating_point() or t.is_complex():
        raise ValueError(
            f"{name} must be integer classes with {dims} dimensions or one-hot with {dims + 1}, "
            f"got {t.dtype} of shape {tuple(t.shape)}"
        )
    return t.cpu().numpy().astype(np.int64, copy=False)


class _FlatGraphs(NamedTuple):
    """A batch of graphs as flat arrays: molecule ``m`` owns the atoms
    ``atom_start[m]:atom_start[m + 1]`` and the bonds ``bond_start[m]:bond_start[m + 1]``
    (node indices already compacted)."""

    ok: np.ndarray  # [B] bool: every class in range
    atoms: np.ndarray
    atom_start: np.ndarray
    bond_i: np.ndarray
    bond_j: np.ndarray
    bond_cls: np.ndarray
    bond_start: np.ndarray

    def __len__(self) -> int:
        return len(self.ok)

    def __getitem__(self, part: slice) -> _FlatGraphs:
        lo, hi, _ = part.indices(len(self))
        a0, a1 = self.atom_start[lo], self.atom_start[hi]
        b0, b1 = self.bond_start[lo], self.bond_start[hi]
        return _FlatGraphs(
            self.ok[lo:hi],
            self.atoms[a0:a1],
            self.atom_start[lo : hi + 1] - a0,
            self.bond_i[b0:b1],
            self.bond_j[b0:b1],
            self.bond_cls[b0:b1],
            self.bond_start[lo : hi + 1] - b0,
        )


def _flatten(x: np.ndarray, adj: np.ndarray, vocab: Vocabulary) -> _FlatGraphs:
    """Vectorised over the batch: drop padding nodes, read bonds from the upper triangle."""
    batch, n = x.shape
    present = x != 0
    rows, cols = np.triu_indices(n, 1)
    upper = np.where(present[:, rows] & present[:, cols], adj[:, rows, cols], 0)
    ok = ((x >= 0) & (x < vocab.num_atom_types)).all(1)
    ok &= ((upper >= 0) & (upper < vocab.num_bond_types)).all(1)
    node = np.cumsum(present, axis=1) - 1  # node index after padding nodes are dropped
    atom_mol, atom_col = np.nonzero(present)
    bond_mol, pair = np.nonzero(upper)
    bounds = np.arange(batch + 1)
    return _FlatGraphs(
        ok=ok,
        atoms=x[atom_mol, atom_col],
        atom_start=np.searchsorted(atom_mol, bounds),
        bond_i=node[bond_mol, rows[pair]],
        bond_j=node[bond_mol, cols[pair]],
        bond_cls=upper[bond_mol, pair],
        bond_start=np.searchsorted(bond_mol, bounds),
    )


_NOT_A_MOLECULE = Checked(None, None, "parse")


def _build_chunk(
    graphs: _FlatGraphs, vocab: Vocabulary, strict: bool, keep_mols: bool
) -> list[Checked]:
    """RDKit molecules from flat graphs: one RWMol per graph, then :func:`check_mol`."""
    templates = (None, *vocab._templates)
    bond_types = (None, *(_RDKIT_BONDS[b] for b in vocab.bond_types))
    ok = graphs.ok.tolist()
    atoms, atom_start = graphs.atoms.tolist(), graphs.atom_start.tolist()
    bond_i, bond_j = graphs.bond_i.tolist(), graphs.bond_j.tolist()
    bond_cls, bond_start = graphs.bond_cls.tolist(), graphs.bond_start.tolist()
    out = []
    with rdkit_quiet():  # each failure's reason is in its Checked
        for m in range(len(ok)):
            if not ok[m]:
                out.append(_NOT_A_MOLECULE)
                continue
            mol = Chem.RWMol()
            for k in range(atom_start[m], atom_start[m + 1]):
                mol.AddAtom(templates[atoms[k]])
            for k in range(bond_start[m], bond_start[m + 1]):
                mol.AddBond(bond_i[k], bond_j[k], bond_types[bond_cls[k]])
            checked = check_mol(mol, strict)
            if not keep_mols and checked.mol is not None:
                checked = Checked(None, checked.smiles, checked.reason)  # no molecules shipped
            out.append(checked)
    return out


def _decode(
    x: torch.Tensor,
    adj: torch.Tensor,
    vocab: Vocabulary,
    strict: bool,
    n_jobs: int | None,
    keep_mols: bool,
) -> list[Checked]:
    x_classes = _as_classes(x, "x", 2, vocab.num_atom_types)
    adj_classes = _as_classes(adj, "adj", 3, vocab.num_bond_types)
    batch, n = x_classes.shape
    if adj_classes.shape != (batch, n, n):
        raise ValueError(
            f"adj must be [B, N, N] = {[batch, n, n]} to match x, got {list(adj_classes.shape)}"
        )
    chunk = functools.partial(_build_chunk, vocab=vocab, strict=strict, keep_mols=keep_mols)
    return _map_chunks(chunk, _flatten(x_classes, adj_classes, vocab), n_jobs)


# --------------------------------------------------------------------------- processes


def _map_chunks(function: Callable[[Any], list], items, n_jobs: int | None) -> list:
    """``function(items[lo:hi])`` over contiguous chunks on ``n_jobs`` processes
    (:mod:`molgen.parallel`), concatenated in order."""
    with ProcessPool(n_jobs) as pool:
        parts = pool.map(function, items, min_part=_MIN_PER_JOB)
    return [item for part in parts for item in part]
