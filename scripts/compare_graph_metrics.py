"""Compare molgen's graph metrics with DiGress's reference code (``src/analysis/spectre_utils.py``
and ``dist_helper.py``, after SPECTRE, GRAN and GraphRNN) on fixed graph sets: each value from
both, the absolute difference, and PASS/FAIL against 1e-6.

The graph sets are molgen's regenerated benchmarks (seed 0, SPECTRE's split): training graphs
against test graphs of planar, SBM and community-small; planar against SBM; and planar graphs
with edges dropped, some repeated and some training graphs among them, which exercises
uniqueness, novelty and validity. Each generated set is no larger than its reference set:
DiGress's ``spectral_stats`` silently uses only the first ``len(reference)`` generated graphs
(``executor.map`` over two lists of different lengths), molgen uses them all. The SBM
validity test (graph-tool's block inference in DiGress, molgen's own in molgen) is compared
graph by graph on SBM, harder SBM and planar graphs when ``--sbm-python`` names an interpreter
with graph-tool (e.g. Debian's ``apt-get install python3-graph-tool`` and ``/usr/bin/python3``):
agreement, not 1e-6, is what can be asked of two different inferences.

The reference code runs unmodified from a DiGress checkout (``--digress``, the folder holding
``src/analysis``) in a side interpreter (``--reference-python``) that has numpy, scipy,
networkx and pyemd; its imports of graph-tool, pygsp, wandb, torch and torch-geometric, which
these metrics do not use, are stubbed when missing. Orbit counts need DiGress's ORCA program,
compiled in the checkout. For example::

    git clone https://github.com/cvignac/DiGress /tmp/digress
    g++ -O2 -std=c++11 -o /tmp/digress/src/analysis/orca/orca \\
        /tmp/digress/src/analysis/orca/orca.cpp
    python3 -m venv /tmp/graphref && /tmp/graphref/bin/pip install numpy scipy networkx pyemd
    python scripts/compare_graph_metrics.py --digress /tmp/digress \\
        --reference-python /tmp/graphref/bin/python

molgen runs in this interpreter, the reference in a subprocess running this file with
``--reference-only``; the sets travel as graph6 files.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

TOLERANCE = 1e-6
#: name -> (generated set, reference set, kernel families compared)
COMPARISONS = {
    "planar": ("planar_train", "planar_test", ("tv",)),
    "sbm": ("sbm_train", "sbm_test", ("tv",)),
    "community_small": ("community_train", "community_test", ("tv", "emd")),
    "planar_vs_sbm": ("planar_test", "sbm_test", ("tv", "emd")),
    "planar_perturbed": ("planar_perturbed", "planar_test", ("tv", "emd")),
}
STATISTICS = ("degree", "clustering", "orbit", "spectral")
#: Sets whose graphs both SBM validity tests judge.
SBM_SETS = ("sbm_test", "sbm_harder", "planar_test")


def graph_sets() -> dict:
    """The fixed sets, as lists of networkx graphs."""
    import networkx as nx
    import numpy as np

    from molgen.data.graphs import load_graph_dataset, sbm_graphs

    planar, sbm, community = (load_graph_dataset(n) for n in ("planar", "sbm", "community_small"))
    rng = np.random.default_rng(0)
    perturbed = []
    for graph in planar.val.graphs[:24]:
        graph = graph.copy()
        edges = list(graph.edges())
        drop = rng.choice(len(edges), size=int(rng.integers(0, 12)), replace=False)
        graph.remove_edges_from(edges[i] for i in drop)
        perturbed.append(graph)
    relabel = rng.permutation(64).tolist()
    perturbed += [nx.relabel_nodes(g, dict(enumerate(relabel))) for g in perturbed[:6]]
    perturbed += planar.train.graphs[:10]
    return {
        "planar_train": planar.train.graphs[:40],
        "planar_test": planar.test.graphs,
        "sbm_train": sbm.train.graphs[:40],
        "sbm_test": sbm.test.graphs,
        # as many as the reference: DiGress's spectral_stats maps over the generated graphs
        # zipped with a list as long as the reference set, so it drops any generated graph
        # beyond that count (molgen uses them all)
        "community_train": community.train.graphs[:20],
        "community_test": community.test.graphs,
        "planar_perturbed": perturbed,
        "planar_all_train": planar.train.graphs,
        "sbm_harder": sbm_graphs(20, seed=1, p_intra=0.2, p_inter=0.01),
    }


def write_sets(sets: dict, folder: Path) -> None:
    import networkx as nx

    for name, graphs in sets.items():
        nodes = [nx.convert_node_labels_to_integers(g) for g in graphs]
        (folder / f"{name}.g6").write_bytes(
            b"".join(nx.to_graph6_bytes(g, header=False) for g in nodes)
        )


def read_sets(folder: Path) -> dict:
    import networkx as nx

    return {
        path.stem: [nx.from_graph6_bytes(line) for line in path.read_bytes().splitlines() if line]
        for path in sorted(folder.glob("*.g6"))
    }


def stub_unused_imports() -> None:
    """Stand-ins for the modules spectre_utils imports but these metrics never call."""
    import importlib.util

    for name in ("graph_tool", "pygsp", "wandb", "torch", "torch_geometric", "pyemd"):
        if importlib.util.find_spec(name) is None:
            module = types.ModuleType(name)
            sys.modules[name] = module
    if isinstance(sys.modules.get("graph_tool"), types.ModuleType) and not hasattr(
        sys.modules["graph_tool"], "__file__"
    ):
        sys.modules["graph_tool.all"] = types.ModuleType("graph_tool.all")
    torch = sys.modules["torch"]
    if not hasattr(torch, "__file__"):
        torch.Tensor = type("Tensor", (), {})  # scipy's array-API checks look for it
        torch.nn = types.SimpleNamespace(Module=object)
        sys.modules["torch.nn"] = torch.nn  # type: ignore[assignment]
    geometric = sys.modules["torch_geometric"]
    if not hasattr(geometric, "__file__"):
        utils = types.ModuleType("torch_geometric.utils")
        utils.to_networkx = None
        sys.modules["torch_geometric.utils"] = utils
    wandb = sys.modules["wandb"]
    if not hasattr(wandb, "__file__"):
        wandb.run = None


def run_reference(digress: str, folder: Path, part: str) -> dict:
    """DiGress's values on the sets in ``folder``: ``{comparison: {key: value}}`` for the MMD
    and V.U.N. part, ``{set: [verdict per graph]}`` for the SBM part."""
    stub_unused_imports()
    sys.path.insert(0, digress)
    from src.analysis import spectre_utils as su

    sets = read_sets(folder)
    start = time.perf_counter()
    values: dict = {}
    if part == "sbm":
        su.gt.seed_rng(0)
        for name in SBM_SETS:  # DiGress's eval_acc_sbm_graph runs 100 refinement sweeps
            values[name] = [
                bool(su.is_sbm_graph(g, strict=True, refinement_steps=100)) for g in sets[name]
            ]
        values["seconds"] = time.perf_counter() - start
        return values
    functions = {
        "degree": su.degree_stats,
        "clustering": su.clustering_stats,
        "orbit": su.orbit_stats_all,
        "spectral": su.spectral_stats,
    }
    for comparison, (generated, reference, kernels) in COMPARISONS.items():
        out = values.setdefault(comparison, {})
        for kernel in kernels:
            for stat, function in functions.items():
                out[f"{stat}_mmd/{kernel}"] = float(
                    function(sets[reference], sets[generated], compute_emd=kernel == "emd")
                )
    generated, train = sets["planar_perturbed"], sets["planar_all_train"]
    unique, unique_novel, vun = su.eval_fraction_unique_non_isomorphic_valid(
        generated, train, su.is_planar_graph
    )
    values["planar_perturbed"] |= {
        "uniqueness": unique,
        "unique_novel": unique_novel,
        "vun": vun,
        "novelty": 1.0 - su.eval_fraction_isomorphic(generated, train),
        "validity": su.eval_acc_planar_graph(generated),
    }
    values["seconds"] = time.perf_counter() - start
    return values


def run_molgen(folder: Path) -> dict:
    from molgen.metrics.graphs import graph_mmd, is_planar_graph, vun

    sets = read_sets(folder)
    start = time.perf_counter()
    values: dict = {}
    for comparison, (generated, reference, kernels) in COMPARISONS.items():
        out = values.setdefault(comparison, {})
        for kernel in kernels:
            for stat in STATISTICS:
                out[f"{stat}_mmd/{kernel}"] = graph_mmd(
                    stat, sets[generated], sets[reference], kernel
                )
    values["planar_perturbed"] |= vun(
        sets["planar_perturbed"], sets["planar_all_train"], is_planar_graph
    )
    values["seconds"] = time.perf_counter() - start
    return values


def run_molgen_sbm(folder: Path) -> dict:
    from molgen.metrics.graphs import is_sbm_graph

    sets = read_sets(folder)
    start = time.perf_counter()
    values: dict = {name: [bool(is_sbm_graph(g)) for g in sets[name]] for name in SBM_SETS}
    values["seconds"] = time.perf_counter() - start
    return values


def compare(reference: dict, molgen: dict) -> bool:
    print(f"{'comparison':>17s} {'key':>22s} {'reference':>14s} {'molgen':>14s} {'abs diff':>9s}")
    ok = True
    for comparison in COMPARISONS:
        for key, a in reference[comparison].items():
            b = molgen[comparison].get(key, math.nan)
            diff = abs(a - b)
            passed = diff <= TOLERANCE
            ok &= passed
            verdict = "PASS" if passed else "FAIL"
            print(f"{comparison:>17s} {key:>22s} {a:14.9f} {b:14.9f} {diff:9.1e} {verdict}")
    print(f"seconds: reference {reference['seconds']:.1f}, molgen {molgen['seconds']:.1f}")
    return ok


def compare_sbm(reference: dict, molgen: dict) -> None:
    print(f"{'SBM validity':>12s} {'graphs':>6s} {'DiGress':>8s} {'molgen':>8s} {'agree':>6s}")
    for name in SBM_SETS:
        a, b = reference[name], molgen[name]
        agree = sum(x == y for x, y in zip(a, b, strict=True))
        print(f"{name:>12s} {len(a):6d} {sum(a):8d} {sum(b):8d} {agree:6d}")
    print(f"seconds: reference {reference['seconds']:.1f}, molgen {molgen['seconds']:.1f}")


def reference_in_subprocess(python: str, digress: str, folder: str, part: str) -> dict:
    command = [python, __file__, "--digress", digress, "--reference-only", folder, "--part", part]
    out = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--digress", required=True, help="DiGress checkout (holds src/analysis)")
    parser.add_argument("--reference-python", default=sys.executable, help="its interpreter")
    parser.add_argument("--sbm-python", help="an interpreter with graph-tool: compare SBM tests")
    parser.add_argument("--reference-only", help=argparse.SUPPRESS)
    parser.add_argument("--part", default="mmd", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.reference_only:
        print(json.dumps(run_reference(args.digress, Path(args.reference_only), args.part)))
        return
    orca = Path(args.digress) / "src" / "analysis" / "orca" / "orca"
    if not orca.is_file():
        sys.exit(f"{orca} is missing: compile it (see this script's docstring)")
    with tempfile.TemporaryDirectory() as folder:
        write_sets(graph_sets(), Path(folder))
        reference = reference_in_subprocess(args.reference_python, args.digress, folder, "mmd")
        ok = compare(reference, run_molgen(Path(folder)))
        if args.sbm_python:
            sbm = reference_in_subprocess(args.sbm_python, args.digress, folder, "sbm")
            compare_sbm(sbm, run_molgen_sbm(Path(folder)))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
