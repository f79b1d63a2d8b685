import numpy as np
import pytest

from molgen.metrics import frechet

pytest.importorskip("fcd")
torch = pytest.importorskip("torch")

from molgen.metrics.chemnet import _padding_run, chemnet_forward  # noqa: E402

# short and long molecules, a disconnected one, and one filling all 350 tokens (no padding)
SMILES = ["C", "CCO", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1", "CC.O", "C" * 400, "ClCCBr" * 20]


def _inputs(smiles: list[str]) -> torch.Tensor:
    batch = np.stack([frechet.fcd_torch_one_hot(s) for s in smiles]).astype(np.float32)
    return torch.from_numpy(batch).transpose(1, 2)


@pytest.mark.parametrize("smiles", [SMILES, SMILES[:5], SMILES[1:3]])
def test_forward_equals_the_model_bit_for_bit(smiles):
    model = frechet._chemnet()
    x = _inputs(smiles)
    with torch.inference_mode():
        np.testing.assert_array_equal(chemnet_forward(model, x).numpy(), model(x).numpy())


def test_padding_steps_are_shared_and_zero():
    model = frechet._chemnet()
    with torch.inference_mode():
        steps = model[:8](_inputs(SMILES[:5]))  # [batch, 88, 32], padding first
        real = steps.abs().amax(2) != 0
        shared = int(real.int().argmax(1).min())
        assert 0 < shared < steps.shape[1]
        assert not real[:, :shared].any()  # the steps skipped hold nothing of the molecules
        out, (h, c) = _padding_run(model[8], shared)
        full, _ = model[8](steps)
        np.testing.assert_array_equal(out.numpy(), full[0, :shared].numpy())
        assert h.shape == c.shape == (1, 1, 128)


def test_other_layouts_are_refused():
    model = torch.nn.Sequential(torch.nn.Linear(3, 3))
    with pytest.raises(ValueError, match="unexpected ChemNet layout"):
        chemnet_forward(model, torch.zeros(2, 3))
