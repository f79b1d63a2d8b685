"""Data-parallel training under torchrun (2 CPU processes, gloo)."""

import json
import os
import subprocess
import sys

import pytest
import torch

from molgen.training import load_checkpoint


def torchrun(run_dir, cache_dir, *args, resume=False):
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
        "-m", "molgen", "train", "configs/debug.yaml", f"data.cache_dir={cache_dir}", *args,
        "--resume" if resume else "--out", str(run_dir), "--no-progress",
    ]  # fmt: skip
    env = {**os.environ, "WANDB_MODE": "offline", "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def records(run_dir):
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


@pytest.mark.slow  # starts two torchrun processes
def test_two_ranks_stay_in_sync_with_one_run_and_one_checkpoint(tmp_path, cache_dir):
    run_dir = tmp_path / "run"
    torchrun(run_dir, cache_dir, "train.steps=8", "train.eval_every=4")
    final = [r for r in records(run_dir) if "distributed/max_param_divergence" in r]
    assert len(final) == 1
    assert final[0]["distributed/world_size"] == 2
    assert final[0]["distributed/max_param_divergence"] == 0.0
    # Rank 0 alone logs, evaluates and checkpoints: one W&B run, one checkpoint, one eval series.
    assert len(list((run_dir / "wandb").glob("offline-run-*"))) == 1
    assert sorted(p.name for p in run_dir.glob("*.pt")) == ["checkpoint.pt"]
    assert [r["step"] for r in records(run_dir) if "eval/validity" in r] == [4, 8]
    state = load_checkpoint(run_dir)
    assert state["step"] == 8 and len(state["rng"]) == 2
    # Ranks drew different noise: their RNG states differ.
    assert not torch.equal(state["rng"][0]["noise"], state["rng"][1]["noise"])


@pytest.mark.slow
def test_distributed_resume_matches_uninterrupted_run(tmp_path, cache_dir):
    straight, split = tmp_path / "straight", tmp_path / "split"
    torchrun(
        straight, cache_dir, "train.steps=8", "train.eval_every=100", "train.checkpoint_every=100"
    )
    torchrun(split, cache_dir, "train.steps=4", "train.eval_every=100")
    torchrun(
        split,
        cache_dir,
        "train.steps=8",
        "train.eval_every=100",
        "train.checkpoint_every=100",
        resume=True,
    )
    a, b = load_checkpoint(straight), load_checkpoint(split)
    for part in ("generator", "discriminator"):
        for key in a[part]:
            assert torch.equal(a[part][key], b[part][key]), (part, key)
