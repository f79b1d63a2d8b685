"""Experiment tracking: a local ``metrics.jsonl`` always, Weights & Biases when enabled.

The only module that imports wandb, and only when a W&B run is opened. W&B runs are offline by
default (no account or network needed; ``wandb sync RUN_DIR/wandb/offline-run-*`` uploads later):
``logging.wandb.mode`` wins, then ``$WANDB_MODE``, then ``offline``.
"""

from __future__ import annotations

import csv
import json
import math
import os
import socket
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from molgen.config import WandbConfig
from molgen.errors import InputError, MolgenFault

__all__ = ["Tracker", "check_wandb_reachable", "open_tracker", "resolve_wandb_mode"]

_RUN_ID_FILE = "wandb_run_id"


def resolve_wandb_mode(mode: str | None) -> str:
    """Config value, else ``$WANDB_MODE``, else offline (never online by accident).

    Raises :class:`~molgen.errors.InputError` for a ``$WANDB_MODE`` that is not one of the three
    modes, an empty one included (wandb itself would reject it later, mid-start)."""
    env = os.environ.get("WANDB_MODE")
    mode = mode or env
    if mode is None:
        return "offline"
    if mode not in ("online", "offline", "disabled"):
        raise InputError(f"WANDB_MODE must be online, offline or disabled, got {mode!r}")
    return mode


#: Seconds to wait for W&B's server before an online run gives up (W&B itself retries ~95 s).
CONNECT_TIMEOUT_S = 5.0


def _wandb_server() -> tuple[str, int]:
    """Host and port of the W&B server an online run talks to (``$WANDB_BASE_URL`` when set)."""
    base_url = os.environ.get("WANDB_BASE_URL")
    if base_url is None:
        from wandb.sdk.lib.urls import DEFAULT_BASE_URL  # moves between wandb versions

        base_url = DEFAULT_BASE_URL
    url = urlsplit(base_url)
    return url.hostname or base_url, url.port or (80 if url.scheme == "http" else 443)


def check_wandb_reachable(wandb: WandbConfig | None) -> None:
    """For an online W&B run, connect to W&B's server once (at most :data:`CONNECT_TIMEOUT_S`
    seconds) and raise :class:`~molgen.errors.MolgenFault` naming it when that fails, so a run
    without network stops before it starts rather than after W&B's own retries. Offline and
    disabled runs need no network and are not checked."""
    if wandb is None or resolve_wandb_mode(wandb.mode) != "online":
        return
    host, port = _wandb_server()
    try:
        socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as error:
        raise MolgenFault(
            f"W&B is online (logging.wandb.mode or $WANDB_MODE) but its server {host}:{port} "
            f"cannot be reached ({error.strerror or error}); run offline with "
            "logging.wandb.mode=offline and upload later with `wandb sync`"
        ) from error


class Tracker:
    """Logs scalars to ``run_dir/metrics.jsonl`` (one JSON object per line, with ``step``),
    tables to ``run_dir/tables/KEY-STEP.tsv``; mirrors everything to a W&B run if one is open."""

    def __init__(self, run_dir: Path, wandb_run: Any | None = None) -> None:
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.wandb_run = wandb_run
        self._jsonl = open(self.run_dir / "metrics.jsonl", "a", buffering=1)  # noqa: SIM115

    def log(self, metrics: dict[str, float], step: int) -> None:
        # NaN/inf are not JSON; keep the key with a null so gaps are visible.
        clean = {k: (float(v) if math.isfinite(float(v)) else None) for k, v in metrics.items()}
        self._jsonl.write(json.dumps({"step": step, **clean}) + "\n")
        if self.wandb_run is not None:
            self.wandb_run.log(dict(metrics), step=step)

    def log_table(self, key: str, columns: list[str], rows: list[list[Any]], step: int) -> Path:
        path = self.run_dir / "tables" / f"{key.replace('/', '_')}-{step:07d}.tsv"
        path.parent.mkdir(exist_ok=True)
        with open(path, "w", newline="") as f:
            writer = csv.writer(f, delimiter="\t")
            writer.writerow(columns)
            writer.writerows(rows)
        if self.wandb_run is not None:
            import wandb

            self.wandb_run.log({key: wandb.Table(columns=columns, data=rows)}, step=step)
        return path

    def log_image(self, key: str, path: Path, step: int, caption: str | None = None) -> None:
        if self.wandb_run is not None:
            import wandb

            self.wandb_run.log({key: wandb.Image(str(path), caption=caption)}, step=step)

    def log_artifact(self, path: Path, name: str, type: str = "model") -> None:
        if self.wandb_run is not None:
            import wandb

            artifact = wandb.Artifact(name=name, type=type)
            artifact.add_file(str(path))
            self.wandb_run.log_artifact(artifact)

    def finish(self) -> None:
        self._jsonl.close()
        if self.wandb_run is not None:
            self.wandb_run.finish()
            self.wandb_run = None

    def __enter__(self) -> Tracker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.finish()


def open_tracker(
    run_dir: Path,
    config: dict[str, Any],
    *,
    wandb: WandbConfig | None = None,
    job_type: str = "train",
    name: str | None = None,
) -> Tracker:
    """Open a tracker for ``run_dir``. ``wandb=None`` or mode ``disabled``: JSONL only.

    A W&B run started in ``run_dir`` is resumed (same run id) when the directory is reopened,
    so a resumed training run continues its W&B history instead of starting a new one.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    if wandb is None or resolve_wandb_mode(wandb.mode) == "disabled":
        return Tracker(run_dir)

    check_wandb_reachable(wandb)
    import wandb as wandb_lib

    mode = resolve_wandb_mode(wandb.mode)
    if mode == "offline":
        # W&B's process-wide settings decide its own telemetry; unless they say offline too,
        # an offline run still looks up W&B's server (one DNS query) to report it.
        wandb_lib.setup(settings=wandb_lib.Settings(mode="offline"))
    id_file = run_dir / _RUN_ID_FILE
    if id_file.exists():  # a resumed run continues its W&B run
        run_id = id_file.read_text().strip()
    else:  # a sweep agent chooses the run id; otherwise a fresh one
        run_id = os.environ.get("WANDB_RUN_ID") or uuid.uuid4().hex[:12]
    id_file.write_text(run_id)
    run = wandb_lib.init(
        project=wandb.project,
        entity=wandb.entity,
        tags=wandb.tags,
        name=name,
        job_type=job_type,
        config=config,
        dir=str(run_dir),
        mode=mode,
        id=run_id,
        resume="allow",
        settings=wandb_lib.Settings(console="off", silent=True),
    )
    return Tracker(run_dir, run)
