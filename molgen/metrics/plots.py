"""Report figures: property distributions (samples vs reference) and a molecule grid."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from molgen.metrics.evaluator import TABLE_PROPERTIES, Evaluation
from molgen.metrics.reference import Reference
from molgen.parallel import ProcessPool
from molgen.plotting import pyplot, save_figure

__all__ = ["plot_molecule_grid", "plot_property_distributions"]

_LABELS = {"qed": "QED", "logp": "Crippen logP", "sa": "SA score"}


def plot_property_distributions(
    evaluation: Evaluation,
    path: str | Path,
    reference: Reference | None = None,
    n_jobs: int | None = 1,
) -> Path:
    """One density histogram per property (QED, logP, SA) of the strict-valid samples
    (duplicates weighted), overlaid with the reference's when given; saved as a PNG."""
    plt = pyplot()

    names = [name for name in TABLE_PROPERTIES if name in evaluation.properties]
    if not names:
        raise ValueError("evaluation has no properties to plot (evaluate with keep_table=True)")
    fig, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 3.2), squeeze=False)
    with ProcessPool(n_jobs) as pool:
        for ax, name in zip(axes[0], names, strict=True):
            sampled = evaluation.properties[name]
            ref = None if reference is None else reference.feature(name, pool)
            pooled = np.concatenate([sampled, ref]) if ref is not None else sampled
            bins = np.histogram_bin_edges(pooled, bins=40) if len(pooled) else 10
            if len(sampled):
                ax.hist(
                    sampled,
                    bins=bins,
                    weights=evaluation.weights,
                    density=True,
                    alpha=0.6,
                    label="generated",
                )
            if ref is not None:
                ax.hist(ref, bins=bins, density=True, alpha=0.6, label="reference")
            ax.set_xlabel(_LABELS[name])
            ax.legend()
    axes[0][0].set_ylabel("density")
    return save_figure(fig, path)


def plot_molecule_grid(evaluation: Evaluation, path: str | Path, n: int = 32) -> Path | None:
    """The first ``n`` distinct valid molecules with their QED as legend; None if there are none."""
    from molgen.chem.draw import draw_grid

    smiles = evaluation.distinct[:n]
    if not smiles:
        return None
    qed = evaluation.properties.get("qed")
    legends = None if qed is None else [f"QED {q:.2f}" for q in qed[:n]]
    return draw_grid(smiles, path, legends=legends)
