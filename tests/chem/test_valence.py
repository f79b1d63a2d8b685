import math

import pytest

from molgen.chem import Vocabulary, mol_graphs
from molgen.chem.graph import BOND_TYPES
from molgen.chem.valence import (
    BOND_ORDERS,
    aromatic_rings_problem,
    aromatic_role,
    aromatic_roles,
    atom_valence,
    atom_valences,
    bond_orders,
)
from molgen.data import bundled_path, read_smiles

#: Drug-like molecules beyond QM9's elements: sulfone, sulfonamide, thiol, nitro (N+ and O-),
#: phosphate, halogens, a pyrrole NH, a carboxylate.
DRUG_LIKE = [
    "CS(=O)(=O)c1ccc(Cl)cc1",
    "NS(=O)(=O)c1ccc(Br)cc1",
    "CCS",
    "O=[N+]([O-])c1ccccc1",
    "COP(=O)(OC)OC",
    "c1cc[nH]c1",
    "CC(=O)[O-]",
    "FC(F)(F)c1ccc(I)cc1",
    "C[S+](C)C",
]


@pytest.mark.parametrize(
    ("symbol", "valence"),
    [
        ("C", 4), ("N", 3), ("N+", 4), ("N-", 2), ("O", 2), ("O-", 1), ("O+", 3), ("C-", 3),
        ("F", 1), ("S", 6), ("Cl", 1), ("Br", 1), ("P", 5), ("NH", 2), ("CH0", 4),
    ],
)  # fmt: skip
def test_atom_valence_by_hand(symbol, valence):
    assert atom_valence(symbol) == valence


def test_no_valence_limit_is_inf():
    assert atom_valence("Fe") == math.inf


def test_vocabulary_budgets_and_costs_by_class():
    vocab = Vocabulary(("C", "N", "O", "F", "N+", "O-"), ("SINGLE", "DOUBLE", "TRIPLE", "AROMATIC"))
    by_class = dict(zip(("<pad>", *vocab.atom_types), atom_valences(vocab), strict=True))
    assert by_class == {"<pad>": 0, "C": 4, "N": 3, "O": 2, "F": 1, "N+": 4, "O-": 1}
    assert bond_orders(vocab) == [0.0, 1.0, 2.0, 3.0, 1.0]
    assert bond_orders(Vocabulary(("C",))) == [0.0, 1.0, 2.0, 3.0]


def _over_budget(smiles: list[str], aromatic: bool) -> list[str]:
    """Molecules in which some atom carries more bond order than its type's budget."""
    bad = []
    for s, graph in zip(smiles, mol_graphs(smiles, aromatic=aromatic), strict=True):
        assert not isinstance(graph, str), graph
        spent = [0.0] * len(graph.atoms)
        for i, j, bond_type in graph.bonds:
            spent[i] += BOND_ORDERS[bond_type]
            spent[j] += BOND_ORDERS[bond_type]
        if any(spent[k] > atom_valence(a) for k, a in enumerate(graph.atoms)):
            bad.append(s)
    return bad


@pytest.mark.parametrize("aromatic", [False, True])
def test_every_bundled_qm9_molecule_fits_the_budgets(aromatic):
    smiles = [record.smiles for record in read_smiles(bundled_path("qm9_5k"))]
    assert len(smiles) == 5000
    assert _over_budget(smiles, aromatic) == []


@pytest.mark.parametrize("aromatic", [False, True])
def test_drug_like_molecules_fit_the_budgets(aromatic):
    assert _over_budget(DRUG_LIKE, aromatic) == []


def test_aromatic_roles_of_a_vocabulary():
    vocab = Vocabulary(("C", "N", "O", "S", "F", "NH", "N+"), BOND_TYPES, 9)
    assert aromatic_roles(vocab) == [0, 1, 3, 2, 2, 0, 2, 0]
    # The codes are the sampler's (molgen.chem cannot import molgen.nn, so they are written
    # twice).
    from molgen.nn import constrained

    assert [aromatic_role(s) for s in ("F", "C", "O", "N")] == [
        constrained.NOT_AROMATIC,
        constrained.PYRIDINE_TYPE,
        constrained.PYRROLE_TYPE,
        constrained.PYRIDINE_OR_PYRROLE_TYPE,
    ]
    with pytest.raises(ValueError, match="not an element"):
        aromatic_role("Xx")


@pytest.mark.parametrize(
    ("smiles", "problem"),
    [
        ("Cc1ccccc1", None),
        ("c1ccncc1", None),
        ("c1ccoc1", None),
        ("c1ccsc1", None),
        ("c1cc[nH]c1", None),
        ("c1c[nH]cn1", None),
        ("CC(=O)Nc1ccc(-c2ccco2)cc1", None),
        ("CCCC", None),
        ("c1ccc2ccccc2c1", "other than two aromatic bonds"),
        ("Cn1cccc1", None),  # the N takes a substituent, not a double bond
        ("Cn1ccc(-c2ccn(C)c2)c1", "more than one N-substituted"),
        ("Cn1cccc1C(C)=O", None),
        ("c1ccn(-c2ccccn2)c1", None),
        ("O=c1cccc[nH]1", "ring of 6 atoms"),
        ("C[n+]1ccccc1", "ring of 6 atoms"),
        ("c1ccc(cc1)[S](=O)c1ccsc1", None),
    ],
)
def test_aromatic_rings_problem_names_what_the_ring_rule_cannot_draw(smiles, problem):
    (graph,) = mol_graphs([smiles], aromatic=True)
    found = aromatic_rings_problem(graph)
    assert found is None if problem is None else problem in found
