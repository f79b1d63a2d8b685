import importlib.util
import io
import pickle
import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from rdkit import Chem

from molgen.chem import (
    Vocabulary,
    canonical_smiles,
    check_smiles,
    decode,
    decode_mols,
    encode,
    mol_graphs,
    parse_atom_type,
)
from molgen.data import bundled_path, read_qm9pack, read_smiles

QM9_VOCAB = Vocabulary(("C", "C-", "N", "N+", "N-", "O", "O-", "F"), max_atoms=9)
CARBON, OXYGEN = QM9_VOCAB.atom_class("C"), QM9_VOCAB.atom_class("O")
SINGLE, DOUBLE = QM9_VOCAB.bond_class("SINGLE"), QM9_VOCAB.bond_class("DOUBLE")

needs_qm9pack = pytest.mark.skipif(
    importlib.util.find_spec("qm9pack") is None, reason="needs the qm9 extra (qm9pack)"
)


def reference(smiles: str) -> str:
    """molgen's canonical SMILES computed straight from RDKit."""
    return canonical_smiles(Chem.MolFromSmiles(smiles))


def graph(atoms: list[int], bonds: dict[tuple[int, int], int], n: int = 9):
    """One graph as a batch of one: node classes and {(i, j): bond class}, made symmetric."""
    x = torch.zeros(1, n, dtype=torch.long)
    x[0, : len(atoms)] = torch.tensor(atoms)
    adj = torch.zeros(1, n, n, dtype=torch.long)
    for (i, j), bond in bonds.items():
        adj[0, i, j] = adj[0, j, i] = bond
    return x, adj


def assert_round_trip(smiles: list[str], vocab: Vocabulary, n_jobs: int | None = None) -> None:
    decoded = decode(*encode(smiles, vocab, n_jobs=n_jobs), vocab, strict=False, n_jobs=n_jobs)
    wrong = [(s, d) for s, d in zip(smiles, decoded, strict=True) if d != reference(s)]
    assert not wrong, f"{len(wrong)} of {len(smiles)} molecules change, e.g. {wrong[:5]}"


@pytest.fixture(scope="module")
def qm9_5k() -> list[str]:
    return [r.smiles for r in read_smiles(bundled_path("qm9_5k"))]


@pytest.fixture(scope="module")
def qm9pack_smiles() -> list[str]:
    return [r.smiles for r in read_qm9pack()]


# --------------------------------------------------------------------------- vocabulary


@pytest.mark.parametrize(
    ("symbol", "expected"),
    [
        ("C", (6, 0, None)),
        ("N+", (7, 1, None)),
        ("O-", (8, -1, None)),
        ("Fe+2", (26, 2, None)),
        ("NH", (7, 0, 1)),
        ("CH0", (6, 0, 0)),
        ("NH3+", (7, 1, 3)),
        ("Cl", (17, 0, None)),
    ],
)
def test_parse_atom_type(symbol, expected):
    assert parse_atom_type(symbol) == expected


@pytest.mark.parametrize("symbol", ["", "c", "Xx", "N++", "H+-", "CN", 7])
def test_parse_atom_type_rejects_non_symbols(symbol):
    with pytest.raises(ValueError, match="atom type"):
        parse_atom_type(symbol)


def test_vocabulary_infers_charged_atom_types_and_kekulized_bonds():
    vocab = Vocabulary.from_smiles(["CC(=O)[O-]", "C[NH3+]", "CN", "c1ccccc1"])
    assert vocab.atom_types == ("C", "N", "N+", "O", "O-")
    assert vocab.bond_types == ("SINGLE", "DOUBLE", "TRIPLE")
    assert not vocab.aromatic
    assert vocab.max_atoms == 6  # benzene
    assert (vocab.num_atom_types, vocab.num_bond_types) == (6, 4)
    assert vocab.atom_class("C") == 1 and vocab.atom_class("O-") == 5
    assert "0: none" in repr(vocab) and "3: N+" in repr(vocab) and "3: TRIPLE" in repr(vocab)


def test_vocabulary_aromatic_fixes_pyrrole_hydrogen():
    vocab = Vocabulary.from_smiles(["c1cc[nH]c1", "c1ccncc1"], aromatic=True)
    assert vocab.atom_types == ("C", "N", "NH")
    assert vocab.bond_types == ("SINGLE", "DOUBLE", "TRIPLE", "AROMATIC")
    assert vocab.aromatic


def test_vocabulary_max_atoms_leaves_larger_molecules_out():
    vocab = Vocabulary.from_smiles(["CC", "CCCl"], max_atoms=2)
    assert vocab.atom_types == ("C",) and vocab.max_atoms == 2


def test_vocabulary_from_smiles_rejects_malformed():
    with pytest.raises(ValueError, match="C1CC"):
        Vocabulary.from_smiles(["CC", "C1CC"])


def test_vocabulary_serialises_to_plain_types():
    vocab = Vocabulary.from_smiles(["c1cc[nH]c1", "CC(=O)[O-]"], max_atoms=12, aromatic=True)
    buffer = io.BytesIO()
    torch.save({"vocab": vocab.to_dict()}, buffer)
    buffer.seek(0)
    restored = Vocabulary.from_dict(torch.load(buffer, weights_only=True)["vocab"])
    assert restored == vocab and hash(restored) == hash(vocab)
    assert pickle.loads(pickle.dumps(vocab)) == vocab


def test_vocabulary_normalises_symbols():
    assert Vocabulary(("N+1", "OH1")).atom_types == ("N+", "OH")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"atom_types": ()}, "at least one"),
        ({"atom_types": ("N+", "N+1")}, "duplicates"),
        ({"atom_types": ("C", "Qq")}, "Qq"),
        ({"atom_types": ("C",), "bond_types": ("SINGLE", "DATIVE")}, "bond_types"),
        ({"atom_types": ("C",), "max_atoms": 0}, "max_atoms"),
        ({"atom_types": ("C",), "max_atoms": 2.5}, "max_atoms"),
    ],
)
def test_vocabulary_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Vocabulary(**kwargs)


def test_vocabulary_from_dict_rejects_wrong_keys():
    with pytest.raises(ValueError, match="keys"):
        Vocabulary.from_dict({"atom_types": ["C"], "max_atoms": 9})


# --------------------------------------------------------------------------- encode


def test_encode_layout():
    smiles = ["CC(=O)[O-]", "C1=CC=CC=C1", "N"]
    vocab = Vocabulary.from_smiles(smiles, max_atoms=7)
    x, adj = encode(smiles, vocab)
    assert x.dtype == adj.dtype == torch.long
    assert x.shape == (3, 7) and adj.shape == (3, 7, 7)
    assert torch.equal(adj, adj.transpose(1, 2))
    assert not adj.diagonal(dim1=1, dim2=2).any()
    sizes = torch.tensor([4, 6, 1])
    assert torch.equal((x != 0).sum(1), sizes)
    for m, n in enumerate(sizes.tolist()):
        assert (x[m, :n] != 0).all()  # atoms first, padding last
        assert not adj[m, n:].any() and not adj[m, :, n:].any()  # no bond to padding
    # acetate: C-C, C=O, C-O-
    assert x[0, :4].tolist() == [vocab.atom_class(s) for s in ("C", "C", "O", "O-")]
    assert adj[0, 1, 2] == vocab.bond_class("DOUBLE") and adj[0, 1, 3] == SINGLE
    # benzene kekulized: three single and three double bonds
    assert (
        sorted(adj[1].triu().flatten()[adj[1].triu().flatten() > 0].tolist()) == [1] * 3 + [2] * 3
    )
    assert torch.equal(encode("N", vocab)[0], x[2:])  # a string is a batch of one


@pytest.mark.parametrize(
    ("smiles", "match"),
    [
        ("C1CC", "malformed SMILES 'C1CC'"),
        ("CCCl", "'CCCl'.*atom type 'Cl'"),
        ("CCCCCCCCCC", "'CCCCCCCCCC'.*10 atoms.*max_atoms=9"),
        ("", "malformed SMILES ''"),
    ],
)
def test_encode_errors_quote_the_smiles(smiles, match):
    with pytest.raises(ValueError, match=match):
        encode(["CC", smiles], QM9_VOCAB)


def test_encode_rejects_a_bond_type_outside_the_vocabulary():
    vocab = Vocabulary(("C",), bond_types=("SINGLE",), max_atoms=4)
    with pytest.raises(ValueError, match="'C=C'.*DOUBLE"):
        encode("C=C", vocab)


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize(
    "smiles",
    [
        "[NH3+]CC(=O)[O-]",  # zwitterion: charged atoms keep their hydrogens
        "C[N+](C)(C)C",
        "c1cc[nH]c1",  # aromatic [nH] rings sanitize after kekulization
        "c1nc[nH]n1",
        "O=c1cc[nH]cc1",
        "[C-]#[N+]C",
        "[CH3]",  # radical: fixed hydrogen count in the atom type
        "C[C@H](N)C(=O)O",  # stereo is dropped, as in molgen's canonical form
        "FC(F)(F)Cl",
    ],
)
@pytest.mark.parametrize("aromatic", [False, True])
def test_round_trip_hard_cases(smiles, aromatic):
    vocab = Vocabulary.from_smiles([smiles], aromatic=aromatic)
    assert_round_trip([smiles], vocab)


def test_round_trip_radical_keeps_its_radical():
    vocab = Vocabulary.from_smiles(["[CH2]C"])
    assert "CH2" in vocab.atom_types
    (checked,) = decode_mols(*encode("[CH2]C", vocab), vocab)
    assert checked.mol.GetAtomWithIdx(0).GetNumRadicalElectrons() == 1


def test_round_trip_bundled_sample(qm9_5k):
    assert_round_trip(qm9_5k, QM9_VOCAB)


def test_spellings_of_a_molecule_encode_to_it(qm9_5k, spellings):
    # explicit hydrogens, kekulé, random atom order, atom maps: one canonical form, one graph
    for smiles in qm9_5k[:100]:
        others = spellings(smiles)
        graphs = mol_graphs([smiles, *others], canonical=True)
        assert {g.smiles for g in graphs} == {reference(smiles)}, others
        assert {len(g.atoms) for g in graphs} == {len(graphs[0].atoms)}
        assert decode(*encode(others, QM9_VOCAB), QM9_VOCAB) == [reference(smiles)] * len(others)


@needs_qm9pack
def test_round_trip_qm9_sample_and_every_charged_molecule(qm9pack_smiles):
    rng = random.Random(0)
    sample = rng.sample(qm9pack_smiles, 2000)
    charged = [s for s in qm9pack_smiles if "+" in s or "-" in s]
    assert len(charged) > 400
    assert_round_trip(sample + charged, QM9_VOCAB)
    aromatic_sample = sample[:1000] + charged
    aromatic = Vocabulary.from_smiles(aromatic_sample, aromatic=True)
    assert "NH" in aromatic.atom_types  # pyrrole-type nitrogens keep their hydrogen
    assert_round_trip(aromatic_sample, aromatic)


@pytest.mark.slow
@needs_qm9pack
def test_round_trip_all_of_qm9(qm9pack_smiles):
    assert len(qm9pack_smiles) == 130_831
    assert_round_trip(qm9pack_smiles, QM9_VOCAB, n_jobs=-1)


# --------------------------------------------------------------------------- decode


def pentavalent_carbon():
    return graph([CARBON] * 6, {(0, k): SINGLE for k in range(1, 6)})


def test_decode_rejects_pentavalent_carbon():
    x, adj = pentavalent_carbon()
    assert decode(x, adj, QM9_VOCAB) == [None]
    assert decode(x, adj, QM9_VOCAB, strict=False) == [None]
    assert decode_mols(x, adj, QM9_VOCAB)[0].reason == "valence"


def test_decode_strict_rejects_fragments_and_relaxed_keeps_them():
    x, adj = graph([CARBON, CARBON, OXYGEN], {(0, 1): SINGLE})
    assert decode(x, adj, QM9_VOCAB) == [None]
    assert decode(x, adj, QM9_VOCAB, strict=False) == ["CC.O"]
    (checked,) = decode_mols(x, adj, QM9_VOCAB)
    assert checked.reason == "disconnected" and checked.smiles == "CC.O"


def test_decode_removes_hydrogen_nodes_as_parsing_does():
    vocab = Vocabulary(("C", "O", "H"), max_atoms=6)
    c, o, h = (vocab.atom_class(s) for s in "COH")
    methanol = graph([c, o, h, h, h, h], {(0, 1): 1, (0, 2): 1, (0, 3): 1, (0, 4): 1, (1, 5): 1}, 6)
    checked = decode_mols(*methanol, vocab)[0]
    assert checked.smiles == "CO" and checked.mol.GetNumAtoms() == 2


def test_decode_drops_padding_nodes_and_their_bonds():
    # padding between atoms, and bonds to padding nodes: never '*' dummy atoms
    x, adj = graph([CARBON, 0, OXYGEN, 0], {(0, 2): SINGLE, (0, 1): DOUBLE, (2, 3): SINGLE})
    assert decode(x, adj, QM9_VOCAB) == ["CO"]


def test_decode_reads_the_upper_triangle_only():
    x, adj = graph([CARBON, CARBON], {})
    adj[0, 1, 0] = DOUBLE  # lower triangle: ignored
    assert decode(x, adj, QM9_VOCAB, strict=False) == ["C.C"]
    adj[0, 0, 1] = DOUBLE
    assert decode(x, adj, QM9_VOCAB) == ["C=C"]


def test_decode_reasons():
    aromatic = Vocabulary(("C", "N"), ("SINGLE", "AROMATIC"), max_atoms=5)
    ring = graph([1] * 5, {(k, (k + 1) % 5): 2 for k in range(5)}, n=5)  # c1cccc1
    assert decode_mols(*ring, aromatic)[0].reason == "kekulization"
    empty = torch.zeros(1, 9, dtype=torch.long), torch.zeros(1, 9, 9, dtype=torch.long)
    assert decode_mols(*empty, QM9_VOCAB)[0].reason == "empty"
    x, adj = graph([CARBON, 42], {})
    assert decode_mols(x, adj, QM9_VOCAB)[0].reason == "parse"
    x, adj = graph([CARBON, CARBON], {(0, 1): -3})
    assert decode(x, adj, QM9_VOCAB) == [None]


def test_decode_mols_returns_sanitized_molecules(qm9_5k):
    smiles = qm9_5k[:50]
    for s, checked in zip(smiles, decode_mols(*encode(smiles, QM9_VOCAB), QM9_VOCAB), strict=True):
        assert checked.valid and checked.smiles == reference(s)
        assert canonical_smiles(checked.mol) == checked.smiles


def test_decode_accepts_one_hot_and_scores(qm9_5k):
    x, adj = encode(qm9_5k[:200], QM9_VOCAB)
    expected = decode(x, adj, QM9_VOCAB)
    one_hot = F.one_hot(x, QM9_VOCAB.num_atom_types).float(), F.one_hot(adj, 4).float()
    assert decode(*one_hot, QM9_VOCAB) == expected
    # generator scores: argmax is taken, so added noise smaller than the margin changes nothing
    noisy = [t * 5 + 0.1 * torch.rand_like(t) for t in one_hot]
    assert decode(*noisy, QM9_VOCAB, strict=True) == expected


@pytest.mark.parametrize(
    ("x", "adj", "match"),
    [
        (torch.zeros(2, 9, dtype=torch.long), torch.zeros(2, 8, 8, dtype=torch.long), "adj"),
        (torch.zeros(2, 9, 5), torch.zeros(2, 9, 9, dtype=torch.long), "x has 5 classes"),
        (torch.zeros(2, 9), torch.zeros(2, 9, 9, dtype=torch.long), "x must be integer"),
        (torch.zeros(9, dtype=torch.long), torch.zeros(9, 9, dtype=torch.long), "x must be"),
    ],
)
def test_decode_rejects_wrong_shapes(x, adj, match):
    with pytest.raises(ValueError, match=match):
        decode(x, adj, QM9_VOCAB)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    batch=st.integers(1, 16),
    n=st.integers(1, 9),
    low=st.integers(-3, 0),
    high=st.integers(1, 12),
)
def test_decode_never_raises_on_integer_graphs(seed, batch, n, low, high):
    rng = np.random.default_rng(seed)
    x = torch.from_numpy(rng.integers(low, high, size=(batch, n)))
    adj = torch.from_numpy(rng.integers(low, high, size=(batch, n, n)))
    for strict in (True, False):
        decoded = decode(x, adj, QM9_VOCAB, strict=strict)
        assert len(decoded) == batch
        for smiles in decoded:
            if smiles is not None:
                checked = check_smiles(smiles, strict=strict)
                assert checked.valid and checked.smiles == smiles


def test_random_graphs_with_known_validity():
    # carbon chains with random bond orders: valid exactly when no carbon's orders sum above 4
    rng = np.random.default_rng(1)
    x = torch.full((300, 6), CARBON)
    adj = torch.zeros(300, 6, 6, dtype=torch.long)
    orders = torch.from_numpy(rng.integers(1, 4, size=(300, 5)))  # single, double, triple
    for k in range(5):
        adj[:, k, k + 1] = adj[:, k + 1, k] = orders[:, k]
    valences = torch.zeros(300, 6, dtype=torch.long)
    valences[:, :5] += orders
    valences[:, 1:] += orders
    expected_valid = (valences <= 4).all(1)
    decoded = decode(x, adj, QM9_VOCAB)
    assert [d is not None for d in decoded] == expected_valid.tolist()
    assert 0 < expected_valid.sum() < 300


# --------------------------------------------------------------------------- processes


def test_n_jobs_gives_the_same_results(qm9_5k):
    smiles = qm9_5k[:1500]
    x, adj = encode(smiles, QM9_VOCAB)
    parallel = encode(smiles, QM9_VOCAB, n_jobs=2)
    assert torch.equal(x, parallel[0]) and torch.equal(adj, parallel[1])
    adj[::7, 0, 1] = adj[::7, 1, 0] = 3  # some invalid graphs too
    assert decode(x, adj, QM9_VOCAB, n_jobs=2) == decode(x, adj, QM9_VOCAB)
    in_process = decode_mols(x, adj, QM9_VOCAB)
    across = decode_mols(x, adj, QM9_VOCAB, n_jobs=2)
    assert [c.reason for c in across] == [c.reason for c in in_process]
    assert [c.smiles for c in across] == [c.smiles for c in in_process]


@pytest.mark.parametrize("n_jobs", [0, -2, 1.5, True])
def test_n_jobs_validation(n_jobs):
    with pytest.raises(ValueError, match="n_jobs"):
        encode(["C"] * 2000, QM9_VOCAB, n_jobs=n_jobs)
