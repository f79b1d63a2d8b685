"""Write molgen/data/bundled/qm9_5k.smi: molecules drawn deterministically (seeded) from full
QM9 in qm9pack.

    python scripts/prepare_qm9.py  # 5000 molecules, seed 0 -> molgen/data/bundled/qm9_5k.smi
    python scripts/prepare_qm9.py -n 1000 --seed 1 --out /tmp/qm9_1k.smi

Each line is molgen's canonical SMILES (RDKit, stereo dropped) and the molecule's 1-based
position among qm9pack's 130,831 molecules (its three part files concatenated), in that order.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from molgen.chem import check_smiles
from molgen.data import read_qm9pack

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "molgen" / "data" / "bundled" / "qm9_5k.smi"


def select(total: int, count: int, seed: int) -> np.ndarray:
    """Sorted 0-based positions of ``count`` of ``total`` molecules, without replacement."""
    if not 0 < count <= total:
        raise ValueError(f"count must be in 1..{total}, got {count}")
    return np.sort(np.random.default_rng(seed).choice(total, size=count, replace=False))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--count", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)

    records = read_qm9pack()
    lines = []
    for position in select(len(records), args.count, args.seed).tolist():
        record = records[position]
        checked = check_smiles(record.smiles)
        if not checked.valid:
            raise ValueError(
                f"{record.file}:{record.line}: QM9 SMILES {record.smiles!r} is invalid"
            )
        lines.append(f"{checked.smiles} {position + 1}\n")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("".join(lines))
    print(f"wrote {len(lines)} of {len(records)} QM9 molecules (seed {args.seed}) to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
