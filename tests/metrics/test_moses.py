import importlib.util
import math
from collections import Counter

import numpy as np
import pytest
from rdkit import Chem, DataStructs
from rdkit.Chem import Crippen, Descriptors, rdFingerprintGenerator

from molgen.chem.properties import brics_fragments, murcko_scaffold, qed, sa_score
from molgen.metrics import evaluate, frechet
from molgen.metrics.features import CHEMNET_MOSES, features
from molgen.metrics.moses import (
    MOSES,
    moses_references,
    read_moses_split,
    shipped_statistics,
    wasserstein_1,
)
from molgen.parallel import ProcessPool

needs_molsets = pytest.mark.skipif(
    importlib.util.find_spec("moses") is None, reason="molsets wheel not installed"
)

GENERATED = [
    "CCO", "OCC", "c1ccccc1O", "CC.O", "F/C=C/F", "F/C=C\\F", "not smiles", "",
    "CC(=O)Nc1ccc(O)cc1", "C1CCC2CCCCC2C1", "c1ccc2ccccc2c1", "C[N+](C)(C)C", "CC(=O)Nc1ccc(O)cc1",
    "O=C(O)c1ccccc1C(=O)O", "c1ccc(-c2ccccc2)cc1",
]  # fmt: skip
TEST = ["CCO", "CCCO", "c1ccccc1", "CC(=O)O", "c1ccc2ccccc2c1", "OCCO", "c1ccc(Cc2ccccc2)cc1"]
TRAIN = ["CCO", "c1ccccc1O", "CCN", "C.CO"]
_MORGAN = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=1024)


def _canonical(smiles):
    mol = Chem.MolFromSmiles(smiles) if smiles else None
    return None if mol is None else Chem.MolToSmiles(mol)


def _fps(smiles):
    return [_MORGAN.GetFingerprint(Chem.MolFromSmiles(s)) for s in smiles]


def _cosine(a: Counter, b: Counter) -> float:
    keys = set(a) | set(b)
    va = np.array([a[k] for k in keys], float)
    vb = np.array([b[k] for k in keys], float)
    return float(va @ vb / np.linalg.norm(va) / np.linalg.norm(vb))


def test_wasserstein_equals_scipy():
    scipy_stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(0)
    u, v = rng.normal(size=50), rng.normal(0.5, 2.0, size=30)
    weights = rng.integers(1, 5, size=30)
    assert wasserstein_1(u, v) == pytest.approx(scipy_stats.wasserstein_distance(u, v), abs=1e-12)
    expected = scipy_stats.wasserstein_distance(u, v, v_weights=weights)
    assert wasserstein_1(u, v, weights) == pytest.approx(expected, abs=1e-12)
    # weights are repetitions
    assert wasserstein_1(u, v, weights) == pytest.approx(wasserstein_1(u, np.repeat(v, weights)))


def test_unique_at_k_counts_the_first_k_valid_samples():
    rng = np.random.default_rng(1)
    pool = [f"{'C' * a}O{'C' * b}" for a in range(1, 25) for b in range(1, 25)]  # CnOCm
    pool += ["F/C=C/F", "F/C=C\\F", "C1CC", "xyz"]  # two stereoisomers, two invalid
    generated = [pool[i] for i in rng.integers(0, len(pool), size=1500)]
    valid = [c for c in map(_canonical, generated) if c is not None]
    got = evaluate(
        generated, benchmark=MOSES, metrics={"valid", "unique@1000", "unique@10000"}
    ).metrics
    assert got["valid"] == len(valid) / len(generated)
    assert got["unique@1000"] == len(set(valid[:1000])) / 1000
    with pytest.warns(UserWarning, match="unique@10000"):  # fewer than 10000: all valid ones
        again = evaluate(generated, benchmark=MOSES, metrics={"unique@10000"}).metrics
    assert again["unique@10000"] == got["unique@10000"] == len(set(valid)) / len(valid)


@needs_molsets
def test_every_moses_metric_matches_a_straightforward_computation(tmp_path):
    references = moses_references(
        {"test": TEST, "test_scaffolds": TEST[::-1][:5], "train": TRAIN}, cache_dir=tmp_path
    )
    metrics = set(MOSES.names) - {"FCD/Test", "FCD/TestSF"}
    with pytest.warns(UserWarning, match="unique@1000"):
        got = evaluate(GENERATED, references, benchmark=MOSES, metrics=metrics).metrics
    valid = [c for c in map(_canonical, GENERATED) if c is not None]  # duplicates kept
    mols = [Chem.MolFromSmiles(s) for s in valid]
    assert got["valid"] == len(valid) / len(GENERATED) == 13 / 15
    fps = _fps(valid)
    pair_means = [np.mean(DataStructs.BulkTanimotoSimilarity(f, fps)) for f in fps]
    squares = [np.mean(np.square(DataStructs.BulkTanimotoSimilarity(f, fps))) for f in fps]
    assert got["IntDiv"] == pytest.approx(1 - np.mean(pair_means), abs=1e-6)
    assert got["IntDiv2"] == pytest.approx(1 - np.mean(np.sqrt(squares)), abs=1e-6)
    for suffix, ref in (("Test", TEST), ("TestSF", TEST[::-1][:5])):
        nearest = [max(DataStructs.BulkTanimotoSimilarity(f, _fps(ref))) for f in fps]
        assert got[f"SNN/{suffix}"] == pytest.approx(np.mean(nearest), abs=1e-6)
        ref_mols = [Chem.MolFromSmiles(s) for s in ref]
        frag = _cosine(
            Counter(f for m in mols for f in brics_fragments(m)),
            Counter(f for m in ref_mols for f in brics_fragments(m)),
        )
        assert got[f"Frag/{suffix}"] == pytest.approx(frag, abs=1e-12)
        gen_scaf = Counter(s for s in map(murcko_scaffold, mols) if s)
        ref_scaf = Counter(s for s in map(murcko_scaffold, ref_mols) if s)
        if gen_scaf and ref_scaf:
            assert got[f"Scaf/{suffix}"] == pytest.approx(_cosine(gen_scaf, ref_scaf), abs=1e-12)
        else:
            assert math.isnan(got[f"Scaf/{suffix}"])
    # only the charged ammonium fails (fragments pass); nothing here hits MCF/PAINS
    assert got["Filters"] == pytest.approx((len(valid) - 1) / len(valid))
    test_mols = [Chem.MolFromSmiles(s) for s in TEST]
    scipy_stats = pytest.importorskip("scipy.stats")
    for key, fn in (("logP", Crippen.MolLogP), ("SA", sa_score), ("QED", qed),
                    ("weight", Descriptors.MolWt)):  # fmt: skip
        expected = scipy_stats.wasserstein_distance(
            [fn(m) for m in test_mols], [fn(m) for m in mols]
        )
        assert got[key] == pytest.approx(expected, abs=1e-9), key
    # MOSES novelty: set(canonical samples) - set(train strings as written); "c1ccccc1O" of
    # TRAIN is not RDKit's canonical form, so the sample Oc1ccccc1 counts as novel
    distinct = set(valid)
    assert got["Novelty"] == len(distinct - set(TRAIN)) / len(distinct)
    assert got["Novelty"] != len(distinct - {_canonical(s) for s in TRAIN}) / len(distinct)


def test_fcd_torch_encoding_stops_at_the_first_dot():
    got = frechet.fcd_torch_one_hot("CCl.O")
    tokens = "C N O H F Cl P B Br S I Si # ( ) + - 1 2 3 4 5 6 7 8 = [ ] @ c n o s X ."
    vocab = tokens.split()
    expected = np.zeros((350, 35))
    for row, token in enumerate(["C", "Cl", "."]):
        expected[row, vocab.index(token)] = 1
    np.testing.assert_array_equal(got, expected / 35)
    assert frechet.fcd_torch_one_hot("C" * 400)[349, vocab.index(".")] == 1 / 35


@pytest.mark.skipif(not frechet.fcd_available(), reason="fcd not installed")
@needs_molsets
def test_fcd_is_the_frechet_distance_of_fcd_torch_inputs(tmp_path):
    import torch
    from scipy import linalg

    def activations(smiles):
        batch = np.stack([frechet.fcd_torch_one_hot(_canonical(s)) for s in smiles])
        with torch.inference_mode():
            return frechet._chemnet()(torch.from_numpy(batch).float().transpose(1, 2)).numpy()

    references = moses_references({"test": TEST, "test_scaffolds": TEST[:4]}, cache_dir=tmp_path)
    got = evaluate(GENERATED, references, benchmark=MOSES, metrics={"FCD/Test"}).metrics
    valid = [s for s in GENERATED if _canonical(s) is not None]
    a, b = activations(TEST).astype(np.float64), activations(valid).astype(np.float64)
    mu_a, mu_b, cov_a, cov_b = a.mean(0), b.mean(0), np.cov(a.T), np.cov(b.T)
    covmean = linalg.sqrtm(cov_a @ cov_b).real
    expected = (mu_a - mu_b) @ (mu_a - mu_b) + np.trace(cov_a + cov_b - 2 * covmean)
    assert got["FCD/Test"] == pytest.approx(expected, rel=1e-3)


@needs_molsets
def test_moses_splits_are_read_from_the_wheel():
    test = read_moses_split("test")
    assert len(test) == 176_074 and test[0] == "CC1C2CCC(C2)C1CN(CCO)C(=O)c1ccc(Cl)cc1"


@needs_molsets
def test_shipped_statistics_are_molgens_features_of_the_same_molecules():
    test = read_moses_split("test")
    stats = shipped_statistics("test", len(test))
    head = test[:200]
    mols = [Chem.MolFromSmiles(s) for s in head]
    bits = np.stack([_MORGAN.GetFingerprintAsNumPy(m).astype(bool) for m in mols])
    np.testing.assert_array_equal(stats["morgan"][:200], np.packbits(bits, axis=1))
    for name, fn in (("logp", Crippen.MolLogP), ("sa", sa_score), ("qed", qed),
                     ("weight", Descriptors.MolWt)):  # fmt: skip
        np.testing.assert_allclose(stats[name][:200], [fn(m) for m in mols], atol=1e-6)
    # the counts are over all 176,074 molecules: the first 200's must be among them
    fragments = Counter(f for m in mols for f in brics_fragments(m))
    scaffolds = Counter(s for s in map(murcko_scaffold, mols) if s)
    assert all(stats["fragments_counts"].get(f, 0) >= n for f, n in fragments.items())
    assert all(stats["scaffold_counts"].get(s, 0) >= n for s, n in scaffolds.items())
    assert None not in stats["scaffold_counts"]


@pytest.mark.skipif(not frechet.fcd_available(), reason="fcd not installed")
@needs_molsets
def test_shipped_fcd_moments_describe_chemnet_activations_of_the_test_set():
    test = read_moses_split("test")
    moments = shipped_statistics("test", len(test))[f"fcd_{CHEMNET_MOSES}"]
    n = 1000
    drawn = [test[i] for i in np.random.default_rng(0).choice(len(test), n, replace=False)]
    acts = features(ProcessPool(), drawn, [CHEMNET_MOSES])[CHEMNET_MOSES].astype(np.float64)
    variance = np.diag(moments.cov)
    live = variance > 1e-8  # ChemNet has units that are constant on these molecules
    z = (acts.mean(0) - moments.mean)[live] / np.sqrt(variance[live] / n)
    assert np.abs(z).max() < 5  # 512 means at once: P(max |z| >= 5) < 3e-4 if they agree
    assert acts.var(0, ddof=1).sum() / variance.sum() == pytest.approx(1, abs=0.1)
    # the scaffold-test set's moments are another distribution: the same check fails there
    other = shipped_statistics("test_scaffolds", len(read_moses_split("test_scaffolds")))
    other_moments = other[f"fcd_{CHEMNET_MOSES}"]
    z_other = (acts.mean(0) - other_moments.mean)[live] / np.sqrt(variance[live] / n)
    assert np.abs(z_other).max() >= 5


@needs_molsets
def test_moses_own_test_sets_come_with_shipped_statistics():
    references = moses_references({"test": None, "test_scaffolds": TEST})
    test = references["test"]
    assert len(test) == 176_074
    shipped = shipped_statistics("test", len(test))
    got = test.fcd_stats(feature=CHEMNET_MOSES)  # read, not computed (that takes many minutes)
    np.testing.assert_array_equal(got.mean, shipped[f"fcd_{CHEMNET_MOSES}"].mean)
    assert test.counts("scaffold") == shipped["scaffold_counts"]
    # a set given as SMILES is computed from them
    mols = [Chem.MolFromSmiles(s) for s in TEST]
    expected = Counter(s for s in map(murcko_scaffold, mols) if s)
    assert references["test_scaffolds"].counts("scaffold") == expected != {}


@needs_molsets
def test_shipped_statistics_not_matching_the_set_are_computed_instead(tmp_path, monkeypatch):
    import molgen.metrics.moses as moses_module

    monkeypatch.setattr(moses_module, "read_moses_split", lambda split: TEST)
    with pytest.warns(UserWarning, match=r"test_stats.npz: cannot use .*rows \[176074\] for 7"):
        reference = moses_references({"test": None})["test"]
    assert reference.canonical == tuple(_canonical(s) for s in TEST)
    assert moses_references({"test": None}, shipped=False)["test"].canonical == reference.canonical
    corrupt = tmp_path / "test_stats.npz"
    corrupt.write_bytes(b"not an npz")
    monkeypatch.setattr(moses_module, "moses_file", lambda relative: corrupt)
    with pytest.warns(UserWarning, match="test_stats.npz: cannot use MOSES' statistics"):
        assert shipped_statistics("test", 7) is None
