"""Training curves from ``metrics.jsonl`` as one PNG (losses, temperature, evaluation metrics)."""

from __future__ import annotations

import json
from pathlib import Path

from molgen.plotting import pyplot, save_figure

__all__ = ["plot_training_curves"]

_PANELS = {
    "losses": (
        "train/critic_loss",
        "train/generator_loss",
        "train/wasserstein",
        "train/gradient_penalty",
    ),
    "temperature": ("tau",),
    "validity, uniqueness, novelty": (
        "eval/validity",
        "eval/validity_relaxed",
        "eval/uniqueness",
        "eval/novelty",
    ),
    "properties": ("eval/qed", "eval/sa"),
}


def plot_training_curves(metrics_jsonl: Path, out_png: Path) -> Path:
    """Plot every known series present in ``metrics_jsonl``; panels with no data are left out."""
    plt = pyplot()

    series: dict[str, tuple[list[int], list[float]]] = {}
    for line in Path(metrics_jsonl).read_text().splitlines():
        record = json.loads(line)
        for key, value in record.items():
            if key != "step" and value is not None:
                steps, values = series.setdefault(key, ([], []))
                steps.append(record["step"])
                values.append(value)
    panels = {t: [k for k in keys if k in series] for t, keys in _PANELS.items()}
    panels = {t: keys for t, keys in panels.items() if keys}
    fig, axes = plt.subplots(1, max(len(panels), 1), figsize=(4.5 * max(len(panels), 1), 3.5))
    for ax, (title, keys) in zip(axes if len(panels) > 1 else [axes], panels.items(), strict=False):
        for key in keys:
            ax.plot(*series[key], label=key.split("/")[-1])
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.legend(fontsize=7)
    return save_figure(fig, out_png)
