"""Training curves from ``metrics.jsonl`` as one PNG (losses, temperature, evaluation metrics)."""

from __future__ import annotations

import json
from pathlib import Path

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
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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
    fig.tight_layout()
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=100)
    plt.close(fig)
    return out_png
