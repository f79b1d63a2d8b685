import math
from collections import Counter

import numpy as np
import pytest
from rdkit import Chem, DataStructs
from rdkit.Chem import AllChem

import molgen.metrics as metrics
from molgen.chem.properties import brics_fragments, murcko_scaffold, qed, sa_score
from molgen.metrics import Reference, compute_metrics, evaluate
from molgen.metrics import frechet as frechet
from molgen.metrics.suite import continuous_kl, discrete_kl

# 12 samples: ethanol three times in different spellings, a salt (disconnected), a valence
# error, unparsable text, None, "", and 4 other valid molecules (one duplicated via spelling).
SAMPLES = [
    "CCO",
    "OCC",
    "C(O)C",
    "[Na+].[Cl-]",
    "C(C)(C)(C)(C)C",
    "not smiles",
    None,
    "",
    "c1ccccc1O",
    "Oc1ccccc1",
    "CC(=O)Nc1ccc(O)cc1",
    "C1CCC2CCCCC2C1",
]
# strict-valid: 3x CCO, 2x phenol, paracetamol, decalin = 7; distinct = 4
REFERENCE = ["OCC", "c1ccccc1", "CC(=O)O", "CCN", "c1ccc2ccccc2c1", "C1CCCCC1", "CCCCO"]
VALID = ["CCO"] * 3 + ["Oc1ccccc1"] * 2 + ["CC(=O)Nc1ccc(O)cc1", "C1CCC2CCCCC2C1"]


def test_counting_metrics_by_hand():
    got = compute_metrics(
        SAMPLES, REFERENCE, metrics={"validity", "validity_relaxed", "uniqueness", "novelty"}
    )
    assert got == {
        "validity": 7 / 12,
        "validity_relaxed": 8 / 12,  # the salt sanitizes
        "uniqueness": 4 / 7,
        "novelty": 3 / 4,  # ethanol is in the reference (spelled OCC there)
    }


def test_per_metric_functions_have_definitions():
    assert metrics.validity(SAMPLES) == 7 / 12
    assert metrics.novelty(SAMPLES, REFERENCE) == 3 / 4
    assert "strict-valid" in metrics.uniqueness.__doc__
    with pytest.raises(ValueError, match="needs a reference"):
        metrics.snn(SAMPLES)


def test_property_means_include_duplicates():
    got = compute_metrics(SAMPLES, metrics={"qed", "sa", "logp", "sa_normalized"})
    mols = [Chem.MolFromSmiles(s) for s in VALID]
    assert got["qed"] == pytest.approx(np.mean([qed(m) for m in mols]), rel=1e-12)
    sa = np.array([sa_score(m) for m in mols])
    assert got["sa"] == pytest.approx(sa.mean(), rel=1e-12)
    assert got["sa_normalized"] == pytest.approx(np.clip((sa - 5) / -3.5, 0, 1).mean())
    assert set(got) == {"qed", "sa", "logp", "sa_normalized"}


def _fps(smiles):
    return [AllChem.GetMorganFingerprintAsBitVect(Chem.MolFromSmiles(s), 2, 1024) for s in smiles]


def test_intdiv_and_snn_match_pair_loops():
    got = compute_metrics(SAMPLES, REFERENCE, metrics={"intdiv1", "intdiv2", "snn"})
    gen, ref = _fps(VALID), _fps(REFERENCE)
    sims = np.array([DataStructs.BulkTanimotoSimilarity(x, gen) for x in gen])
    assert got["intdiv1"] == pytest.approx(1 - sims.mean(), rel=1e-6)
    assert got["intdiv2"] == pytest.approx(1 - np.sqrt((sims**2).mean(1)).mean(), rel=1e-6)
    nearest = [max(DataStructs.BulkTanimotoSimilarity(x, ref)) for x in gen]
    assert got["snn"] == pytest.approx(np.mean(nearest), rel=1e-6)


def _cosine(a: Counter, b: Counter) -> float:
    keys = sorted(set(a) | set(b))
    u, v = np.array([a[k] for k in keys]), np.array([b[k] for k in keys])
    return u @ v / np.linalg.norm(u) / np.linalg.norm(v)


def test_frag_and_scaf_are_cosines_of_counts():
    reference = ["CCOC(=O)c1ccccc1", "c1ccc2ccccc2c1", "Cc1ccc2ccccc2c1", "C1CCC2CCCCC2C1"]
    samples = ["CCOC(=O)c1ccccc1", "Oc1ccc2ccccc2c1", "Oc1ccc2ccccc2c1", "CCCC", "CC.C"]
    got = compute_metrics(samples, reference, metrics={"frag", "scaf"})
    valid = [Chem.MolFromSmiles(s) for s in samples[:4]]
    ref_mols = [Chem.MolFromSmiles(s) for s in reference]
    gen_frags = Counter(f for m in valid for f in brics_fragments(m))
    ref_frags = Counter(f for m in ref_mols for f in brics_fragments(m))
    assert got["frag"] == pytest.approx(_cosine(gen_frags, ref_frags))
    gen_scaf = Counter(filter(None, map(murcko_scaffold, valid)))
    ref_scaf = Counter(filter(None, map(murcko_scaffold, ref_mols)))
    assert gen_scaf == {"c1ccc2ccccc2c1": 2}
    assert got["scaf"] == pytest.approx(_cosine(gen_scaf, ref_scaf))
    # no molecule with two rings: MOSES' cosine is undefined
    assert math.isnan(compute_metrics(["CCO"], reference, metrics={"scaf"})["scaf"])


def test_fcd_matches_fcd_package_with_duplicates():
    fcd = pytest.importorskip("fcd")
    reference = REFERENCE + ["CCOCC", "CC(C)O", "c1ccncc1", "OCCO", "CC#N", "C1CCOC1"]
    got = compute_metrics(SAMPLES, reference, metrics={"fcd"})["fcd"]
    canonical_ref = [
        Chem.MolToSmiles(Chem.MolFromSmiles(s), isomericSmiles=False) for s in reference
    ]
    expected = fcd.get_fcd(VALID, canonical_ref, device="cpu")
    assert got == pytest.approx(expected, rel=1e-3)


def test_fcd_is_absent_with_a_warning_without_the_extra(monkeypatch):
    monkeypatch.setattr(frechet, "fcd_available", lambda: False)
    with pytest.warns(UserWarning, match="pip install"):
        evaluation = evaluate(SAMPLES, REFERENCE, metrics={"fcd", "validity", "novelty"})
    assert set(evaluation.metrics) == {"validity", "novelty"}
    assert "fcd is skipped" in evaluation.to_report()["notes"][0]


def test_cheap_path_loads_no_chemnet_and_starts_no_pool(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("must not be called on the cheap path")

    monkeypatch.setattr(frechet, "chemnet_activations", forbidden)
    monkeypatch.setattr("concurrent.futures.ProcessPoolExecutor.__init__", forbidden)
    cheap = {"validity", "validity_relaxed", "uniqueness", "novelty", "qed", "logp", "sa"}
    got = compute_metrics(SAMPLES, REFERENCE, metrics=cheap)
    assert set(got) == cheap


def test_kl_score_is_one_for_identical_sets_and_lower_otherwise():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(200, 10)).round(0)  # integer-ish columns too
    assert metrics.kl_score_of_tables(a, a) == pytest.approx(1.0, abs=1e-9)
    assert metrics.kl_score_of_tables(a, a + 1.0) < 0.9
    assert math.isnan(metrics.kl_score_of_tables(a[:1], a))


def test_discrete_kl_by_hand():
    reference = np.arange(10.0)  # one value per bin: P uniform
    sampled = np.zeros(5)  # all in the first bin
    p = np.full(10, 0.1) + 1e-10
    q = np.array([1 / 0.9] + [0.0] * 9) + 1e-10  # density of the first bin (width 0.9)
    p, q = p / p.sum(), q / q.sum()
    assert discrete_kl(reference, sampled) == pytest.approx(np.sum(p * np.log(p / q)))


def test_continuous_kl_of_shifted_gaussians():
    rng = np.random.default_rng(1)
    x = rng.normal(size=4000)
    # KDE smoothing widens both equally; KL(N(0,s)||N(1,s)) = 1/(2 s^2) with s^2 = 1 + h^2
    bandwidth = 4000 ** (-1 / 5)  # Scott's factor, std 1
    expected = 1 / (2 * (1 + bandwidth**2))
    assert continuous_kl(x, x + 1.0) == pytest.approx(expected, rel=0.1)


def test_kl_score_on_molecules_identical_sets():
    smiles = ["CCO", "CCCO", "c1ccccc1", "CC(=O)O", "CCN", "OCCO", "c1ccccc1O", "CC(C)C"]
    assert compute_metrics(smiles, smiles, metrics={"kl_score"})["kl_score"] == pytest.approx(1)


def test_missing_reference_drops_reference_metrics():
    got = compute_metrics(SAMPLES)
    assert set(got) == set(metrics.METRICS) - metrics.REFERENCE_METRICS


def test_no_valid_sample_gives_nan_not_crash():
    got = compute_metrics([None, "xx", "C.C"], REFERENCE, metrics={"uniqueness", "qed", "snn"})
    assert all(math.isnan(v) for v in got.values())
    assert compute_metrics(["xx"], metrics={"validity"}) == {"validity": 0.0}
    # a covariance needs two molecules on each side
    pytest.importorskip("fcd")
    assert math.isnan(compute_metrics(["CCO", "CCN"], ["CCO"], metrics={"fcd"})["fcd"])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"metrics": {"bogus"}}, "unknown"),
        ({"metrics": "validity"}, "collection"),
        ({"n_jobs": 0}, "n_jobs"),
        ({"reference": "CCO"}, "not a str"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        compute_metrics(SAMPLES, **kwargs)
    with pytest.raises(ValueError, match="no samples"):
        compute_metrics([])


def test_processes_give_exactly_the_same_report():
    wanted = set(metrics.METRICS) - {"kl_score"}
    for chunk_size in (3, 50_000):
        one = evaluate(SAMPLES, REFERENCE, metrics=wanted, chunk_size=chunk_size)
        two = evaluate(SAMPLES, REFERENCE, metrics=wanted, chunk_size=chunk_size, n_jobs=2)
        assert two.to_report() == one.to_report()
        assert two.table == one.table


def test_chunks_do_not_change_results():
    wanted = set(metrics.METRICS) - {"kl_score"}
    one = evaluate(SAMPLES, REFERENCE, metrics=wanted)
    streamed = evaluate(SAMPLES, REFERENCE, metrics=wanted, chunk_size=3)
    assert streamed.table == one.table
    for key, value in one.metrics.items():
        # the FCD moments are summed in a different grouping: last bits differ
        assert streamed.metrics[key] == pytest.approx(value, rel=1e-9, nan_ok=True), key


def test_one_sample_chunks_give_the_whole_files_features():
    # chunks of one: features (arrays of rows, fingerprint matrices, fragment lists) appended
    # one molecule at a time, with invalid samples and late repeats between them
    samples = [*SAMPLES, "CCO", "c1ccc2ccccc2c1", None, "Oc1ccccc1", "CC(C)CC(=O)O"]
    wanted = set(metrics.METRICS) - {"fcd"}
    whole = evaluate(samples, REFERENCE, metrics=wanted)
    streamed = evaluate(samples, REFERENCE, metrics=wanted, chunk_size=1)
    assert streamed.table == whole.table
    assert streamed.distinct == whole.distinct
    for name, values in whole.properties.items():
        np.testing.assert_array_equal(streamed.properties[name], values)
    assert streamed.metrics == pytest.approx(whole.metrics, rel=1e-12, nan_ok=True)


def test_table_rows():
    table = evaluate(SAMPLES, metrics={"validity"}).table
    assert [row[0] for row in table] == list(range(len(SAMPLES)))
    assert table[1][1:5] == ("OCC", "CCO", True, None)
    assert table[3][2:5] == ("[Cl-].[Na+]", False, "disconnected")
    assert table[4][2:] == (None, False, "valence", None, None, None)
    assert table[1][5] == pytest.approx(qed(Chem.MolFromSmiles("CCO")))


def test_rdkit_molecules_are_accepted():
    mols = [Chem.MolFromSmiles("CCO"), Chem.MolFromSmiles("OCC"), None]
    assert compute_metrics(mols, metrics={"validity", "uniqueness"}) == {
        "validity": 2 / 3,
        "uniqueness": 0.5,
    }


def test_reference_canonicalises_and_hashes_content():
    ref = Reference.from_smiles(["OCC", "CCO", "C.C", "xx", "c1ccccc1"])
    assert ref.canonical == ("CCO", "c1ccccc1") and ref.n_input == 5
    assert Reference.from_smiles(["C(O)C", "C1=CC=CC=C1"]).digest == ref.digest
    assert Reference.from_smiles(["CCN", "c1ccccc1"]).digest != ref.digest
    with pytest.raises(ValueError, match="no strict-valid"):
        Reference.from_smiles(["xx"])


def test_reference_statistics_are_cached_on_disk(tmp_path, monkeypatch):
    pytest.importorskip("fcd")
    first = Reference.from_smiles(REFERENCE, cache_dir=tmp_path)
    wanted = {"snn", "frag", "scaf", "kl_score", "fcd"}
    before = compute_metrics(SAMPLES, first, metrics=wanted)

    def forbidden(*args, **kwargs):
        raise AssertionError("reference statistics must come from the cache")

    monkeypatch.setattr(frechet, "chemnet_activations", forbidden)
    monkeypatch.setattr("molgen.metrics.reference.classify_smiles", forbidden)
    second = Reference.from_smiles(REFERENCE, cache_dir=tmp_path)
    assert second.canonical == first.canonical
    # generated samples still need classify: only check the reference-side statistics
    for name in ("morgan",):
        np.testing.assert_array_equal(second.feature(name), first.feature(name))
    assert second.counts("fragments") == first.counts("fragments")
    np.testing.assert_array_equal(second.kl_statistics(), first.kl_statistics())
    np.testing.assert_array_equal(second.fcd_stats().cov, first.fcd_stats().cov)
    assert not list(tmp_path.rglob("*.tmp"))
    monkeypatch.undo()
    after = compute_metrics(SAMPLES, second, metrics=wanted)
    assert after == pytest.approx(before)


@pytest.fixture(scope="module")
def qm9_lines() -> list[str]:
    from molgen.data import bundled_path, read_smiles

    return [r.smiles for r in read_smiles(bundled_path("qm9_5k"))]


def _respelled(lines: list[str], spellings) -> list[str]:
    """Three lines in four written another way (explicit H, kekulé, random order, maps)."""
    out = []
    for k, smiles in enumerate(lines):
        others = spellings(smiles, seed=k)
        out.append(smiles if k % 4 == 0 else others[k % len(others)])
    return out


def test_a_respelled_file_has_the_report_of_the_plain_file(qm9_lines, spellings):
    samples = qm9_lines[:80] + qm9_lines[:25]  # duplicates, some spelled differently
    reference = qm9_lines[50:250]
    wanted = set(metrics.METRICS) - {"fcd"}
    plain = evaluate(samples, reference, metrics=wanted).metrics
    respelled = evaluate(
        _respelled(samples, spellings), _respelled(reference, spellings), metrics=wanted
    ).metrics
    assert plain == respelled
    assert plain["uniqueness"] == 80 / 105 and plain["novelty"] == 50 / 80


def test_a_respelled_file_has_the_fcd_of_the_plain_file(qm9_lines, spellings):
    pytest.importorskip("fcd")
    samples, reference = qm9_lines[:30], qm9_lines[100:160]
    plain = evaluate(samples, reference, metrics={"fcd"}).metrics["fcd"]
    respelled = evaluate(_respelled(samples, spellings), reference, metrics={"fcd"}).metrics["fcd"]
    assert respelled == pytest.approx(plain, rel=1e-9, abs=1e-12)


def test_fcd_is_the_same_bits_for_any_chunking_and_jobs():
    pytest.importorskip("fcd")
    long_alkane = "C" * 360  # ChemNet pads to 350 steps: longer SMILES once changed the others'
    samples = [*SAMPLES, long_alkane, "CCCO"]
    one = evaluate(samples, REFERENCE, metrics={"fcd"}).metrics["fcd"]
    assert math.isfinite(one)
    assert evaluate(samples, REFERENCE, metrics={"fcd"}, chunk_size=3).metrics["fcd"] == one
    assert (
        evaluate(samples, REFERENCE, metrics={"fcd"}, chunk_size=2, n_jobs=2).metrics["fcd"] == one
    )
