"""Benchmark the evaluation suite on QM9: N generated vs M reference molecules (disjoint random
subsets of the qm9pack data), against a straightforward single-process implementation of the
same metrics (RDKit loops, ``BulkTanimotoSimilarity``, ``fcd.get_fcd``; MOSES/GuacaMol style)
measured in the same run.

    python scripts/bench_eval.py                      # 10,000 vs 20,000, 2 processes
    python scripts/bench_eval.py --skip-baseline      # molgen only
    python scripts/bench_eval.py -n 2000 -m 4000      # quicker

Prints per-metric seconds (each metric group evaluated alone, with the cached reference; molgen's
figure includes parsing the samples, the baseline parses once, in its first group), the values
of both implementations, and the whole suite cold (empty cache), with the cached reference, and
with the cached reference in one process (whose report must equal the parallel one).
``--skip-baseline-fcd`` leaves out the baseline FCD (fcd.get_fcd re-encodes the reference:
minutes at 20,000 molecules).

    python scripts/bench_eval.py --benchmark moses -n 2000 -m 5000 \
        --moses-python /tmp/mosesvenv/bin/python

times `--benchmark moses` instead: N generated molecules (MOSES test and train molecules and 5%
invalid lines) against M molecules of each of MOSES' test, scaffold-test and training sets, cold
and with the cached reference statistics, and MOSES' own ``get_all_metrics`` on the same files
when ``--moses-python`` (an interpreter with MOSES, see scripts/compare_moses.py) is given.

    python scripts/bench_eval.py --benchmark moses --default-references -n 10000 \
        --cache-dir /work/cache-moses --moses-python /tmp/mosesvenv/bin/python

is the issue's scale: 10,000 molecules of MOSES' test and training sets and 1,000 invalid,
charged and fragment lines against MOSES' own 176k/176k/1.58M sets (MOSES then loads its
precomputed test statistics; molgen reads its cache, built by the first run into --cache-dir).
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
import tempfile
import time
import warnings
from collections import Counter
from pathlib import Path

import numpy as np

from molgen.choices import BENCHMARK_NAMES

GROUPS = {
    "validity+uniqueness+novelty": ("validity", "validity_relaxed", "uniqueness", "novelty"),
    "qed": ("qed",),
    "logp": ("logp", "logp_normalized"),
    "sa": ("sa", "sa_normalized"),
    "intdiv1": ("intdiv1",),
    "intdiv2": ("intdiv2",),
    "snn": ("snn",),
    "fcd": ("fcd",),
    "frag": ("frag",),
    "scaf": ("scaf",),
    "kl_score": ("kl_score",),
}


def load_qm9(n_generated: int, n_reference: int, seed: int) -> tuple[list[str], list[str]]:
    import csv

    spec = importlib.util.find_spec("qm9pack")  # the data only: qm9pack's __init__ needs setuptools
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("qm9pack is not installed (pip install 'molgen[qm9]')")
    folder = Path(spec.submodule_search_locations[0]) / "data"
    smiles: list[str] = []
    for part in sorted(folder.glob("qm9_part*.csv")):
        with open(part, newline="") as f:
            smiles += [row["SMILES"] for row in csv.DictReader(f)]
        if len(smiles) >= n_generated + n_reference:
            break
    order = np.random.default_rng(seed).permutation(len(smiles))
    if len(order) < n_generated + n_reference:
        raise SystemExit(f"only {len(order)} QM9 molecules available")
    picked = [smiles[i] for i in order[: n_generated + n_reference]]
    return picked[:n_generated], picked[n_generated:]


# ----------------------------------------------------------------------------- baseline
class Baseline:
    """Straightforward implementations: one process, RDKit objects, pair loops."""

    def __init__(self, generated: list[str], reference: list[str]) -> None:
        from molgen.chem.mol import check_smiles

        self.generated = generated
        ref = [check_smiles(s) for s in reference]
        self.reference = list(dict.fromkeys(c.smiles for c in ref if c.valid))

    def mols(self, smiles: list[str]) -> list:
        from rdkit import Chem

        return [Chem.MolFromSmiles(s) for s in smiles]

    def run(self, group: str) -> dict[str, float]:
        return getattr(self, "_" + group.split("+")[0])()

    def _validity(self) -> dict[str, float]:
        """Parses the samples (timed here); the later groups reuse ``self.valid``."""
        from molgen.chem.mol import check_smiles

        self.checked = [check_smiles(s) for s in self.generated]
        self.valid = [c.smiles for c in self.checked if c.valid]
        n = len(self.checked)
        distinct = set(self.valid)
        return {
            "validity": len(self.valid) / n,
            "validity_relaxed": sum(c.mol is not None for c in self.checked) / n,
            "uniqueness": len(distinct) / len(self.valid),
            "novelty": len(distinct - set(self.reference)) / len(distinct),
        }

    def _qed(self) -> dict[str, float]:
        from rdkit.Chem import QED

        return {"qed": float(np.mean([QED.qed(m) for m in self.mols(self.valid)]))}

    def _logp(self) -> dict[str, float]:
        from rdkit.Chem import Crippen

        values = np.array([Crippen.MolLogP(m) for m in self.mols(self.valid)])
        norm = np.clip((values + 2.12178879609) / (6.0429063424 + 2.12178879609), 0, 1)
        return {"logp": values.mean(), "logp_normalized": norm.mean()}

    def _sa(self) -> dict[str, float]:
        from rdkit.Contrib.SA_Score import sascorer

        values = np.array([sascorer.calculateScore(m) for m in self.mols(self.valid)])
        return {"sa": values.mean(), "sa_normalized": np.clip((values - 5) / -3.5, 0, 1).mean()}

    def fingerprints(self, smiles: list[str], n_bits: int = 1024) -> list:
        from rdkit.Chem import AllChem

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return [AllChem.GetMorganFingerprintAsBitVect(m, 2, n_bits) for m in self.mols(smiles)]

    def _intdiv(self, p: int) -> float:
        from rdkit import DataStructs

        fps = self.fingerprints(self.valid)
        per_x = [
            np.mean(np.array(DataStructs.BulkTanimotoSimilarity(fp, fps)) ** p) ** (1 / p)
            for fp in fps
        ]
        return 1 - float(np.mean(per_x))

    def _intdiv1(self) -> dict[str, float]:
        return {"intdiv1": self._intdiv(1)}

    def _intdiv2(self) -> dict[str, float]:
        return {"intdiv2": self._intdiv(2)}

    def _snn(self) -> dict[str, float]:
        from rdkit import DataStructs

        ref = self.fingerprints(self.reference)
        best = [
            max(DataStructs.BulkTanimotoSimilarity(fp, ref)) for fp in self.fingerprints(self.valid)
        ]
        return {"snn": float(np.mean(best))}

    def _fcd(self) -> dict[str, float]:
        import fcd

        return {"fcd": fcd.get_fcd(self.valid, self.reference, device="cpu")}

    def _counts(self, fn, smiles: list[str]) -> Counter:
        counts: Counter = Counter()
        for mol in self.mols(smiles):
            value = fn(mol)
            counts.update([value] if isinstance(value, str) else value or [])
        return counts

    def _cosine(self, fn) -> float:
        from scipy.spatial.distance import cosine

        gen, ref = self._counts(fn, self.valid), self._counts(fn, self.reference)
        keys = sorted(set(gen) | set(ref))
        return 1 - cosine([gen[k] for k in keys], [ref[k] for k in keys])

    def _frag(self) -> dict[str, float]:
        from molgen.chem.properties import brics_fragments

        return {"frag": self._cosine(brics_fragments)}

    def _scaf(self) -> dict[str, float]:
        from molgen.chem.properties import murcko_scaffold

        return {"scaf": self._cosine(murcko_scaffold)}

    def _kl_score(self) -> dict[str, float]:
        from rdkit import DataStructs
        from rdkit.ML.Descriptors.MoleculeDescriptors import MolecularDescriptorCalculator

        from molgen.chem.properties import KL_DESCRIPTORS
        from molgen.metrics import kl_score_of_tables
        from molgen.metrics.features import kl_subset

        calc = MolecularDescriptorCalculator(list(KL_DESCRIPTORS))

        def table(smiles: list[str]) -> np.ndarray:
            smiles = [smiles[i] for i in kl_subset(len(smiles))]
            descriptors = np.array([calc.CalcDescriptors(m) for m in self.mols(smiles)])
            fps = self.fingerprints(smiles, 4096)
            internal = []
            for i, fp in enumerate(fps):
                sims = DataStructs.BulkTanimotoSimilarity(fp, fps)
                sims[i] = 0.0
                internal.append(max(sims))
            return np.column_stack([descriptors, internal])

        distinct = list(dict.fromkeys(self.valid))
        return {"kl_score": kl_score_of_tables(table(self.reference), table(distinct))}


# ----------------------------------------------------------------------------- molgen
def write_moses_files(folder: Path, n_generated: int, n_reference: int, seed: int) -> dict:
    """Generated and reference files drawn from MOSES' sets (disjoint from the references)."""
    from molgen.metrics.moses import read_moses_split

    rng = np.random.default_rng(seed)
    splits = {name: read_moses_split(name) for name in ("test", "test_scaffolds", "train")}
    picks = {name: rng.permutation(len(smiles)) for name, smiles in splits.items()}
    files = {}
    for name, smiles in splits.items():
        files[name] = folder / f"{name}.smi"
        files[name].write_text("\n".join(smiles[i] for i in picks[name][:n_reference]) + "\n")
    n_invalid = n_generated // 20
    n_test = (n_generated - n_invalid) // 2
    generated = [splits["test"][i] for i in picks["test"][n_reference : n_reference + n_test]]
    generated += [splits["train"][i] for i in picks["train"][: n_generated - n_invalid - n_test]]
    generated += ["C1CC", "C(C)(C)(C)(C)C", "xyz", ""] * (n_invalid // 4)
    files["generated"] = folder / "generated.smi"
    files["generated"].write_text("\n".join(rng.permutation(generated)) + "\n")
    return files


#: Lines a generator also writes: invalid ones, and valid ones that MOSES' filters reject
#: (charges, salts, fragments).
ODD_LINES = (
    "C1CC",
    "C(C)(C)(C)(C)C",
    "xyz",
    "",
    "C[N+](C)(C)C.[Cl-]",
    "CC(=O)[O-].[Na+]",
    "c1ccccc1.CCO",
    "OC(=O)c1ccccc1.N",
)


def write_generated_for_default_references(folder: Path, n_generated: int, seed: int) -> Path:
    """``n_generated`` molecules drawn from MOSES' test and training sets (half each) and
    ``n_generated // 10`` more lines of :data:`ODD_LINES`, shuffled."""
    from molgen.metrics.moses import read_moses_split

    rng = np.random.default_rng(seed)
    test, train = read_moses_split("test"), read_moses_split("train")
    n_test = n_generated // 2
    generated = [test[i] for i in rng.choice(len(test), n_test, replace=False)]
    generated += [train[i] for i in rng.choice(len(train), n_generated - n_test, replace=False)]
    generated += [ODD_LINES[k % len(ODD_LINES)] for k in range(n_generated // 10)]
    path = folder / "generated.smi"
    path.write_text("\n".join(rng.permutation(generated)) + "\n")
    return path


def bench_moses(args: argparse.Namespace) -> None:
    import compare_moses  # beside this script

    folder = Path(tempfile.mkdtemp(prefix="molgen-bench-moses-"))
    if args.default_references:
        generated = write_generated_for_default_references(folder, args.n_generated, args.seed)
        files = {"generated": generated, "test": None, "test_scaffolds": None, "train": None}
        scale = "MOSES' own test, scaffold-test and training sets"
    else:
        files = write_moses_files(folder, args.n_generated, args.n_reference, args.seed)
        scale = f"{args.n_reference} molecules of each MOSES set"
    n_lines = len(compare_moses.read_tokens(files["generated"]))
    print(
        f"{n_lines} generated lines vs {scale}, n_jobs={args.jobs}, files in {folder}, "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    run = argparse.Namespace(
        **{name: path and str(path) for name, path in files.items()}, jobs=args.jobs
    )
    cache = args.cache_dir or str(folder / "cache")
    cold = compare_moses.run_molgen(run, cache)
    cached = compare_moses.run_molgen(run, cache)
    print(f"molgen, cold cache:       {cold['seconds']:8.1f} s")
    print(f"molgen, cached reference: {cached['seconds']:8.1f} s")
    if args.moses_python is None:
        print("MOSES: not run (give --moses-python, see scripts/compare_moses.py)")
        return
    moses = compare_moses.moses_in_subprocess(args.moses_python, run)
    print(f"MOSES get_all_metrics:    {moses['seconds']:8.1f} s")
    print(f"load average now {os.getloadavg()[0]:.1f}")
    print(
        f"speed-up: {moses['seconds'] / cold['seconds']:.1f}x cold, "
        f"{moses['seconds'] / cached['seconds']:.1f}x cached\n"
    )
    compare_moses.compare(moses, cached)


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--n-generated", type=int, default=10_000)
    parser.add_argument("-m", "--n-reference", type=int, default=20_000)
    parser.add_argument("-j", "--jobs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--skip-baseline-fcd", action="store_true")
    parser.add_argument("--benchmark", choices=BENCHMARK_NAMES, default=BENCHMARK_NAMES[0])
    parser.add_argument("--moses-python", help="interpreter with MOSES (--benchmark moses)")
    parser.add_argument(
        "--default-references",
        action="store_true",
        help="--benchmark moses against MOSES' own sets (MOSES uses its precomputed test "
        "statistics; -m is ignored)",
    )
    parser.add_argument(
        "--cache-dir", help="molgen's reference cache (default: a new one, i.e. cold first)"
    )
    args = parser.parse_args()
    from molgen.metrics import Reference, evaluate, get_benchmark
    from molgen.metrics.moses import MOSES

    if get_benchmark(args.benchmark) is MOSES:
        bench_moses(args)
        return

    generated, reference = load_qm9(args.n_generated, args.n_reference, args.seed)
    print(
        f"{len(generated)} generated vs {len(reference)} reference QM9 molecules, "
        f"n_jobs={args.jobs}"
    )
    cache = Path(tempfile.mkdtemp(prefix="molgen-bench-"))

    def suite(n_jobs: int = args.jobs) -> dict[str, float]:
        ref = Reference.from_smiles(reference, cache_dir=cache, n_jobs=n_jobs)
        return evaluate(generated, ref, n_jobs=n_jobs, keep_table=False).metrics

    values, cold = timed(suite)
    _, cached = timed(suite)
    one_process = timed(lambda: suite(1)) if args.jobs > 1 else (values, cached)
    if one_process[0] != values:
        raise SystemExit("n_jobs=1 and n_jobs>1 reports differ")
    ref = Reference.from_smiles(reference, cache_dir=cache)
    rows = []
    baseline = None if args.skip_baseline else Baseline(generated, reference)
    for group, keys in GROUPS.items():
        _, ours = timed(
            lambda keys=keys: evaluate(
                generated, ref, metrics=set(keys), n_jobs=args.jobs, keep_table=False
            )
        )
        skip = baseline is None or (group == "fcd" and args.skip_baseline_fcd)
        base_values, base_s = (
            (None, math.nan) if skip else timed(lambda group=group: baseline.run(group))
        )
        rows.append((group, keys, ours, base_s, base_values))

    print(
        f"\n{'metric':<18}{'molgen':>10}{'baseline':>10}{'|diff|':>10}"
        f"{'molgen s':>10}{'base s':>9}{'speed-up':>9}"
    )
    for _group, keys, ours, base_s, base_values in rows:
        for k, key in enumerate(keys):
            base = math.nan if base_values is None else float(base_values[key])
            timing = f"{ours:>10.2f}{base_s:>9.2f}{base_s / ours:>8.1f}x" if k == 0 else ""
            print(
                f"{key:<18}{values[key]:>10.4f}{base:>10.4f}{abs(values[key] - base):>10.1e}"
                f"{timing}"
            )
    base_total = sum(r[3] for r in rows if math.isfinite(r[3]))
    if base_total == 0:  # no baseline group ran
        base_total = math.nan
    print(f"\n{'whole suite':<22}{'seconds':>10}{'vs cold':>10}{'vs baseline':>13}")
    timings = (
        ("cold cache", cold),
        ("cached reference", cached),
        ("cached, 1 process", one_process[1]),
    )
    for label, seconds in timings:
        print(f"{label:<22}{seconds:>10.2f}{cold / seconds:>9.2f}x{base_total / seconds:>12.1f}x")
    print(f"{'baseline (sum)':<22}{base_total:>10.2f}")
    print(
        f"\n{args.jobs} processes vs 1 (cached reference): {one_process[1] / cached:.2f}x faster, "
        f"same report: {one_process[0] == values}"
    )


if __name__ == "__main__":
    main()
