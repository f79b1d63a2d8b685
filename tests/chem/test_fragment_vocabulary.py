"""The fragment vocabulary: K by coverage, node classes, site budgets, serialisation."""

import json
import pickle

import pytest
from fragment_cases import HARD

from molgen.chem import parse_smiles
from molgen.chem.fragment_vocabulary import FragmentVocabulary
from molgen.chem.ring_systems import RingSystem, ring_systems_of
from molgen.errors import InputError

#: The hard cases with common ring systems repeated, so that ranks and shares differ.
MOLECULES = HARD + ["c1ccccc1", "Cc1ccccc1", "c1ccncc1", "C1CCCCC1", "OC1CCCCC1", "Oc1ccncc1"]


def units_of(smiles: str) -> list[tuple[str | None, int]]:
    """``(unit SMILES, atoms)`` of each ring system of a molecule."""
    return [(u.smiles, len(u.atoms)) for u in ring_systems_of(parse_smiles(smiles))]


def covered_share(ring_systems, molecules) -> float:
    """Share of the molecules whose ring systems are all in ``ring_systems``, counted here."""
    known = set(ring_systems)
    return sum(all(n in known for n, _ in units_of(m)) for m in molecules) / len(molecules)


@pytest.mark.parametrize("coverage", [0.5, 0.8, 0.95, 1.0])
def test_k_is_the_fewest_most_frequent_ring_systems_reaching_the_coverage(coverage):
    vocab = FragmentVocabulary.from_smiles(MOLECULES, coverage=coverage)
    k = len(vocab.ring_systems)
    assert covered_share(vocab.ring_systems, MOLECULES) >= coverage
    assert k == 0 or covered_share(vocab.ring_systems[:-1], MOLECULES) < coverage
    assert vocab.coverage(MOLECULES) == pytest.approx(covered_share(vocab.ring_systems, MOLECULES))
    # the most frequent first: no unit left out is held by more molecules than one kept
    holding = {}
    for m in MOLECULES:
        for name in {n for n, _ in units_of(m)}:
            holding[name] = holding.get(name, 0) + 1
    kept = [holding[name] for name in vocab.ring_systems]
    assert kept == sorted(kept, reverse=True)
    left_out = [n for name, n in holding.items() if name not in vocab.ring_systems]
    assert not kept or not left_out or min(kept) >= max(left_out)
    # max_nodes: the largest fragment graph, each kept unit one node
    nodes = [
        parse_smiles(m).GetNumAtoms()
        - sum(size - 1 for name, size in units_of(m) if name in vocab.ring_systems)
        for m in MOLECULES
    ]
    assert vocab.max_nodes == max(nodes)


def test_k_is_given_or_defaults_to_95_percent_coverage():
    assert len(FragmentVocabulary.from_smiles(MOLECULES, num_ring_systems=3).ring_systems) == 3
    default = FragmentVocabulary.from_smiles(MOLECULES)
    assert default == FragmentVocabulary.from_smiles(MOLECULES, coverage=0.95)
    with pytest.raises(ValueError, match="not both"):
        FragmentVocabulary.from_smiles(MOLECULES, num_ring_systems=3, coverage=0.9)
    with pytest.raises(ValueError, match=">= 0"):
        FragmentVocabulary.from_smiles(MOLECULES, num_ring_systems=-1)
    with pytest.raises(ValueError, match="malformed"):
        FragmentVocabulary.from_smiles(["CCO", "C1CC"])


def test_site_budgets_mask_the_sites_of_each_node_class(hard_vocab):
    budgets = hard_vocab.site_budgets()
    assert budgets.shape == (hard_vocab.num_node_types, hard_vocab.max_sites)
    assert (budgets[: len(hard_vocab.atom_types) + 1] == 0).all()
    for name in hard_vocab.ring_systems:
        system = RingSystem(name)
        row = budgets[hard_vocab.node_class(name)]
        assert row[: system.num_sites].tolist() == list(system.budgets)
        assert (row[system.num_sites :] == 0).all() and (row[: system.num_sites] > 0).all()


def test_vocabulary_saves_as_json_and_pickles(hard_vocab):
    data = json.loads(json.dumps(hard_vocab.to_dict()))
    assert FragmentVocabulary.from_dict(data) == hard_vocab
    assert pickle.loads(pickle.dumps(hard_vocab)) == hard_vocab
    with pytest.raises(InputError, match="exactly the keys"):
        FragmentVocabulary.from_dict({"atom_types": ["C"]})
    with pytest.raises(InputError, match="with a ring"):
        FragmentVocabulary.from_dict({**data, "ring_systems": ["CC"]})
    with pytest.raises(ValueError, match="duplicates"):
        FragmentVocabulary(("C",), ("c1ccccc1", "c1ccccc1"), ("SINGLE",), 4)
