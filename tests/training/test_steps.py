import torch

from molgen.training import steps as steps_module


def test_ema_follows_the_hand_computed_average():
    model, average = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    start = [p.detach().clone() for p in average.parameters()]
    steps_module.update_ema(average, model, 0.75)
    for before, current, after in zip(start, model.parameters(), average.parameters(), strict=True):
        torch.testing.assert_close(after, 0.75 * before + 0.25 * current.detach())
    # Warm-up: update t uses min(decay, (1 + t) / (10 + t)).
    assert steps_module.ema_decay_at(0.999, 0) == 0.1
    assert steps_module.ema_decay_at(0.999, 90) == 91 / 100
    assert steps_module.ema_decay_at(0.5, 90) == 0.5
