"""Compare `molgen evaluate --benchmark moses` with MOSES' own ``get_all_metrics`` on the same
files: each key, both values, the absolute and relative difference, and PASS/FAIL against
1e-3 absolute (2% relative for FCD and the property distances).

MOSES 0.3.1 no longer runs on today's stack; this script runs it unmodified with three runtime
fixes: an ``rdkit.six`` shim, ``DataFrame.append`` (removed in pandas 2) and NumPy 2 aliases
(``np.NaN``, ``np.row_stack``); ``torch.load`` is called with ``weights_only=False`` for
fcd_torch's pickled ChemNet. MOSES needs ``molsets`` (``pip install --no-deps molsets==0.3.1``),
``fcd_torch``, ``pandas`` and ``scipy``; keep them out of molgen's environment, e.g.

    python3 -m venv /tmp/mosesvenv
    /tmp/mosesvenv/bin/pip install torch rdkit pandas scipy six matplotlib
    /tmp/mosesvenv/bin/pip install --no-deps molsets==0.3.1 fcd_torch
    python scripts/compare_moses.py GEN.smi --test T.smi --test-scaffolds S.smi --train R.smi \\
        --moses-python /tmp/mosesvenv/bin/python

molgen runs in this interpreter, MOSES in ``--moses-python`` (a subprocess running this file
with ``--moses-only``). Files are read as molgen reads SMILES files (first token per line).
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
import types

RELATIVE_KEYS = ("FCD/Test", "FCD/TestSF", "logP", "SA", "QED", "weight")
ABS_TOL = 1e-3
REL_TOL = 0.02


def read_tokens(path: str) -> list[str]:
    """First whitespace-separated token of each line, "" for blank lines (as molgen reads)."""
    with open(path, encoding="utf-8", errors="replace") as f:
        return [(line.split(maxsplit=1) or [""])[0] for line in f]


def patch_for_moses() -> None:
    """Make ``import moses`` work on today's stack without editing the installed package."""
    import numpy as np
    import pandas as pd
    import torch

    six = types.ModuleType("rdkit.six")
    six.iteritems = lambda d: iter(d.items())
    six.iterkeys = lambda d: iter(d.keys())
    six.itervalues = lambda d: iter(d.values())
    six.PY3 = True
    six.moves = types.SimpleNamespace(range=range, cPickle=__import__("pickle"))
    sys.modules["rdkit.six"] = six
    sys.modules["rdkit.six.moves"] = six.moves  # type: ignore[assignment]
    if not hasattr(pd.DataFrame, "append"):
        pd.DataFrame.append = lambda self, other, sort=False: pd.concat([self, other], sort=sort)
    if not hasattr(np, "NaN"):
        np.NaN = np.nan  # noqa: NPY201 (MOSES' spelling)
    if not hasattr(np, "row_stack"):
        np.row_stack = np.vstack  # noqa: NPY201 (fcd_torch's spelling)
    load = torch.load
    torch.load = lambda *a, **k: load(*a, **{"weights_only": False, **k})


def run_moses(
    generated: str, test: str | None, test_scaffolds: str | None, train: str | None, jobs: int
) -> dict:
    """MOSES ``get_all_metrics`` on the files (and its wall time under ``"seconds"``); a
    reference file that is None is MOSES' own set (with its precomputed test statistics)."""
    patch_for_moses()
    from moses import get_all_metrics

    gen = read_tokens(generated)
    start = time.perf_counter()
    values = get_all_metrics(
        gen,
        n_jobs=jobs,
        test=test and read_tokens(test),
        test_scaffolds=test_scaffolds and read_tokens(test_scaffolds),
        train=train and read_tokens(train),
    )
    seconds = time.perf_counter() - start
    return {**{k: float(v) for k, v in values.items()}, "seconds": seconds}


def moses_in_subprocess(python: str, args: argparse.Namespace) -> dict:
    command = [python, __file__, args.generated, "--moses-only", "--jobs", str(args.jobs)]
    for flag, path in (("--test", args.test), ("--test-scaffolds", args.test_scaffolds)):
        command += [flag, path] if path else []
    command += ["--train", args.train] if args.train else []
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def run_molgen(args: argparse.Namespace, cache_dir: str | None) -> dict:
    from molgen.metrics import evaluate
    from molgen.metrics.moses import MOSES, moses_references

    start = time.perf_counter()
    files = {"test": args.test, "test_scaffolds": args.test_scaffolds, "train": args.train}
    references = moses_references(files, cache_dir=cache_dir, n_jobs=args.jobs)
    evaluation = evaluate(
        read_tokens(args.generated),
        references,
        benchmark=MOSES,
        n_jobs=args.jobs,
        keep_table=False,
    )
    return {**evaluation.metrics, "seconds": time.perf_counter() - start}


def compare(moses: dict, molgen: dict) -> bool:
    print(f"{'key':>12s} {'MOSES':>12s} {'molgen':>12s} {'abs diff':>10s} {'rel diff':>9s}")
    ok = True
    for key in (k for k in moses if k != "seconds"):
        a, b = moses[key], molgen.get(key, math.nan)
        diff = abs(a - b)
        rel = diff / abs(a) if a else (0.0 if diff == 0 else math.inf)
        passed = (rel <= REL_TOL) if key in RELATIVE_KEYS else (diff <= ABS_TOL)
        passed = passed or (math.isnan(a) and math.isnan(b))
        ok &= passed
        verdict = "PASS" if passed else "FAIL"
        print(f"{key:>12s} {a:12.6f} {b:12.6f} {diff:10.2e} {rel:9.2e} {verdict}")
    print(f"seconds: MOSES {moses['seconds']:.1f}, molgen {molgen['seconds']:.1f}")
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("generated")
    parser.add_argument("--test", help="default: MOSES' test set")
    parser.add_argument("--test-scaffolds", help="default: MOSES' scaffold-test set")
    parser.add_argument("--train", help="default: MOSES' training set")
    parser.add_argument("--moses-python", default=sys.executable, help="interpreter with MOSES")
    parser.add_argument("--jobs", "-j", type=int, default=1)
    parser.add_argument("--cache-dir", default=None, help="molgen's reference cache (default none)")
    parser.add_argument("--moses-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.moses_only:
        print(json.dumps(run_moses(args.generated, args.test, args.test_scaffolds, args.train,
                                   args.jobs)))  # fmt: skip
        return
    moses = moses_in_subprocess(args.moses_python, args)
    molgen = run_molgen(args, args.cache_dir)
    sys.exit(0 if compare(moses, molgen) else 1)


if __name__ == "__main__":
    main()
