"""What a ``non_crossing`` generator's layout prior reaches on the planar benchmark untrained.

    python scripts/planar_prior.py [--samples 40] [--seed 0] [--weight 10] [--spacing 0.7 0.8]

The planar graphs are Delaunay triangulations of uniform random points. This script draws
``--samples`` sets of 64 uniform random points in the unit square and scores, against the
planar test split (the 40 graphs ``molgen train configs/planar.yaml`` holds out), with
``molgen evaluate --graphs``'s metrics:

- ``training graphs``: the first ``--samples`` training graphs. Same recipe, other graphs: the
  floor of each MMD at this sample size.
- ``Delaunay``: the Delaunay triangulation of the points, the data's recipe on new points.
- ``rounds``, ``score order`` and ``greedy``: the graphs that the edge sampler of a
  ``non_crossing`` generator draws when its positions are these points and its edge logits are
  the training density plus the distance term
  (:func:`molgen.models.graph_generator.distance_fall` with ``w = --weight``, the generator's
  start). The sampler uses ``Budget`` (degree 12), ``NonCrossing`` and ``connect="join"``.
  ``rounds`` runs ``NonCrossing`` in the rounds' order. ``score order`` sets ``rivals`` to
  3N - 6 (``non_crossing_order: score``, what ``configs/planar.yaml`` uses). ``greedy`` makes
  every pair a rival, so each pair waits for all likelier pairs that cross it.
- ``spaced s``: score order after the points go through
  :func:`molgen.models.graph_generator.spread_positions` with spacing ``s`` (the generator's
  ``node_spacing``), one row per ``--spacing``.

This separates what the prior gives from what training adds, and measures how far a
crossing-free drawing of points is from the data's triangulation. Each row also prints the
mean number of nodes of degree 3 and of clustering 1 per graph: in a triangulation, an inner
node of degree 3 has clustering 1. One process, one thread; about ten seconds.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence

import networkx as nx
import numpy as np
import torch
from scipy.spatial import Delaunay

from molgen.data.graphs import dense_to_graphs, planar_graphs, spectre_split
from molgen.metrics.graphs import evaluate_graphs
from molgen.models.graph_generator import (
    INITIAL_DISTANCE_WEIGHT,
    distance_fall,
    spread_positions,
)
from molgen.nn.constrained import Budget, NonCrossing, constrained_symmetric_gumbel_softmax

N_NODES = 64
MAX_DEGREE = 12
COLUMNS = ("vun", "degree_mmd", "clustering_mmd", "orbit_mmd", "spectral_mmd")


def delaunay_graph(points: np.ndarray) -> nx.Graph:
    """The Delaunay triangulation of ``points [N, 2]`` as a graph on nodes ``0..N-1``."""
    graph = nx.Graph()
    graph.add_nodes_from(range(len(points)))
    for a, b, c in Delaunay(points).simplices:
        graph.add_edges_from(((int(a), int(b)), (int(b), int(c)), (int(a), int(c))))
    return graph


def drawn_graphs(
    positions: torch.Tensor, density: float, weight: float, rivals: int | None, seed: int
) -> list[nx.Graph]:
    """The graphs the ``non_crossing`` sampler draws at ``positions [B, N, 2]`` from the
    density prior minus the distance term."""
    batch, n, _ = positions.shape
    edge = math.log(density / (1 - density)) - distance_fall(positions, weight)  # [B, P]
    logits = torch.stack([torch.zeros_like(edge), edge], -1)  # [B, P, 2]
    rules = (
        Budget(torch.full((batch, n), float(MAX_DEGREE)), torch.tensor([0.0, 1.0])),
        NonCrossing(positions, rivals),
    )
    generator = torch.Generator().manual_seed(seed)
    adj = constrained_symmetric_gumbel_softmax(
        logits, 1.0, rules=rules, connect="join", generator=generator
    )  # [B, N, N, 2]
    return dense_to_graphs(torch.ones(batch, n), adj.argmax(-1))  # every node present


def shape_counts(graphs: Sequence[nx.Graph]) -> tuple[float, float]:
    """Mean nodes of degree 3 and of clustering 1 per graph."""
    degree3 = sum(sum(1 for _, d in g.degree() if d == 3) for g in graphs)
    closed = sum(sum(1 for c in nx.clustering(g).values() if c == 1) for g in graphs)
    return degree3 / len(graphs), closed / len(graphs)


def main(argv: Sequence[str] | None = None) -> dict[str, dict[str, float]]:
    """Print the table; return each row's metrics (and ``edges``) by its name."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=40, help="point sets (and graphs)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--weight", type=float, default=INITIAL_DISTANCE_WEIGHT, help="w")
    parser.add_argument(
        "--spacing", type=float, nargs="*", default=[0.7, 0.8], help="node_spacing values"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    graphs = planar_graphs()
    train_index, _, test_index = spectre_split(len(graphs))
    train = [graphs[i] for i in train_index]
    test = [graphs[i] for i in test_index]
    density = float(np.mean([nx.density(g) for g in train]))

    gen = torch.Generator().manual_seed(args.seed)
    positions = torch.rand(args.samples, N_NODES, 2, generator=gen, dtype=torch.float64)
    candidates = {
        "training graphs": train[: args.samples],
        "Delaunay": [delaunay_graph(p) for p in positions.numpy()],
    }
    score_order, every_pair = 3 * N_NODES - 6, N_NODES * (N_NODES - 1) // 2
    layouts = [
        ("rounds", positions, None),
        ("score order", positions, score_order),
        ("greedy", positions, every_pair),
    ]
    layouts += [
        (f"spaced {s:g}", spread_positions(positions, s), score_order) for s in args.spacing
    ]
    for name, layout, rivals in layouts:
        candidates[name] = drawn_graphs(layout.float(), density, args.weight, rivals, args.seed)

    print(
        f"{args.samples} graphs each against the {len(test)} planar test graphs "
        f"(w = {args.weight:g}, training density {density:.4f})"
    )
    header = f"{'graphs':>16} | {'edges':>6} | " + " ".join(f"{c:>14}" for c in COLUMNS)
    print(header + f" | {'degree 3':>8} {'clust. 1':>8}")
    print("-" * (len(header) + 20))
    rows = {}
    for name, generated in candidates.items():
        metrics = evaluate_graphs(generated, test, train, "planar").metrics
        edges = float(np.mean([g.number_of_edges() for g in generated]))
        degree3, closed = shape_counts(generated)
        cells = " ".join(f"{metrics[c]:14.4f}" for c in COLUMNS)
        print(f"{name:>16} | {edges:6.1f} | {cells} | {degree3:8.2f} {closed:8.2f}")
        rows[name] = {**metrics, "edges": edges}
    return rows


if __name__ == "__main__":
    main()
