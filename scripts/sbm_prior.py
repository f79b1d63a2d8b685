"""What a ``communities`` generator's block-model start reaches on the SBM benchmark untrained.

    python scripts/sbm_prior.py [--samples 100] [--seed 0] [--sizes 30 35 38]

The SBM graphs (:func:`molgen.data.graphs.sbm_graphs`) have 2-5 communities of 20-40 nodes,
edges with probability 0.3 within a community and 0.005 between two. This script draws
``--samples`` node counts from the training graphs and, for each, a block model's graph, and
scores them against the SBM test split (the 40 graphs ``molgen train configs/sbm.yaml`` holds
out) with ``molgen evaluate --graphs``'s metrics:

- ``training graphs``: the first ``--samples`` training graphs. Same recipe, other graphs: the
  floor of each MMD at this sample size.
- ``recipe``: new graphs from the recipe, whatever their node counts.
- ``recipe's split``: the recipe's communities for the drawn node count (a count and sizes
  drawn from the recipe until they add up to it), at the recipe's densities: the best that
  a split fitted to the node count can do.
- ``data's split``: the communities of the first training graph of n nodes
  (:func:`molgen.data.graphs.community_sizes`), what a ``communities`` generator with
  ``community_size: data`` (the config's) draws at its start, at the densities it starts at
  (:data:`molgen.models.graph_generator.COMMUNITY_START_LOGITS` around the training graphs'
  density).
- ``even, S = s``: ``ceil(n / s)`` communities of even sizes, what a generator with
  ``community_size: s`` draws at its start, at the same densities, one row per ``--sizes``.

The edges are drawn independently (no degree cap, no joining), so the rows isolate what the
split and the densities give. One process; about a minute at 100 samples.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence

import networkx as nx
import numpy as np

from molgen.data.graphs import block_model_graph, community_sizes, sbm_graphs, spectre_split
from molgen.metrics.graphs import evaluate_graphs
from molgen.models.graph_generator import COMMUNITY_START_LOGITS

COLUMNS = ("vun", "degree_mmd", "clustering_mmd", "orbit_mmd", "spectral_mmd")
RECIPE_COMMUNITIES, RECIPE_SIZES, RECIPE_DENSITIES = (2, 5), (20, 40), (0.3, 0.005)


def even_split(n: int, size: int) -> list[int]:
    """``ceil(n / size)`` community sizes adding up to ``n``, as even as whole nodes allow."""
    count = math.ceil(n / size)
    return [n // count + (i < n % count) for i in range(count)]


def recipe_split(n: int, rng: np.random.Generator) -> list[int]:
    """The recipe's community sizes, drawn until they add up to ``n``."""
    while True:
        count = int(rng.integers(RECIPE_COMMUNITIES[0], RECIPE_COMMUNITIES[1] + 1))
        sizes = rng.integers(RECIPE_SIZES[0], RECIPE_SIZES[1] + 1, size=count)
        if sizes.sum() == n:
            return sizes.tolist()


def main(argv: Sequence[str] | None = None) -> dict[str, dict[str, float]]:
    """Print the table; return each row's metrics by its name."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=100, help="graphs per row")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--sizes", type=int, nargs="*", default=[30, 35, 38], help="community_size values"
    )
    args = parser.parse_args(argv)

    graphs = sbm_graphs()
    train_index, _, test_index = spectre_split(len(graphs))
    train = [graphs[i] for i in train_index]
    test = [graphs[i] for i in test_index]
    density = float(np.mean([nx.density(g) for g in train]))
    logit = math.log(density / (1 - density))
    start = tuple(1 / (1 + math.exp(-(logit + shift))) for shift in COMMUNITY_START_LOGITS)

    rng = np.random.default_rng(args.seed)
    counts = rng.choice([g.number_of_nodes() for g in train], size=args.samples).tolist()
    candidates = {
        "training graphs": train[: args.samples],
        "recipe": sbm_graphs(args.samples, seed=args.seed + 1),
        "recipe's split": [
            block_model_graph(recipe_split(n, rng), *RECIPE_DENSITIES, rng) for n in counts
        ],
    }
    first_split: dict[int, tuple[int, ...]] = {}
    for graph in train:
        first_split.setdefault(graph.number_of_nodes(), community_sizes(graph))
    candidates["data's split"] = [block_model_graph(first_split[n], *start, rng) for n in counts]
    for size in args.sizes:
        candidates[f"even, S = {size}"] = [
            block_model_graph(even_split(n, size), *start, rng) for n in counts
        ]

    print(
        f"{args.samples} graphs each against the {len(test)} SBM test graphs (training density "
        f"{density:.4f}; the start: {start[0]:.3f} within, {start[1]:.4f} between)"
    )
    header = f"{'graphs':>16} | " + " ".join(f"{c:>14}" for c in COLUMNS)
    print(header)
    print("-" * len(header))
    rows = {}
    for name, generated in candidates.items():
        metrics = evaluate_graphs(generated, test, train, "sbm").metrics
        print(f"{name:>16} | " + " ".join(f"{metrics[c]:14.4f}" for c in COLUMNS))
        rows[name] = metrics
    return rows


if __name__ == "__main__":
    main()
