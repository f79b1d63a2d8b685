"""ChemNet's forward pass without re-running its first LSTM over the padding.

The ``fcd`` package's ChemNet (``fcd.load_ref_model()``) is two bias-free strided convolutions
with SELU, a first LSTM reading the steps in reverse (padding first), and a second LSTM reading
them forward (padding last), whose last output is the activation. A step made only of padding
is exactly zero after the convolutions (no bias, SELU(0) = 0), so from the zero initial state
the first LSTM follows one trajectory over the leading padding steps whatever the molecule: it
is computed once per length and the first LSTM starts each batch from its state, which leaves
that LSTM a few steps per molecule instead of 88. The second LSTM's state depends on the
molecule before it reaches the padding, so it still reads every step.

Every row is bit-identical to ``model(x)``: the same operations run on the same values.
"""

from __future__ import annotations

import functools

import torch
from torch import nn

__all__ = ["chemnet_forward"]

#: ChemNet's layer classes, in order (``fcd.torch_layers`` and ``torch.nn``).
_LAYOUT = (
    "SamePadding1d",
    "Conv1d",
    "SELU",
    "SamePadding1d",
    "Conv1d",
    "SELU",
    "Transpose",
    "Reverse",
    "LSTM",
    "IndexTuple",
    "Reverse",
    "LSTM",
    "IndexTuple",
    "IndexTensor",
)
_CONVOLUTIONS = slice(0, 8)  # convolutions, then [batch, steps, channels] in reverse time
_FIRST_LSTM = 8
_REST = slice(9, None)  # output of the first LSTM onwards


def _check_layout(model: nn.Sequential) -> None:
    layout = tuple(type(layer).__name__ for layer in model)
    if layout != _LAYOUT:
        raise ValueError(f"unexpected ChemNet layout {layout}; expected {_LAYOUT}")
    for k in (1, 4):
        if model[k].bias is not None:
            raise ValueError(f"ChemNet convolution {k} has a bias: padding steps are not zero")


@functools.cache
def _padding_run(lstm: nn.LSTM, steps: int) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
    """The first LSTM over ``steps`` zero inputs from the zero state: outputs ``[steps, hidden]``
    and the final ``(h, c)``, each ``[layers, 1, hidden]``. Two identical rows, as a lone row
    would take a matrix-vector path whose last bits differ."""
    zeros = torch.zeros(2, steps, lstm.input_size)
    out, (h, c) = lstm(zeros)
    return out[0], (h[:, :1], c[:, :1])


def chemnet_forward(model: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    """``model(x)`` (ChemNet, ``x``: ``[batch, vocab, length]``, ``batch >= 2``) ->
    ``[batch, 512]``, equal bit for bit, with the first LSTM started after the padding steps
    every row of the batch shares."""
    _check_layout(model)
    steps = model[_CONVOLUTIONS](x)  # [batch, n_steps, channels], padding first
    batch, n_steps, _ = steps.shape
    real = steps.abs().amax(2) != 0  # [batch, n_steps]
    first_real = torch.where(real.any(1), real.int().argmax(1), n_steps)  # [batch]
    shared = int(first_real.min())
    lstm = model[_FIRST_LSTM]
    if shared == 0:
        return model[_REST](lstm(steps))
    padding_out, (h, c) = _padding_run(lstm, shared)
    state = (h.expand(-1, batch, -1).contiguous(), c.expand(-1, batch, -1).contiguous())
    tail, final = lstm(steps[:, shared:].contiguous(), state)  # [batch, n_steps - shared, hidden]
    out = torch.cat([padding_out.expand(batch, -1, -1), tail], dim=1)  # [batch, n_steps, hidden]
    return model[_REST]((out, final))
