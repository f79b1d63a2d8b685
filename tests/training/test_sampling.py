"""Sampling a run: in this process or in workers, the same molecules."""

import pytest
from typer.testing import CliRunner

from molgen.cli import app
from molgen.training import CheckpointError, iter_samples, load_run

runner = CliRunner()


def test_a_loaded_run_samples_like_its_checkpoint(run_dir, samples):
    path, _ = run_dir
    run = load_run(path)
    assert samples(run, 40, seed=1, batch_size=16) == samples(path, 40, 1, 16)


def test_a_worker_that_cannot_load_the_checkpoint_stops_sampling_with_its_error(run_dir, samples):
    path, _ = run_dir
    run = load_run(path)
    (path / "checkpoint.pt").write_bytes(b"truncated")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        list(iter_samples(run, 64, batch_size=16, jobs=2))


@pytest.mark.parametrize("command", ["sample", "evaluate"])
def test_a_seed_outside_what_sampling_can_tell_apart_is_refused(run_dir, tmp_path, command):
    """Batch i draws from (seed * 1_000_003 + i) mod 2**63: --seed 2**64 would silently give
    --seed 0's molecules, and -1 those of 2**63 - 1."""
    path, _ = run_dir
    out = tmp_path / ("s.smi" if command == "sample" else "report.json")
    for seed in (-1, 2**63, 2**64):
        result = runner.invoke(
            app, [command, str(path), "-n", "4", "--seed", str(seed), "-o", str(out)]
        )
        assert result.exit_code == 2, result.output
        message = " ".join(result.output.replace("│", " ").split())  # unwrap the error box
        bound = "less than or equal to 9223372036854775807" if seed > 0 else "greater than"
        assert "Invalid value for '--seed'" in message and bound in message, result.output
        assert not out.exists()
    if command == "sample":
        result = runner.invoke(
            app, ["sample", str(path), "-n", "4", "--seed", str(2**63 - 1), "-o", str(out)]
        )
        assert result.exit_code == 0, result.output
        assert len(out.read_text().splitlines()) == 4
