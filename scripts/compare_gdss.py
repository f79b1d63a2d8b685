"""Compare `molgen evaluate --benchmark gdss` with GDSS's own evaluation code on the same files:
each key, both values, the absolute difference, and PASS/FAIL against 1e-4.

GDSS (harryjo97/GDSS) scores generated molecules in ``sampler.py`` ``Sampler_mol``: its
``check_valency`` before correction, then MOSES' ``get_all_metrics`` (``unique@k``, ``FCD/Test``,
``Novelty``) on the molecules' SMILES and ``eval_graph_list(..., methods=['nspdk'])`` on
``mols_to_nx`` of the molecules against ``mols_to_nx`` of the test SMILES as written. Here that
code runs unmodified from a GDSS checkout (``--gdss``, the folder holding ``evaluation/`` and
``utils/``) in a side interpreter (``--gdss-python``) on molecules read from the files: a sample
counts valid when GDSS's ``check_valency`` passes on its unsanitized parse and GDSS's
``valid_mol_can_with_seg`` returns a molecule, with ``largest_connected_comp=False``, since
molgen corrects no sample and keeps every fragment (GDSS keeps only the largest fragment of
the molecules it corrected).

EDeN, inside GDSS, hashes the element symbols with Python's per-process string hash, so GDSS's
NSPDK moves with ``PYTHONHASHSEED``; molgen hashes them with BLAKE2b. The script reports GDSS's
NSPDK under several seeds (its own spread), molgen's default, and molgen's with the labels
hashed as GDSS's process hashed them under the first seed. That last pair differs by about
1e-7, not 1e-16: GDSS reads the test SMILES as written, molgen their canonical form, and the
atom order decides which of two features hashed to one index EDeN's dict keeps.

The side interpreter needs rdkit, networkx, scikit-learn, scipy, dill, joblib, pandas, torch,
``molsets`` and ``fcd_torch`` (MOSES 0.3.1 with the runtime fixes of
``scripts/compare_moses.py``); ``pyemd``, which only GDSS's other graph statistics use, is
stubbed when missing. For example::

    git clone https://github.com/harryjo97/GDSS /tmp/gdss
    python3 -m venv /work/gdss_env
    /work/gdss_env/bin/pip install rdkit networkx scikit-learn scipy numpy dill joblib pandas \\
        six matplotlib torch
    /work/gdss_env/bin/pip install --no-deps molsets==0.3.1 fcd_torch
    python scripts/compare_gdss.py GEN.smi --test TEST.smi --train TRAIN.smi \\
        --gdss /tmp/gdss --gdss-python /work/gdss_env/bin/python

molgen runs in this interpreter, GDSS in subprocesses running this file with ``--gdss-only``.
Files are read as molgen reads SMILES files (first token per line).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
import types
from pathlib import Path

TOLERANCE = 1e-4
KEYS = ("validity_wo_correction", "nspdk", "fcd", "uniqueness", "novelty")


def read_tokens(path: str) -> list[str]:
    """First whitespace-separated token of each line, "" for blank lines (as molgen reads)."""
    with open(path, encoding="utf-8", errors="replace") as f:
        return [(line.split(maxsplit=1) or [""])[0] for line in f]


def run_gdss(args: argparse.Namespace) -> dict:
    """GDSS's evaluation of the files (in the side interpreter, under its PYTHONHASHSEED)."""
    sys.path.insert(0, args.gdss)
    if "pyemd" not in sys.modules:
        try:
            import pyemd  # noqa: F401
        except ImportError:
            sys.modules["pyemd"] = types.ModuleType("pyemd")
    from evaluation.stats import eval_graph_list
    from rdkit import Chem
    from utils.mol_utils import (
        canonicalize_smiles,
        check_valency,
        mols_to_nx,
        mols_to_smiles,
        smiles_to_mols,
        valid_mol_can_with_seg,
    )

    start = time.perf_counter()
    samples, test = read_tokens(args.generated), read_tokens(args.test)
    gen_mols = []
    for smiles in samples:
        mol = Chem.MolFromSmiles(smiles, sanitize=False) if smiles else None
        if mol is None or not check_valency(mol)[0]:
            continue
        mol = valid_mol_can_with_seg(mol, largest_connected_comp=False)
        if mol is not None:
            gen_mols.append(mol)
    test_graphs = mols_to_nx(smiles_to_mols(test))  # data/preprocess_for_nspdk.py
    values = {
        "nspdk": float(eval_graph_list(test_graphs, mols_to_nx(gen_mols), ["nspdk"])["nspdk"])
    }
    symbols = {atom.GetSymbol() for mol in gen_mols for atom in mol.GetAtoms()}
    symbols |= {atom.GetSymbol() for mol in smiles_to_mols(test) for atom in mol.GetAtoms()}
    values["label_hashes"] = {symbol: hash(symbol) for symbol in sorted(symbols)}
    if args.nspdk_only:
        return values
    sys.path.insert(0, str(Path(__file__).parent))
    from compare_moses import patch_for_moses

    patch_for_moses()
    from moses.metrics.metrics import get_all_metrics

    gen_smiles = [s for s in mols_to_smiles(gen_mols) if len(s)]
    train = canonicalize_smiles(read_tokens(args.train))
    scores = get_all_metrics(
        gen=gen_smiles,
        k=len(gen_smiles),
        device="cpu",
        n_jobs=1,
        test=canonicalize_smiles(test),
        train=train,
    )
    values |= {
        "validity_wo_correction": len(gen_mols) / len(samples),
        "fcd": float(scores["FCD/Test"]),
        "uniqueness": float(scores[f"unique@{len(gen_smiles)}"]),
        "novelty": float(scores["Novelty"]),
        "seconds": time.perf_counter() - start,
    }
    return values


def gdss_in_subprocess(args: argparse.Namespace, seed: int, nspdk_only: bool) -> dict:
    command = [args.gdss_python, __file__, args.generated, "--gdss-only", "--gdss", args.gdss]
    command += ["--test", args.test, "--train", args.train]
    command += ["--nspdk-only"] if nspdk_only else []
    env = {**os.environ, "PYTHONHASHSEED": str(seed)}
    out = subprocess.run(command, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def run_molgen(args: argparse.Namespace, label_hashes: dict[str, int]) -> dict:
    """molgen's gdss benchmark on the files, and its NSPDK with GDSS's label hashes."""
    from molgen.chem.labelled import labelled_graphs
    from molgen.metrics import evaluate
    from molgen.metrics.gdss import GDSS, gdss_references
    from molgen.metrics.nspdk import nspdk_mmd

    start = time.perf_counter()
    references = gdss_references({"test": args.test, "train": args.train}, n_jobs=args.jobs)
    evaluation = evaluate(
        read_tokens(args.generated), references, benchmark=GDSS, n_jobs=args.jobs, keep_table=False
    )
    seconds = time.perf_counter() - start
    valid = [
        s for s, n in zip(evaluation.distinct, evaluation.weights, strict=True) for _ in range(n)
    ]

    def gdss_hash(label):
        return label_hashes[label] if isinstance(label, str) else hash(label)

    matched = nspdk_mmd(
        labelled_graphs(valid), labelled_graphs(references["test"].canonical), label_hash=gdss_hash
    )
    return {**evaluation.metrics, "nspdk_gdss_hash": matched, "seconds": seconds}


def report(gdss: dict, spread: list[float], molgen: dict, n_test: int, n_distinct: int) -> bool:
    print(f"{'key':>24s} {'GDSS':>12s} {'molgen':>12s} {'abs diff':>9s}")
    ok = True
    rows = [(key, gdss[key], molgen.get(key, math.nan)) for key in KEYS]
    rows.append(("nspdk (GDSS's hashes)", gdss["nspdk"], molgen["nspdk_gdss_hash"]))
    for key, a, b in rows:
        diff = abs(a - b)
        passed = diff <= TOLERANCE
        ok &= passed
        print(f"{key:>24s} {a:12.7f} {b:12.7f} {diff:9.1e} {'PASS' if passed else 'FAIL'}")
    print(
        f"GDSS's NSPDK over {len(spread)} PYTHONHASHSEEDs: {min(spread):.7f} .. {max(spread):.7f} "
        f"(spread {max(spread) - min(spread):.1e}); molgen's {molgen['nspdk']:.7f}"
    )
    print(f"test set: {n_test} lines, {n_distinct} distinct valid molecules (molgen's reference)")
    print(f"seconds: GDSS {gdss['seconds']:.1f}, molgen {molgen['seconds']:.1f}")
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("generated")
    parser.add_argument("--test", required=True)
    parser.add_argument("--train", required=True)
    parser.add_argument("--gdss", required=True, help="GDSS checkout (holds evaluation/, utils/)")
    parser.add_argument("--gdss-python", default=sys.executable, help="interpreter for GDSS")
    parser.add_argument("--hash-seeds", type=int, default=5, help="PYTHONHASHSEEDs 0..N-1")
    parser.add_argument("--jobs", "-j", type=int, default=1)
    parser.add_argument("--gdss-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--nspdk-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.gdss_only:
        print(json.dumps(run_gdss(args)))
        return
    gdss = gdss_in_subprocess(args, 0, nspdk_only=False)
    spread = [gdss["nspdk"]]
    spread += [gdss_in_subprocess(args, s, True)["nspdk"] for s in range(1, args.hash_seeds)]
    molgen = run_molgen(args, gdss["label_hashes"])
    from molgen.metrics.gdss import gdss_references

    n_distinct = len(gdss_references({"test": args.test})["test"])
    ok = report(gdss, spread, molgen, len(read_tokens(args.test)), n_distinct)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
