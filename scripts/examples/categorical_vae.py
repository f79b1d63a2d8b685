"""Categorical VAE (Jang et al., 2017) on scikit-learn's 8x8 digits: molgen.nn outside chemistry.

    python scripts/examples/categorical_vae.py [--steps 2000] [--schedule exponential]

The latent code is 20 categorical variables with 10 categories each, sampled as one-hot vectors
by :class:`molgen.nn.GumbelSoftmax`; the temperature follows a :mod:`molgen.nn.schedules`
schedule. The model is trained once per gradient estimator ("st", "gumbel_rao", "reinmax") with
the same seed and data, and the test ELBO (nats per image, higher is better) is printed for each.
The test ELBO uses exact one-hot samples, so the estimators are compared on the discrete model.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from molgen.nn import GumbelSoftmax, make_schedule
from molgen.nn.functional import ESTIMATORS

LATENTS, CATEGORIES, PIXELS = 20, 10, 64


def load_digits_binary(seed: int = 0, test_size: int = 297) -> tuple[Tensor, Tensor]:
    """The 1797 bundled 8x8 digits, pixels binarised at half intensity, split train/test."""
    from sklearn.datasets import load_digits

    pixels = torch.as_tensor(load_digits().data, dtype=torch.float32)
    data = (pixels > 8).float()
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))
    return data[order[test_size:]], data[order[:test_size]]


class CategoricalVAE(nn.Module):
    """MLP encoder -> [B, 20, 10] logits -> one-hot code -> MLP decoder -> Bernoulli logits."""

    def __init__(self, estimator: str, gumbel_rao_samples: int = 8, hidden: int = 256) -> None:
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Linear(PIXELS, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden // 2),
            nn.ReLU(),
            nn.Linear(hidden // 2, LATENTS * CATEGORIES),
        )
        self.decoder = nn.Sequential(
            nn.Linear(LATENTS * CATEGORIES, hidden // 2),
            nn.ReLU(),
            nn.Linear(hidden // 2, hidden),
            nn.ReLU(),
            nn.Linear(hidden, PIXELS),
        )
        self.sample = GumbelSoftmax(estimator=estimator, gumbel_rao_samples=gumbel_rao_samples)

    def elbo(self, x: Tensor, tau: float) -> Tensor:
        """Per-image ELBO: E_q[log p(x | z)] - KL(q(z | x) || uniform), one sample of z."""
        logits = self.encoder(x).view(-1, LATENTS, CATEGORIES)
        z = self.sample(logits, tau)
        reconstruction = -nn.functional.binary_cross_entropy_with_logits(
            self.decoder(z.flatten(1)), x, reduction="none"
        ).sum(-1)
        log_q = torch.log_softmax(logits, -1)
        kl = (log_q.exp() * (log_q + math.log(CATEGORIES))).sum((-1, -2))
        return reconstruction - kl


def train_and_evaluate(
    estimator: str, args: argparse.Namespace, train: Tensor, test: Tensor
) -> tuple[float, float]:
    """Train one model; return (test ELBO averaged over ``--eval-samples`` codes, last tau)."""
    torch.manual_seed(args.seed)
    model = CategoricalVAE(estimator, args.gumbel_rao_samples)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    schedule = make_schedule(
        args.schedule,
        tau0=args.tau0,
        tau_min=args.tau_min,
        rate=args.rate,
        every=args.every,
        total_steps=args.steps,
    )
    batches = torch.Generator().manual_seed(args.seed)
    tau = schedule(0)
    for step in range(args.steps):
        tau = schedule(step)
        index = torch.randint(len(train), (args.batch_size,), generator=batches)
        loss = -model.elbo(train[index], tau).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()  # eval_mode="sample": the test ELBO uses exact one-hot samples
    with torch.no_grad():
        elbo = torch.stack([model.elbo(test, tau) for _ in range(args.eval_samples)]).mean()
    return elbo.item(), tau


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000, help="training steps per estimator")
    parser.add_argument("--estimators", nargs="+", choices=ESTIMATORS, default=list(ESTIMATORS))
    parser.add_argument(
        "--schedule",
        default="exponential",
        choices=["constant", "exponential", "linear", "cosine", "step"],
    )
    parser.add_argument("--tau0", type=float, default=1.0)
    parser.add_argument("--tau-min", type=float, default=0.5)
    parser.add_argument("--rate", type=float, default=3e-4, help="exponential decay rate")
    parser.add_argument("--every", type=int, default=100, help="update tau every n steps")
    parser.add_argument("--gumbel-rao-samples", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--eval-samples", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads; a model this small is fastest on one"
    )
    args = parser.parse_args(argv)
    if args.steps < 1:
        parser.error("--steps must be >= 1")
    return args


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    """Train one VAE per estimator; print and return the test ELBO of each."""
    args = parse_args(argv)
    # Near-one-hot softmaxes underflow to denormals, which slow CPU matmuls many times over.
    torch.set_flush_denormal(True)
    torch.set_num_threads(args.threads)
    train, test = load_digits_binary(args.seed)
    print(
        f"digits: {len(train)} train / {len(test)} test images, {args.steps} steps, "
        f"schedule={args.schedule} (tau0={args.tau0}, tau_min={args.tau_min})"
    )
    print(f"{'estimator':>11} | {'test ELBO (nats)':>16} | {'final tau':>9} | {'seconds':>7}")
    results = {}
    for estimator in args.estimators:
        start = time.perf_counter()
        elbo, tau = train_and_evaluate(estimator, args, train, test)
        results[estimator] = elbo
        print(f"{estimator:>11} | {elbo:16.2f} | {tau:9.3f} | {time.perf_counter() - start:7.1f}")
    return results


if __name__ == "__main__":
    main()
