import pytest
import torch
import torch.nn.functional as F
from rdkit import Chem
from rdkit.Chem import QED

from molgen.chem import Vocabulary, encode
from molgen.chem.properties import normalized_sa, sa_score
from molgen.training.rewards import molecule_rewards


def one_hot(smiles, vocab):
    x, adj = encode(smiles, vocab)
    return F.one_hot(x, vocab.num_atom_types).float(), F.one_hot(adj, vocab.num_bond_types).float()


def test_rewards_are_products_of_rdkit_scores_and_zero_for_invalid():
    smiles = ["CCO", "c1ccccc1O", "CC(C)=O"]
    vocab = Vocabulary.from_smiles(smiles, max_atoms=9)
    x, adj = one_hot(smiles, vocab)
    # A fourth graph with pentavalent carbon (invalid) built by adding bonds to the first.
    bad_x, bad_adj = x[:1].clone(), adj[:1].clone()
    for j in range(1, 6):
        bad_x[0, j] = F.one_hot(torch.tensor(1 + vocab.atom_types.index("C")), vocab.num_atom_types)
        bad_adj[0, 0, j] = bad_adj[0, j, 0] = F.one_hot(torch.tensor(1), vocab.num_bond_types)
    x, adj = torch.cat([x, bad_x]), torch.cat([adj, bad_adj])

    rewards = molecule_rewards((x, adj), vocab, ["validity", "qed"])
    expected = [QED.qed(Chem.MolFromSmiles(s)) for s in smiles] + [0.0]
    assert rewards.tolist() == pytest.approx(expected, abs=1e-6)
    assert molecule_rewards((x, adj), vocab, ["validity"]).tolist() == [1.0, 1.0, 1.0, 0.0]


def test_rewards_score_hydrogen_nodes_as_the_parsed_molecule():
    # methanol with its hydrogens as graph nodes is scored as methanol (hydrogens removed)
    vocab = Vocabulary(("C", "O", "H"), max_atoms=6)
    x = F.one_hot(torch.tensor([[1, 2, 3, 3, 3, 3]]), vocab.num_atom_types).float()
    bonds = torch.zeros(1, 6, 6, dtype=torch.long)
    for i, j in [(0, 1), (0, 2), (0, 3), (0, 4), (1, 5)]:
        bonds[0, i, j] = bonds[0, j, i] = vocab.bond_class("SINGLE")
    adj = F.one_hot(bonds, vocab.num_bond_types).float()
    rewards = molecule_rewards((x, adj), vocab, ["sa"])  # SA counts atoms: hydrogens matter
    expected = normalized_sa(sa_score(Chem.MolFromSmiles("CO")))
    assert rewards.tolist() == pytest.approx([expected], abs=1e-6)


def test_unknown_objective_is_rejected():
    vocab = Vocabulary.from_smiles(["CC"], max_atoms=4)
    with pytest.raises(ValueError, match="objectives"):
        molecule_rewards(one_hot(["CC"], vocab), vocab, ["toxicity"])
