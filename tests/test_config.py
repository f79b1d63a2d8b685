from pathlib import Path

import pytest

from molgen.config import Config, ConfigError, load_config, to_yaml

CONFIGS = sorted((Path(__file__).parents[1] / "configs").rglob("*.yaml"))
EXPERIMENTS = [p for p in CONFIGS if "sweeps" not in p.parts]


def test_configs_exist():
    assert {p.name for p in EXPERIMENTS} >= {"qm9_5k.yaml", "qm9.yaml", "debug.yaml"}


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.name)
def test_every_experiment_yaml_validates(path):
    cfg = load_config(path)
    assert isinstance(cfg, Config)


def test_defaults_without_file():
    assert load_config(None) == Config()


def test_overrides_set_the_right_field_with_the_right_type(tmp_path):
    cfg = load_config(
        "configs/debug.yaml",
        [
            "train.batch_size=64",
            "temperature.schedule=cosine",
            "generator.hidden=[64, 128]",
            "temperature.tau0=2",
            "data.max_atoms=null",
            "logging.wandb.mode=disabled",
        ],
    )
    assert cfg.train.batch_size == 64 and type(cfg.train.batch_size) is int
    assert cfg.temperature.schedule == "cosine"
    assert cfg.generator.hidden == [64, 128]
    assert cfg.temperature.tau0 == 2.0 and type(cfg.temperature.tau0) is float
    assert cfg.data.max_atoms is None
    assert cfg.logging.wandb.mode == "disabled"
    # Untouched fields keep the file's values.
    assert cfg.train.steps == load_config("configs/debug.yaml").train.steps


def test_override_with_wrong_type_names_the_key():
    with pytest.raises(ConfigError, match=r"train\.batch_size"):
        load_config("configs/debug.yaml", ["train.batch_size=abc"])


def test_misspelled_override_suggests_closest_key():
    with pytest.raises(ConfigError) as err:
        load_config("configs/debug.yaml", ["train.batch_sise=3"])
    msg = str(err.value)
    assert "train.batch_sise" in msg and "did you mean 'train.batch_size'" in msg


def test_misspelled_key_in_file_names_key_file_and_suggestion(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("temperature:\n  tau_mn: 0.2\n")
    with pytest.raises(ConfigError) as err:
        load_config(bad)
    msg = str(err.value)
    assert str(bad) in msg
    assert "temperature.tau_mn" in msg
    assert "did you mean 'temperature.tau_min'" in msg


def test_unknown_section_suggests_closest(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("genrator:\n  z_dim: 8\n")
    with pytest.raises(ConfigError, match=r"unknown key 'genrator'.*did you mean 'generator'"):
        load_config(bad)


@pytest.mark.parametrize(
    "override, key",
    [
        ("train.batch_size=0", "train.batch_size"),
        ("temperature.tau0=0", "temperature.tau0"),
        ("temperature.tau_min=-1", "temperature.tau_min"),
        ("generator.dropout=1.5", "generator.dropout"),
        ("gan.rl_weight=2", "gan.rl_weight"),
    ],
)
def test_out_of_bounds_value_names_the_key(override, key):
    with pytest.raises(ConfigError) as err:
        load_config("configs/debug.yaml", [override])
    assert key in str(err.value)


def test_cross_field_check_names_the_fields():
    with pytest.raises(ConfigError, match="tau_min"):
        load_config(None, ["temperature.tau0=0.5", "temperature.tau_min=0.9"])
    with pytest.raises(ConfigError, match="generator.hard"):
        load_config(None, ["generator.hard=false", "generator.estimator=reinmax"])
    assert not load_config(None, ["generator.hard=false"]).generator.hard


def test_malformed_override_and_missing_file():
    with pytest.raises(ConfigError, match="key=value"):
        load_config(None, ["train.batch_size"])
    with pytest.raises(ConfigError, match="not found"):
        load_config("configs/nope.yaml")


def test_yaml_round_trip(tmp_path):
    cfg = load_config("configs/qm9_5k.yaml", ["train.steps=7"])
    path = tmp_path / "resolved.yaml"
    path.write_text(to_yaml(cfg))
    assert load_config(path) == cfg


def test_parts_are_small_independent_models():
    cfg = load_config("configs/debug.yaml")
    # Code receives a part, and a part validates on its own.
    assert type(cfg.generator).model_validate(cfg.generator.model_dump()) == cfg.generator
    with pytest.raises(ValueError, match="extra"):
        type(cfg.train).model_validate({"batch_sizee": 3})
