import os

import pytest
import torch

# Tests never talk to W&B servers.
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")


@pytest.fixture(autouse=True)
def _seed_and_threads():
    torch.manual_seed(0)
    yield


@pytest.fixture
def cpp_compiler():
    """Skip the test where torch.compile's CPU backend has no C++ compiler (as train.compile
    refuses to run there)."""
    from molgen.training.trainer import _check_cpp_compiler

    try:
        _check_cpp_compiler()
    except ValueError as error:
        pytest.skip(str(error))
