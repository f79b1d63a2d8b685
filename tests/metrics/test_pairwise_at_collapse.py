"""The pairwise (Tanimoto) metrics where a generator collapses: one sample, two samples, and
every sample the same molecule, each checked against RDKit's own similarity loops.

Each value is computed several times: the products once read memory outside their operands
for a lone fingerprint, and the garbage changed from run to run.
"""

import json
import math

import numpy as np
import pytest
from rdkit import Chem, DataStructs
from rdkit.Chem import rdFingerprintGenerator
from typer.testing import CliRunner

from molgen.cli import app
from molgen.metrics import compute_metrics
from molgen.metrics.features import kl_table
from molgen.metrics.moses import MOSES

REPEATS = 5
MORGAN = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=1024)

#: name -> generated samples: one molecule, two, and one molecule in several spellings.
CASES = {
    "n=1": ["CCO"],
    "n=2": ["CCO", "c1ccccc1O"],
    "identical": ["CCO", "OCC", "C(O)C", "CCO"],
    "identical_ring": ["c1ccccc1O"] * 3,
}
#: references for snn: holding the collapsed molecule, not holding it, of one molecule.
REFERENCES = {
    "holds_it": ["CCO", "CC(=O)Nc1ccc(O)cc1"],
    "lacks_it": ["CCN", "c1ccccc1"],
    "one_molecule": ["CCO"],
}


def _fingerprints(smiles: list[str]) -> list:
    return [MORGAN.GetFingerprint(Chem.MolFromSmiles(s)) for s in smiles]


def _expected(samples: list[str], reference: list[str]) -> dict[str, float]:
    """MOSES' definitions as plain loops: every pair of samples (duplicates and x=y included)."""
    gen = _fingerprints(samples)
    pairs = np.array([DataStructs.BulkTanimotoSimilarity(x, gen) for x in gen])
    ref = _fingerprints(reference)
    nearest = [max(DataStructs.BulkTanimotoSimilarity(x, ref)) for x in gen]
    return {
        "intdiv1": 1 - pairs.mean(),
        "intdiv2": 1 - np.sqrt((pairs**2).mean(1)).mean(),
        "snn": float(np.mean(nearest)),
    }


@pytest.mark.parametrize("reference", sorted(REFERENCES))
@pytest.mark.parametrize("case", sorted(CASES))
def test_molgen_pairwise_metrics_match_rdkit_loops(case, reference):
    samples, ref = CASES[case], REFERENCES[reference]
    expected = _expected(samples, ref)
    for _ in range(REPEATS):
        got = compute_metrics(samples, ref, metrics=set(expected))
        assert got == pytest.approx(expected, abs=1e-6)


def test_collapse_gives_no_diversity_and_full_similarity():
    # the values the collapse case must expose, stated without any formula
    got = compute_metrics(["CCO"] * 7, ["CCO", "CCN"], metrics={"intdiv1", "intdiv2", "snn"})
    assert got == pytest.approx({"intdiv1": 0.0, "intdiv2": 0.0, "snn": 1.0}, abs=1e-7)


@pytest.mark.parametrize("case", sorted(CASES))
def test_moses_pairwise_metrics_match_rdkit_loops(case):
    samples = CASES[case]
    test, test_scaffolds = REFERENCES["holds_it"], REFERENCES["lacks_it"]
    expected = _expected(samples, test)
    expected_sf = _expected(samples, test_scaffolds)
    wanted = {"IntDiv", "IntDiv2", "SNN/Test", "SNN/TestSF"}
    for _ in range(REPEATS):
        got = compute_metrics(
            samples,
            {"test": test, "test_scaffolds": test_scaffolds},
            metrics=wanted,
            benchmark=MOSES,
        )
        assert got == pytest.approx(
            {
                "IntDiv": expected["intdiv1"],
                "IntDiv2": expected["intdiv2"],
                "SNN/Test": expected["snn"],
                "SNN/TestSF": expected_sf["snn"],
            },
            abs=1e-6,
        )


@pytest.mark.parametrize("smiles", [["CCO"], ["CCO", "c1ccccc1O"], ["CCO", "CCN", "CCCO"]])
def test_kl_internal_similarity_matches_rdkit_loops(smiles):
    # GuacaMol's internal similarity: max Tanimoto (Morgan r=2, 4096 bits) to ANOTHER molecule
    # of the set, 0 for a lone molecule
    generator = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=4096)
    fps = [generator.GetFingerprint(Chem.MolFromSmiles(s)) for s in smiles]
    expected = [
        max([DataStructs.TanimotoSimilarity(a, b) for j, b in enumerate(fps) if j != i] or [0.0])
        for i, a in enumerate(fps)
    ]
    packed = np.packbits(
        np.array([generator.GetFingerprintAsNumPy(Chem.MolFromSmiles(s)) for s in smiles]),
        axis=1,
    )
    descriptors = np.zeros((len(smiles), 9))
    for _ in range(REPEATS):
        table = kl_table({"kl_descriptors": descriptors, "morgan4096": packed})
        np.testing.assert_allclose(table[:, -1], expected, atol=1e-6)


def test_kl_score_is_undefined_for_a_collapsed_set():
    # one distinct molecule: no density to compare (not a number from garbage)
    got = compute_metrics(["CCO"] * 5, ["CCO", "CCN", "CCCO"], metrics={"kl_score"})
    assert math.isnan(got["kl_score"])


@pytest.mark.parametrize("case", ["n=1", "identical"])
def test_the_evaluate_command_reports_the_collapse(tmp_path, case):
    generated, reference = tmp_path / "gen.smi", tmp_path / "ref.smi"
    generated.write_text("\n".join(CASES[case]) + "\n")
    reference.write_text("\n".join(REFERENCES["holds_it"]) + "\n")
    out = tmp_path / "report.json"
    args = ["evaluate", str(generated), "-r", str(reference), "-o", str(out), "--no-progress"]
    args += ["--jobs", "1", "--cache-dir", str(tmp_path / "cache")]
    args += ["-m", "intdiv1", "-m", "intdiv2", "-m", "snn", "-m", "uniqueness"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["intdiv1"] == pytest.approx(0.0, abs=1e-7)
    assert report["intdiv2"] == pytest.approx(0.0, abs=1e-7)
    assert report["snn"] == pytest.approx(1.0, abs=1e-7)
    assert report["uniqueness"] == 1 / len(CASES[case])
