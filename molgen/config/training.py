"""How a run trains and reports: the ``temperature``, ``reward``, ``gan``, ``train`` and
``logging`` sections."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, StrictBool, StrictInt, field_validator, model_validator

from molgen.choices import KEEP_BEST_GRAPHS, KEEP_BEST_MOLECULES, OBJECTIVES, SCHEDULES
from molgen.config.fields import Fraction, Real, _Strict

#: The molgen version that stops reading retired keys (``gan.latent_weight: 0``) in saved
#: configs: from then on they are unknown keys like any other.
RETIRED_KEYS_REMOVED_IN = "0.2.0"


def _device_form(name: str) -> str:
    # The forms resolve_device accepts; whether CUDA is present is checked when training starts.
    if not re.fullmatch(r"auto|cpu|mps|cuda(:[0-9]+)?", name):
        raise ValueError("should be auto, cpu, cuda, cuda:N or mps")
    return name


class TemperatureConfig(_Strict):
    """Gumbel-Softmax temperature as a function of the global step (see molgen.nn.schedules)."""

    schedule: Literal[SCHEDULES] = "exponential"
    tau0: Real = Field(1.0, gt=0.0, description="temperature at step 0")
    tau_min: Real = Field(0.1, gt=0.0, description="floor")
    rate: Real = Field(1e-4, ge=0.0, description="exponential: tau0 * exp(-rate * step)")
    every: StrictInt = Field(1, ge=1, description="update the temperature every this many steps")
    total_steps: StrictInt | None = Field(
        None, ge=1, description="linear/cosine horizon; defaults to train.steps"
    )
    milestones: list[Annotated[StrictInt, Field(ge=0)]] = Field(
        default_factory=list, description="step: increasing steps where tau *= gamma"
    )
    gamma: Real = Field(0.5, gt=0.0, le=1.0)

    @field_validator("milestones")
    @classmethod
    def _increasing(cls, milestones: list[int]) -> list[int]:
        if any(a >= b for a, b in zip(milestones, milestones[1:], strict=False)):
            raise ValueError("should be strictly increasing")
        return milestones

    @model_validator(mode="after")
    def _floor_below_start(self) -> TemperatureConfig:
        if self.tau_min > self.tau0:
            raise ValueError("temperature.tau_min must be <= temperature.tau0")
        return self


class RewardConfig(_Strict):
    """Reward network for MolGAN's RL term; off when gan.rl_weight == 0."""

    objectives: list[Literal[OBJECTIVES]] = Field(
        default_factory=lambda: ["validity", "qed"],
        min_length=1,
        description="reward = product of these scores in [0, 1]",
    )
    lr: Real = Field(1e-3, gt=0.0)


class GANConfig(_Strict):
    """WGAN-GP objective, MolGAN's RL mixing, and remedies for mode collapse."""

    n_critic: StrictInt = Field(5, ge=1, description="critic steps per generator step")
    gp_weight: Real = Field(10.0, ge=0.0)
    rl_weight: Real = Field(0.0, ge=0.0, le=1.0, description="MolGAN lambda: 0 = pure WGAN")
    rl_start: StrictInt = Field(0, ge=0, description="step after which the RL term is switched on")
    pack: StrictInt = Field(1, ge=1, description="PacGAN: graphs per critic input")
    minibatch_std: StrictBool = Field(
        False, description="append batch std of graph features in critic"
    )
    diversity_weight: Real = Field(0.0, ge=0.0, description="mode-seeking diversity term weight")

    @model_validator(mode="before")
    @classmethod
    def _drop_retired_keys(cls, data: Any) -> Any:
        # gan.latent_weight (InfoGAN latent recovery) was measured at full length and removed
        # (README); every run folder and checkpoint saved while it existed has it at 0 (off),
        # and those still load until molgen RETIRED_KEYS_REMOVED_IN (a test holds the date).
        # Any other value fails as an unknown key.
        if isinstance(data, dict) and "latent_weight" in data and data["latent_weight"] == 0:
            data = {key: value for key, value in data.items() if key != "latent_weight"}
        return data


class TrainConfig(_Strict):
    steps: StrictInt = Field(5000, ge=1, description="generator steps")
    batch_size: StrictInt = Field(32, ge=1)
    lr_generator: Real = Field(1e-4, gt=0.0)
    lr_discriminator: Real = Field(1e-4, gt=0.0)
    betas: tuple[Fraction, Fraction] = Field((0.5, 0.999), description="Adam's, each in [0, 1)")
    grad_clip: Real | None = Field(None, gt=0.0)
    ema_decay: Fraction | None = Field(
        None,
        description="keep an exponential moving average of the generator's weights with this "
        "decay (e.g. 0.999; warmed up as min(decay, (1 + t) / (10 + t)), which reaches 0.999 at "
        "step 8,990) and evaluate and sample it; null: the weights as trained",
    )
    eval_every: StrictInt = Field(500, ge=1)
    n_eval: StrictInt = Field(1000, ge=1, description="graphs sampled at each evaluation")
    checkpoint_every: StrictInt = Field(1000, ge=1)
    keep_best: str | None = Field(
        None,
        description="also keep best.pt, the checkpoint of the evaluation (every eval_every "
        f"steps) that scored best on this key: {', '.join(KEEP_BEST_MOLECULES)} on molecules "
        f"(fcd: against the validation split); {', '.join(KEEP_BEST_GRAPHS)} on graphs",
    )
    device: Annotated[str, AfterValidator(_device_form)] = Field(
        "auto", description="auto | cpu | cuda | cuda:N | mps"
    )
    amp: StrictBool = Field(False, description="bf16 autocast (GPU only)")
    threads: StrictInt | None = Field(None, ge=1, description="torch CPU threads; default torch's")
    compile: StrictBool = Field(
        False,
        description="torch.compile the critic step (CPU: needs a C++ compiler; first step "
        "compiles for about 30 s)",
    )
    max_minutes: Real | None = Field(
        None, gt=0.0, description="stop (checkpointed, resumable) after this much training time"
    )


class WandbConfig(_Strict):
    mode: Literal["online", "offline", "disabled"] | None = Field(
        None, description="null: $WANDB_MODE if set, else offline"
    )
    project: str = "molgen"
    entity: str | None = None
    tags: list[str] = Field(default_factory=list)


class LoggingConfig(_Strict):
    log_every: StrictInt = Field(50, ge=1)
    wandb: WandbConfig = Field(default_factory=WandbConfig)
