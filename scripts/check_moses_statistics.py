"""molgen's statistics of MOSES' test and scaffold-test sets, computed from their SMILES, against
the statistics MOSES ships for them (``moses/dataset/data/*_stats.npz``, which ``molgen evaluate
--benchmark moses`` uses by default, as MOSES' ``get_all_metrics`` does): the Frechet distance
between the two pairs of ChemNet moments, the share of identical fingerprint rows, the cosine of
the fragment and scaffold counts and the largest property difference. Rerun it after an RDKit
or ChemNet upgrade; computing the statistics takes about 15 minutes per set on one core.

    python scripts/check_moses_statistics.py [--splits test,test_scaffolds] [-j JOBS]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from molgen.metrics import cosine_similarity_counts, frechet
from molgen.metrics.features import CHEMNET_MOSES
from molgen.metrics.moses import moses_references, read_moses_split, shipped_statistics
from molgen.parallel import ProcessPool


def compare(split: str, pool: ProcessPool, jobs: int) -> dict:
    """The differences between the shipped and the computed statistics of one split."""
    n = len(read_moses_split(split))
    shipped = shipped_statistics(split, n)
    if shipped is None:
        raise SystemExit(f"no usable shipped statistics for {split}")
    start = time.perf_counter()
    computed = moses_references({split: None}, n_jobs=jobs, shipped=False)[split]
    fcd_key = f"fcd_{CHEMNET_MOSES}"
    out = {
        "split": split,
        "molecules": n,
        "distinct_valid_computed": len(computed),
        "fcd_shipped_vs_computed": frechet.frechet_distance(
            shipped[fcd_key], computed.fcd_stats(pool, CHEMNET_MOSES)
        ),
    }
    for name in ("fragments", "scaffold"):
        counts = computed.counts(name, pool)
        out[f"{name}_counts_equal"] = counts == shipped[f"{name}_counts"]
        out[f"{name}_cosine"] = cosine_similarity_counts(counts, shipped[f"{name}_counts"])
    if len(computed) == n:  # row by row only when no molecule was dropped or merged
        fps = computed.feature("morgan", pool)
        out["fingerprint_rows_equal"] = float(np.all(fps == shipped["morgan"], axis=1).mean())
        for name in ("logp", "sa", "qed", "weight"):
            diff = np.abs(computed.feature(name, pool) - shipped[name])
            out[f"{name}_max_abs_diff"] = float(diff.max())
    out["seconds"] = time.perf_counter() - start
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--splits", default="test,test_scaffolds")
    parser.add_argument("-j", "--jobs", type=int, default=1)
    args = parser.parse_args()
    with ProcessPool(args.jobs) as pool:
        for split in args.splits.split(","):
            print(json.dumps(compare(split, pool, args.jobs)), flush=True)


if __name__ == "__main__":
    main()
