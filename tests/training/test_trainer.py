import errno
import json
import math
import os
import signal
import time
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from molgen.cli import app
from molgen.config import load_config
from molgen.errors import InputError, Interrupted
from molgen.io import lock_folder
from molgen.training import (
    CheckpointError,
    TrainingDiverged,
    load_checkpoint,
    save_checkpoint,
    train,
)
from molgen.training import state as state_module
from molgen.training import steps as steps_module
from molgen.training import trainer as trainer_module

runner = CliRunner()


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


def debug_config(cache_dir, *overrides):
    return load_config(
        "configs/debug.yaml",
        [f"data.cache_dir={cache_dir}", "logging.wandb.mode=disabled", *overrides],
    )


def parameters(run_dir: Path) -> dict[str, torch.Tensor]:
    state = load_checkpoint(run_dir)
    return {
        f"{part}.{k}": v for part in ("generator", "discriminator") for k, v in state[part].items()
    }


def test_cli_train_then_sample_end_to_end(tmp_path, cache_dir, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    run_dir = tmp_path / "run"
    result = runner.invoke(
        app,
        [
            "train",
            "configs/debug.yaml",
            f"data.cache_dir={cache_dir}",
            "--out",
            str(run_dir),
            "--no-progress",
        ],
    )
    assert result.exit_code == 0, result.output
    for name in ("checkpoint.pt", "metrics.jsonl", "config.yaml", "train.smi", "curves.png"):
        assert (run_dir / name).is_file(), name
    # W&B (offline) wrote its run beside the history; the history is read from metrics.jsonl.
    assert len(list((run_dir / "wandb").glob("offline-run-*/run-*.wandb"))) == 1
    history = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    validity = [row["eval/validity"] for row in history if "eval/validity" in row]
    validity_relaxed = [row["eval/validity_relaxed"] for row in history if "eval/validity" in row]
    logged = [sorted(row) for row in history]  # shown on failure, with the CLI output
    assert len(validity) == 2, (result.output, logged)  # eval_every=10 over 20 steps
    assert all(0.0 <= v <= 1.0 for v in validity)

    out = tmp_path / "samples.smi"
    result = runner.invoke(
        app,
        [
            "sample",
            str(run_dir),
            "-n",
            "50",
            "-o",
            str(out),
            "--image",
            str(tmp_path / "s.png"),
            "--seed",
            "3",
        ],
    )
    assert result.exit_code == 0, result.output
    lines = out.read_text().split("\n")[:-1]
    assert len(lines) == 50  # one line per sample, invalid ones empty
    # A 20-step generator may produce no valid molecule; a grid is drawn whenever one exists.
    assert (tmp_path / "s.png").is_file() == any(lines)
    assert len(list((run_dir / "samples").glob("*.png"))) == sum(v > 0 for v in validity_relaxed)
    again = tmp_path / "again.smi"
    runner.invoke(app, ["sample", str(run_dir), "-n", "50", "-o", str(again), "--seed", "3"])
    assert again.read_text() == out.read_text()


def test_resume_gives_identical_parameters(tmp_path, cache_dir):
    straight, split = tmp_path / "straight", tmp_path / "split"
    train(
        debug_config(cache_dir, "train.steps=12", "train.checkpoint_every=100"),
        straight,
        progress=False,
    )
    train(debug_config(cache_dir, "train.steps=6"), split, progress=False)
    assert load_checkpoint(split)["step"] == 6
    train(
        debug_config(cache_dir, "train.steps=12", "train.checkpoint_every=100"),
        split,
        resume=True,
        progress=False,
    )
    a, b = parameters(straight), parameters(split)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_keep_best_keeps_the_checkpoint_of_the_best_validation_fcd(tmp_path, cache_dir):
    """best.pt is the checkpoint of the logged evaluation with the lowest FCD to the validation
    split (the first of equals): the same parameters as a run stopped at that step. A resumed
    run carries the record on and ends with the same best.pt."""
    best = ("train.keep_best=fcd", "train.eval_every=2", "train.checkpoint_every=100")
    best += ("generator.constraint=valence_connected",)  # valid samples, so an FCD
    run = tmp_path / "run"
    train(debug_config(cache_dir, "train.steps=8", *best), run, progress=False)
    history = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    fcd = {row["step"]: row["eval/fcd"] for row in history if "eval/fcd" in row}
    assert sorted(fcd) == [2, 4, 6, 8]
    step = min(fcd, key=lambda s: (fcd[s], s))
    saved = load_checkpoint(run / "best.pt")
    assert saved["step"] == step
    assert saved["best"] == {"metric": "fcd", "value": fcd[step], "step": step}
    assert load_checkpoint(run)["best"] == saved["best"]
    stopped = tmp_path / "stopped"
    train(debug_config(cache_dir, f"train.steps={step}", *best), stopped, progress=False)
    expected = parameters(stopped)
    for key, value in parameters(run / "best.pt").items():
        assert torch.equal(value, expected[key]), key

    split = tmp_path / "split"
    train(debug_config(cache_dir, "train.steps=4", *best), split, progress=False)
    train(debug_config(cache_dir, "train.steps=8", *best), split, resume=True, progress=False)
    assert load_checkpoint(split / "best.pt")["best"] == saved["best"]


def test_keep_best_fcd_without_the_fcd_package_fails_before_training(
    tmp_path, cache_dir, monkeypatch
):
    monkeypatch.setattr(trainer_module, "fcd_available", lambda: False)
    with pytest.raises(InputError, match=r"train\.keep_best=fcd needs the `fcd` package"):
        train(debug_config(cache_dir, "train.keep_best=fcd"), tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


def test_ema_run_keeps_the_average_and_samples_it(tmp_path, cache_dir):
    """Three steps with decay 0.5: the average is d2 (d1 (d0 w0 + (1 - d0) w1) + ...) of the
    generator after each step, which a run without EMA (same seed, same draws) reproduces."""
    from molgen.training.run import build_generator, load_run

    plain, averaged = tmp_path / "plain", tmp_path / "averaged"
    weights = []
    for steps in range(4):  # the generator's weights after 0, 1, 2 and 3 steps
        run = plain / str(steps)
        cfg = debug_config(cache_dir, f"train.steps={max(steps, 1)}", "train.eval_every=1000")
        if steps:
            train(cfg, run, progress=False)
            weights.append(load_checkpoint(run)["generator"])
    cfg = debug_config(cache_dir, "train.steps=3", "train.eval_every=1000", "train.ema_decay=0.5")
    train(cfg, averaged, progress=False)
    state = load_checkpoint(averaged)
    for key, value in state["generator"].items():
        assert torch.equal(value, weights[2][key])  # EMA does not change training
    vocab = load_run(averaged).vocab
    torch.manual_seed(cfg.seed)  # the run's initial weights
    initial = build_generator(cfg.generator, vocab).state_dict()
    for key in initial:
        expected = initial[key]
        for t, after in enumerate(weights):
            decay = min(0.5, (1 + t) / (10 + t))
            expected = decay * expected + (1 - decay) * after[key]
        torch.testing.assert_close(state["generator_ema"][key], expected)
    # Sampling a run uses its averaged weights.
    loaded = load_run(averaged).generator.state_dict()
    assert all(torch.equal(loaded[k], state["generator_ema"][k]) for k in loaded)


def test_interrupt_saves_and_resume_matches(tmp_path, cache_dir, monkeypatch):
    straight, interrupted = tmp_path / "straight", tmp_path / "interrupted"
    cfg = debug_config(
        cache_dir, "train.steps=8", "train.checkpoint_every=100", "train.eval_every=100"
    )
    train(cfg, straight, progress=False)

    calls = {"n": 0}
    original = steps_module.generator_loss

    def generator_loss_then_ctrl_c(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:  # Ctrl-C arrives during the 3rd generator step
            os.kill(os.getpid(), signal.SIGINT)
        return original(*args, **kwargs)

    monkeypatch.setattr(steps_module, "generator_loss", generator_loss_then_ctrl_c)
    with pytest.raises(Interrupted, match="SIGINT: stopped at step 3 of 8") as stopped:
        train(cfg, interrupted, progress=False)
    assert stopped.value.signum == signal.SIGINT
    assert load_checkpoint(interrupted)["step"] == 3  # the step in flight completed, then saved
    monkeypatch.setattr(steps_module, "generator_loss", original)
    train(cfg, interrupted, resume=True, progress=False)
    a, b = parameters(straight), parameters(interrupted)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_nan_loss_stops_with_clear_message_and_keeps_last_checkpoint(
    tmp_path, cache_dir, monkeypatch
):
    run_dir = tmp_path / "run"
    cfg = debug_config(
        cache_dir, "train.steps=10", "train.checkpoint_every=4", "train.eval_every=100"
    )
    original = steps_module.critic_loss
    calls = {"n": 0}

    def critic_loss_nan_later(*args, **kwargs):
        calls["n"] += 1
        loss, stats = original(*args, **kwargs)
        return (
            (loss * float("nan"), stats) if calls["n"] > 2 * 6 else (loss, stats)
        )  # step 6, n_critic=2

    monkeypatch.setattr(steps_module, "critic_loss", critic_loss_nan_later)
    with pytest.raises(TrainingDiverged, match=r"critic loss is nan .*at step 6.*checkpoint\.pt"):
        train(cfg, run_dir, progress=False)
    state = load_checkpoint(run_dir)
    assert state["step"] == 4
    assert all(torch.isfinite(v).all() for v in state["generator"].values())


def test_new_run_refuses_existing_directory(tmp_path, cache_dir):
    cfg = debug_config(cache_dir, "train.steps=2", "train.eval_every=100")
    train(cfg, tmp_path, progress=False)
    with pytest.raises(FileExistsError, match="--resume"):
        train(cfg, tmp_path, progress=False)


def test_resume_with_changed_model_config_is_refused(tmp_path, cache_dir):
    train(
        debug_config(cache_dir, "train.steps=2", "train.eval_every=100"), tmp_path, progress=False
    )
    with pytest.raises(InputError, match="generator"):
        train(
            debug_config(cache_dir, "train.steps=4", "generator.z_dim=4"),
            tmp_path,
            resume=True,
            progress=False,
        )


def test_resume_on_changed_data_is_refused(tmp_path, cache_dir):
    source = tmp_path / "mols.smi"
    bundled = Path("molgen/data/bundled/qm9_5k.smi").read_text().split("\n")
    molecules = [line.split()[0] for line in bundled if line and not line.startswith("#")][:200]
    source.write_text("\n".join(molecules) + "\n")
    data = ["data.name=null", f"data.path={source}"]
    run = tmp_path / "run"
    train(debug_config(cache_dir, *data, "train.steps=2"), run, progress=False)
    source.write_text("\n".join(molecules[:150] + ["CCO"] * 50) + "\n")  # same vocabulary
    with pytest.raises(InputError, match="training split .* differs .* was the data changed"):
        train(debug_config(cache_dir, *data, "train.steps=4"), run, resume=True, progress=False)


def test_corrupt_checkpoint_error_names_file(tmp_path, cache_dir):
    path = tmp_path / "checkpoint.pt"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match=str(path)):
        load_checkpoint(tmp_path)
    result = runner.invoke(app, ["train", "configs/debug.yaml", "--resume", str(tmp_path)])
    assert result.exit_code == 2 and "checkpoint.pt" in result.output


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.pt"
    save_checkpoint({"step": 1}, path)

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint({"step": 2}, path)
    assert load_checkpoint(path)["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]  # no temp file left behind


def test_parallel_sampling_equals_serial(tmp_path, cache_dir, samples):
    from molgen.chem import Vocabulary

    train(
        debug_config(cache_dir, "train.steps=2", "train.eval_every=100"), tmp_path, progress=False
    )
    # Bias the generator towards carbon atoms and sparse single bonds, so it makes valid
    # (often fragmented) molecules and the comparison below is not between lists of None.
    state = load_checkpoint(tmp_path)
    vocab = Vocabulary.from_dict(state["vocab"])
    atom_bias = state["generator"]["atom_head.bias"].view(vocab.max_atoms, vocab.num_atom_types)
    atom_bias[:, 1 + vocab.atom_types.index("C")] += 6.0
    bond_bias = state["generator"]["bond_head.bias"].view(-1, vocab.num_bond_types)
    bond_bias[:, 0] += 1.0
    bond_bias[:, 2:] -= 6.0
    save_checkpoint(state, tmp_path / "checkpoint.pt")

    serial = samples(tmp_path, 100, seed=5, batch_size=16)
    assert len(serial) == 100 and sum(s is not None for s in serial) > 50
    assert samples(tmp_path, 100, seed=5, batch_size=16, jobs=2) == serial
    assert samples(tmp_path, 100, seed=6, batch_size=16) != serial


def test_time_box_stops_with_a_resumable_checkpoint(tmp_path, cache_dir):
    cfg = debug_config(
        cache_dir, "train.steps=1000", "train.max_minutes=0.000001", "train.eval_every=1000"
    )
    train(cfg, tmp_path, progress=False)
    assert load_checkpoint(tmp_path)["step"] == 1  # stopped after the first step
    assert (tmp_path / "curves.png").is_file()
    train(
        debug_config(cache_dir, "train.steps=3", "train.eval_every=1000"),
        tmp_path,
        resume=True,
        progress=False,
    )
    assert load_checkpoint(tmp_path)["step"] == 3


@pytest.mark.parametrize(
    "overrides",
    [
        ["gan.rl_weight=0.5", "reward.objectives=[validity, qed]"],
        ["gan.pack=2"],
        ["gan.minibatch_std=true"],
        ["gan.diversity_weight=0.5"],
        ["generator.constraint=valence_connected"],
        # Both scorers get the features; aromatic bonds add the aromatic counts.
        ["discriminator.structure_features=true", "data.aromatic=true", "gan.rl_weight=0.5"],
    ],
    ids=["rl", "pack", "minibatch_std", "diversity", "constrained", "structure_features"],
)
def test_each_gan_option_trains_and_logs(tmp_path, cache_dir, overrides):
    cfg = debug_config(
        cache_dir, "train.steps=4", "train.eval_every=4", "logging.log_every=1", *overrides
    )
    train(cfg, tmp_path, progress=False)
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    losses = [r["train/generator_loss"] for r in records if "train/generator_loss" in r]
    assert len(losses) == 4 and all(math.isfinite(v) for v in losses)
    if cfg.gan.rl_weight:
        assert all(
            0.0 <= r["train/reward_rdkit_fake"] <= 1.0 for r in records if "train/reward_loss" in r
        )
        assert load_checkpoint(tmp_path)["reward"] is not None
    if cfg.discriminator.structure_features:
        # The heads read the readout, 3- to 6-cycles, circuit rank, aromatic bonds and
        # cycles, and 7 valence bins per atom type.
        state = load_checkpoint(tmp_path)
        width = cfg.discriminator.aggregate_dim + 10 + 7 * len(state["vocab"]["atom_types"])
        for part in ("discriminator", "reward"):
            assert state[part]["head.0.weight"].shape[1] == width, part
    if cfg.gan.diversity_weight:
        assert all(r["train/diversity"] > 0 for r in records if "train/generator_loss" in r)
    (evaluation,) = [r for r in records if "eval/validity" in r]
    # The constraints' share of the validity is reported at every evaluation.
    assert 0 <= evaluation["eval/constraint_free_share"] <= evaluation["eval/validity"]
    free = evaluation["eval/validity_unconstrained_logits"]
    assert evaluation["eval/constraint_free_share"] <= free
    if cfg.generator.constraint == "valence_connected":
        assert evaluation["eval/validity_relaxed"] == 1.0  # budgets: every sample sanitizes


@pytest.mark.slow  # compiles the critic step twice (about a minute on CPU)
def test_compiled_critic_step_trains_logs_and_resumes_exactly(tmp_path, cache_dir, cpp_compiler):
    straight, split = tmp_path / "straight", tmp_path / "split"
    overrides = (
        "train.eval_every=4",
        "logging.log_every=1",
        "train.compile=true",
        "discriminator.dropout=0.2",  # random draws inside the compiled step
    )
    train(debug_config(cache_dir, "train.steps=4", *overrides), straight, progress=False)
    records = [json.loads(line) for line in (straight / "metrics.jsonl").read_text().splitlines()]
    penalties = [r["train/gradient_penalty"] for r in records if "train/gradient_penalty" in r]
    assert len(penalties) == 4 and all(math.isfinite(p) and p > 0 for p in penalties)
    assert records[-1]["time/compile_s"] > 0
    # Compiling again on resume (a warm-up step) must not shift any random draw.
    train(debug_config(cache_dir, "train.steps=2", *overrides), split, progress=False)
    train(debug_config(cache_dir, "train.steps=4", *overrides), split, resume=True, progress=False)
    a, b = parameters(straight), parameters(split)
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_compile_is_refused_clearly_where_it_cannot_run(cache_dir, monkeypatch):
    cfg = debug_config(cache_dir, "train.compile=true")
    two_processes = type("Ctx", (), {"world_size": 2})()
    with pytest.raises(InputError, match="train.compile is for single-process runs"):
        state_module._compiled_critic_objective(
            cfg, two_processes, None, None, torch.device("cpu"), None
        )

    def no_compiler():
        raise RuntimeError("no working C++ compiler found")

    monkeypatch.setattr("torch._inductor.cpp_builder.get_cpp_compiler", no_compiler)
    one_process = type("Ctx", (), {"world_size": 1})()
    with pytest.raises(InputError, match=r"train.compile on CPU needs a C\+\+ compiler"):
        state_module._compiled_critic_objective(
            cfg, one_process, None, None, torch.device("cpu"), None
        )


def _cli_train(cache_dir, run_dir, *args):
    return runner.invoke(
        app,
        [
            "train",
            "configs/debug.yaml",
            f"data.cache_dir={cache_dir}",
            "logging.wandb.mode=disabled",
            "train.eval_every=100",
            *args,
            "--no-progress",
        ],
    )


def test_a_run_folder_in_use_is_refused_naming_it(tmp_path, cache_dir):
    run_dir = tmp_path / "run"
    with lock_folder(run_dir):  # another `molgen train` holds it (flock: per open file)
        for args in (["--out", str(run_dir)], ["--resume", str(run_dir)]):
            if args[0] == "--resume":
                save_checkpoint({"step": 1}, run_dir / "checkpoint.pt")
            result = _cli_train(cache_dir, run_dir, "train.steps=2", *args)
            assert result.exit_code == 2, result.output
            assert f"{run_dir} is in use by molgen process {os.getpid()}" in result.output
            assert load_checkpoint(run_dir)["step"] == 1 if args[0] == "--resume" else True


def test_weights_made_non_finite_by_an_update_stop_training(tmp_path, cache_dir, monkeypatch):
    cfg = debug_config(
        cache_dir, "train.steps=10", "train.checkpoint_every=2", "train.eval_every=100"
    )
    original = trainer_module.generator_step

    def huge_rate_from_step_3(state, rt, fake):
        if state.step == 3:  # the config refuses an infinite rate; an optimiser may get one
            state.opt_generator.param_groups[0]["lr"] = math.inf
        return original(state, rt, fake)

    monkeypatch.setattr(trainer_module, "generator_step", huge_rate_from_step_3)
    with pytest.raises(
        TrainingDiverged,
        match=r"generator weights became non-finite \(norm (nan|inf)\) in the update of step 3",
    ):
        train(cfg, tmp_path, progress=False)
    state = load_checkpoint(tmp_path)
    assert state["step"] == 2
    assert all(torch.isfinite(v).all() for v in state["generator"].values())


def test_sigterm_saves_stops_and_exits_143(tmp_path, cache_dir, monkeypatch):
    calls = {"n": 0}
    original = steps_module.generator_loss

    def generator_loss_then_sigterm(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:  # the scheduler's SIGTERM arrives during the 2nd generator step
            os.kill(os.getpid(), signal.SIGTERM)
        return original(*args, **kwargs)

    monkeypatch.setattr(steps_module, "generator_loss", generator_loss_then_sigterm)
    run_dir = tmp_path / "run"
    result = _cli_train(cache_dir, run_dir, "train.steps=8", "--out", str(run_dir))
    assert result.exit_code == 128 + signal.SIGTERM, result.output
    assert f"SIGTERM: stopped at step 2 of 8; {run_dir / 'checkpoint.pt'} is saved" in (
        result.output
    )
    assert load_checkpoint(run_dir)["step"] == 2


def test_resume_removes_temporaries_a_killed_write_left(tmp_path, cache_dir):
    train(
        debug_config(cache_dir, "train.steps=2", "train.eval_every=100"), tmp_path, progress=False
    )
    orphan = tmp_path / ".checkpoint.pt.k1ll3d.tmp"
    orphan.write_bytes(b"half a checkpoint")
    old = time.time() - 3600
    os.utime(orphan, (old, old))
    cfg = debug_config(cache_dir, "train.steps=3", "train.eval_every=100")
    train(cfg, tmp_path, resume=True, progress=False)
    assert not orphan.exists() and load_checkpoint(tmp_path)["step"] == 3


def test_resume_names_the_tensor_whose_shape_differs(tmp_path, cache_dir):
    train(
        debug_config(cache_dir, "train.steps=2", "train.eval_every=100"), tmp_path, progress=False
    )
    state = load_checkpoint(tmp_path)
    state["discriminator"][next(iter(state["discriminator"]))] = torch.zeros(2, 2)
    save_checkpoint(state, tmp_path / "checkpoint.pt")
    cfg = debug_config(cache_dir, "train.steps=4", "train.eval_every=100")
    with pytest.raises(
        CheckpointError,
        match=r"checkpoint\.pt: .*discriminator\..* has shape \(2, 2\) where .*written by molgen",
    ):
        train(cfg, tmp_path, resume=True, progress=False)
    del state["opt_generator"]
    save_checkpoint(state, tmp_path / "checkpoint.pt")
    with pytest.raises(CheckpointError, match="no 'opt_generator' entry"):
        train(cfg, tmp_path, resume=True, progress=False)


def test_a_checkpoint_from_before_the_optional_parts_resumes_exactly(tmp_path, cache_dir):
    cfg = debug_config(cache_dir, "train.steps=4", "train.eval_every=100")
    train(cfg, tmp_path / "straight", progress=False)
    train(debug_config(cache_dir, "train.steps=2", "train.eval_every=100"), tmp_path / "old")
    state = load_checkpoint(tmp_path / "old")
    for key in ("reward", "opt_reward", "generator_ema"):  # off: None today, absent before
        assert state.pop(key) is None
    save_checkpoint(state, tmp_path / "old" / "checkpoint.pt")
    train(cfg, tmp_path / "old", resume=True, progress=False)
    for name, value in parameters(tmp_path / "straight").items():
        torch.testing.assert_close(parameters(tmp_path / "old")[name], value, rtol=0, atol=0)
    state = load_checkpoint(tmp_path / "old")
    state["generator_ema"] = [1.0]  # present, so checked
    save_checkpoint(state, tmp_path / "old" / "checkpoint.pt")
    with pytest.raises(CheckpointError, match="entry 'generator_ema' is a list"):
        train(cfg, tmp_path / "old", resume=True, progress=False)
    state["generator_ema"] = None
    state["train_set"] = "abc"  # present, so checked before it is compared
    save_checkpoint(state, tmp_path / "old" / "checkpoint.pt")
    with pytest.raises(CheckpointError, match="entry 'train_set' is a str, not dict"):
        train(cfg, tmp_path / "old", resume=True, progress=False)


def test_output_faults_in_training_exit_1_and_keep_the_checkpoint(tmp_path, cache_dir, monkeypatch):
    (tmp_path / "file").write_text("x")
    result = _cli_train(cache_dir, None, "--out", str(tmp_path / "file" / "run"))
    assert result.exit_code == 2 and "file" in result.output, result.output
    run_dir = tmp_path / "run"
    assert _cli_train(cache_dir, run_dir, "train.steps=2", "--out", str(run_dir)).exit_code == 0

    def disk_full(src, dst):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("molgen.io.os.replace", disk_full)
    result = _cli_train(cache_dir, run_dir, "train.steps=4", "--resume", str(run_dir))
    assert result.exit_code == 1, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error")]
    assert errors == [f"error: cannot write {run_dir / 'checkpoint.pt'}: No space left on device"]
    assert load_checkpoint(run_dir)["step"] == 2


def test_wandb_online_without_network_fails_before_the_run_starts(tmp_path, cache_dir, monkeypatch):
    def unreachable(address, timeout):
        raise OSError(errno.ENETUNREACH, "Network is unreachable")

    monkeypatch.setattr("molgen.tracking.socket.create_connection", unreachable)
    run_dir = tmp_path / "run"
    result = _cli_train(cache_dir, run_dir, "logging.wandb.mode=online", "--out", str(run_dir))
    assert result.exit_code == 1, result.output
    assert "cannot be reached (Network is unreachable)" in result.output
    assert not run_dir.exists()


def test_training_mistakes_exit_2_with_a_message_naming_what_to_fix(
    tmp_path, cache_dir, monkeypatch
):
    run_dir = tmp_path / "run"
    assert _cli_train(cache_dir, run_dir, "train.steps=2", "--out", str(run_dir)).exit_code == 0
    split = len((run_dir / "train.smi").read_text().splitlines())
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)

    def no_compiler():
        raise RuntimeError("no working C++ compiler found")

    monkeypatch.setattr("torch._inductor.cpp_builder.get_cpp_compiler", no_compiler)
    cases = {
        "resume, another config": (
            ["train.steps=4", "generator.z_dim=4", "--resume", str(run_dir)],
            "the config differs from the run's in generator",
        ),
        "a batch larger than the data": (
            [f"train.batch_size={10**8}", "--out", str(tmp_path / "big")],
            f"train.batch_size=100000000 is larger than the training split ({split} molecules)",
        ),
        "CUDA without CUDA": (
            ["train.device=cuda", "--out", str(tmp_path / "cuda")],
            "train.device='cuda' but CUDA is not available on this machine",
        ),
        "compile without a compiler": (
            ["train.compile=true", "--out", str(tmp_path / "compiled")],
            "train.compile on CPU needs a C++ compiler",
        ),
    }
    for case, (args, message) in cases.items():
        result = _cli_train(cache_dir, None, *args)
        errors = [line for line in result.output.splitlines() if line.startswith("error: ")]
        assert result.exit_code == 2, (case, result.output)
        assert len(errors) == 1 and message in errors[0], (case, result.output)
    assert load_checkpoint(run_dir)["step"] == 2  # the refused resume left the run as it was
