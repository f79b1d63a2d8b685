import numpy as np
import pytest
from rdkit import Chem
from rdkit.Chem import QED, AllChem, Crippen
from rdkit.Chem import rdMolDescriptors as rdmd

from molgen.chem.properties import (
    FEATURES,
    KL_DESCRIPTORS,
    RingCounts,
    brics_fragments,
    classify_smiles,
    compute_features,
    kl_descriptors,
    logp,
    morgan_bits,
    murcko_scaffold,
    normalized_logp,
    normalized_sa,
    qed,
    qed_properties,
    ring_counts,
    sa_score,
)


def test_normalized_logp_is_molgan_remap_clipped():
    low, high = -2.12178879609, 6.0429063424
    values = np.array([low - 1, low, (low + high) / 2, high, high + 3])
    np.testing.assert_allclose(normalized_logp(values), [0.0, 0.0, 0.5, 1.0, 1.0])
    assert normalized_logp(0.0) == pytest.approx(-low / (high - low))


def test_normalized_sa_maps_5_to_0_and_1p5_to_1():
    np.testing.assert_allclose(normalized_sa([10.0, 5.0, 3.25, 1.5, 1.0]), [0, 0, 0.5, 1, 1])


def test_scalar_properties_are_rdkit_ones():
    mol = Chem.MolFromSmiles("CC(=O)Oc1ccccc1C(=O)O")
    assert qed(mol) == QED.qed(mol)
    assert logp(mol) == Crippen.MolLogP(mol)
    assert 1.0 <= sa_score(mol) <= 10.0
    # a tiny common molecule is easier to make than a strained polycycle
    easy, hard = Chem.MolFromSmiles("CCO"), Chem.MolFromSmiles("C12C3C4C1C5C2C3C45")
    assert sa_score(easy) < sa_score(hard)


@pytest.mark.parametrize(
    "smiles",
    [
        "CCO",
        "CC(=O)Oc1ccccc1C(=O)O",
        "O=C(Cl)c1ccccc1",  # acyl halide alert
        "C=CC(=O)OCC",  # Michael acceptor alert
        "O=[N+]([O-])c1ccccc1N=Nc1ccccc1",  # several alerts at once
        "C1CO1",
        "OO",
        "[H]OC([H])([H])C",  # explicit hydrogens: removed first, as RDKit does
        "[2H]OC",
        "c1ccc2c(c1)ccc1ccccc12",
        "CC1=C(C(=O)OC2CCCC2)C(c2ccccc2[N+](=O)[O-])C(C(=O)OC)=C(C)N1",
    ],
)
def test_qed_properties_equal_rdkit(smiles):
    mol = Chem.MolFromSmiles(smiles)
    assert qed_properties(mol) == QED.properties(mol)
    assert qed(mol) == QED.qed(mol)


def test_qed_alerts_are_counted():
    assert qed_properties(Chem.MolFromSmiles("CCO")).ALERTS == 0
    assert qed_properties(Chem.MolFromSmiles("O=[N+]([O-])c1ccccc1N=Nc1ccccc1")).ALERTS >= 2


@pytest.mark.parametrize("smiles", ["CCO", "c1ccccc1O", "CC1(C)CC2CC2C1=O", "N#CC(N)C(=O)O"])
def test_morgan_bits_match_legacy_bitvect(smiles):
    mol = Chem.MolFromSmiles(smiles)
    legacy = AllChem.GetMorganFingerprintAsBitVect(mol, 2, nBits=1024)
    bits = morgan_bits(mol)
    assert bits.dtype == np.uint8 and bits.shape == (1024,)
    assert set(np.flatnonzero(bits)) == set(legacy.GetOnBits())


def test_brics_fragments():
    assert brics_fragments(Chem.MolFromSmiles("CCCC")) == ["CCCC"]  # no BRICS bond
    pieces = brics_fragments(Chem.MolFromSmiles("CCOC(=O)c1ccccc1"))
    assert len(pieces) >= 2 and all("*" in p for p in pieces)  # cut points are dummy atoms


@pytest.mark.parametrize(
    ("smiles", "scaffold"),
    [
        ("CCO", None),  # acyclic
        ("Cc1ccccc1", None),  # one ring < min_rings=2
        ("Cc1ccc2ccccc2c1", "c1ccc2ccccc2c1"),
        ("OCc1ccccc1CCc1ccccc1", "c1ccc(CCc2ccccc2)cc1"),
    ],
)
def test_murcko_scaffold_moses_definition(smiles, scaffold):
    assert murcko_scaffold(Chem.MolFromSmiles(smiles)) == scaffold


def test_kl_descriptors_of_ethanol():
    values = dict(zip(KL_DESCRIPTORS, kl_descriptors(Chem.MolFromSmiles("CCO")), strict=True))
    assert values["MolWt"] == pytest.approx(46.069, abs=1e-3)
    assert values["TPSA"] == pytest.approx(20.23, abs=1e-2)
    assert (values["NumHDonors"], values["NumHAcceptors"]) == (1, 1)
    assert values["NumAromaticRings"] == values["NumAliphaticRings"] == 0


def test_classify_smiles_reasons_and_canonical_form():
    out = classify_smiles(["OCC", "C.C", "C(C)(C)(C)(C)C", "c1cc1", "xx", "", None])
    assert out == [
        ("CCO", None),
        ("C.C", "disconnected"),
        (None, "valence"),
        (None, "kekulization"),
        (None, "parse"),
        (None, "empty"),
        (None, "parse"),
    ]
    # stereo is dropped in the canonical form
    assert classify_smiles(["C[C@H](N)O"]) == [("CC(N)O", None)]


def test_classify_copies_rdkit_molecules():
    mol = Chem.MolFromSmiles("c1ccccc1", sanitize=False)
    assert classify_smiles([mol]) == [("c1ccccc1", None)]
    assert not mol.GetAtomWithIdx(0).HasProp("_CIPRank")  # untouched: still unsanitized
    assert mol.NeedsUpdatePropertyCache()


def test_compute_features_shapes_and_validation():
    feats = compute_features(["CCO", "c1ccc2ccccc2c1"], FEATURES)
    assert feats["qed"].shape == (2,) and feats["kl_descriptors"].shape == (2, 9)
    assert feats["morgan"].shape == (2, 128) and feats["morgan4096"].shape == (2, 512)
    assert feats["scaffold"] == [None, "c1ccc2ccccc2c1"]
    np.testing.assert_array_equal(
        np.unpackbits(feats["morgan"][0]), morgan_bits(Chem.MolFromSmiles("CCO"))
    )
    empty = compute_features([], ["qed", "morgan"])
    assert empty["qed"].shape == (0,) and empty["morgan"].shape == (0, 128)
    with pytest.raises(ValueError, match="unknown features"):
        compute_features(["CCO"], ["molar_mass"])
    with pytest.raises(ValueError, match="does not parse"):
        compute_features(["C(C)(C)(C)(C)C"], ["qed"])


# name: (SMILES, rings by size 3, 4, 5, 6, 7, >=8, aromatic rings), counted by hand
HAND_COUNTED_RINGS = {
    "benzene": ("c1ccccc1", (0, 0, 0, 1, 0, 0), 1),
    "naphthalene": ("c1ccc2ccccc2c1", (0, 0, 0, 2, 0, 0), 2),
    "pyridine": ("c1ccncc1", (0, 0, 0, 1, 0, 0), 1),
    "indole": ("c1ccc2[nH]ccc2c1", (0, 0, 1, 1, 0, 0), 2),
    "tetralin": ("c1ccc2c(c1)CCCC2", (0, 0, 0, 2, 0, 0), 1),  # one aromatic, one saturated
    "cyclohexene": ("C1=CCCCC1", (0, 0, 0, 1, 0, 0), 0),
    "cyclopropane": ("C1CC1", (1, 0, 0, 0, 0, 0), 0),
    "cyclobutane": ("C1CCC1", (0, 1, 0, 0, 0, 0), 0),
    "cycloheptane": ("C1CCCCCC1", (0, 0, 0, 0, 1, 0), 0),
    "cyclooctane": ("C1CCCCCCC1", (0, 0, 0, 0, 0, 1), 0),
    "15-membered lactone": ("O=C1CCCCCCCCCCCCCO1", (0, 0, 0, 0, 0, 1), 0),
    "benzo-macrocycle": ("c1ccc2c(c1)CCCCCCCCCC2", (0, 0, 0, 1, 0, 1), 1),  # 6 + 12 atoms
    "ethanol": ("CCO", (0,) * 6, 0),
}


@pytest.mark.parametrize("name", HAND_COUNTED_RINGS)
def test_ring_counts_match_hand_counts(name):
    smiles, by_size, aromatic = HAND_COUNTED_RINGS[name]
    counts = ring_counts([smiles])
    assert counts.molecules == 1
    assert counts.rings_by_size == by_size and counts.rings == sum(by_size)
    assert counts.aromatic_rings == aromatic
    assert counts.with_large_ring == (by_size[-1] > 0)


def test_ring_counts_sum_over_molecules_and_parts():
    smiles = [entry[0] for entry in HAND_COUNTED_RINGS.values()]
    whole = ring_counts(smiles)
    assert whole == ring_counts(smiles[:5]) + ring_counts(smiles[5:])
    assert whole.molecules == len(smiles)
    by_size = [entry[1] for entry in HAND_COUNTED_RINGS.values()]
    assert whole.rings_by_size == tuple(map(sum, zip(*by_size, strict=True)))
    assert whole.with_large_ring == 3  # cyclooctane, the lactone, the benzo-macrocycle
    assert ring_counts([]) == RingCounts()


def test_aromatic_ring_count_is_rdkits_on_drug_like_molecules():
    drugs = [
        "CC(=O)Oc1ccccc1C(=O)O",
        "CN1C=NC2=C1C(=O)N(C(=O)N2C)C",  # caffeine written kekulé: RDKit aromatizes both rings
        "Cc1ccc(cc1)S(=O)(=O)N",
        "O=C(O)c1ccc2[nH]c3ccccc3c2c1",
    ]
    expected = sum(rdmd.CalcNumAromaticRings(Chem.MolFromSmiles(s)) for s in drugs)
    assert ring_counts(drugs).aromatic_rings == expected


def test_ring_counts_refuse_an_unparsable_smiles():
    with pytest.raises(ValueError, match="C1CC"):
        ring_counts(["c1ccccc1", "C1CC"])
