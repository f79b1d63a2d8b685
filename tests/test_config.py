import subprocess
import sys
from pathlib import Path

import pytest

from molgen.choices import (
    BOND_HEADS,
    CONNECT_ALIASES,
    CONNECT_DEFAULT,
    CONNECT_RULES,
    CONSTRAINTS,
    DATASETS,
    ESTIMATORS,
    EVAL_MODES,
    GRAPH_DATASETS,
    MOLECULE_DATASETS,
    OBJECTIVES,
    SCHEDULES,
)
from molgen.config import Config, ConfigError, GeneratorConfig, load_config, to_yaml
from molgen.nn.schedules import SCHEDULES as SCHEDULE_CLASSES
from molgen.nn.schedules import make_schedule

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


# --------------------------------------------------------------------------- allowed values


def test_estimators_are_molgen_nns():
    for estimator in ESTIMATORS:
        assert load_config(None, [f"generator.estimator={estimator}"]).generator.estimator == (
            estimator
        )
    with pytest.raises(ConfigError, match="generator.estimator"):
        load_config(None, ["generator.estimator=gumbel"])


def test_eval_modes_are_molgen_nns():
    for mode in EVAL_MODES:
        assert load_config(None, [f"generator.eval_mode={mode}"]).generator.eval_mode == mode
    with pytest.raises(ConfigError, match="generator.eval_mode"):
        load_config(None, ["generator.eval_mode=mean"])


def test_constraints_and_connect_rules_are_the_samplers():
    for constraint in CONSTRAINTS:
        cfg = load_config(None, [f"generator.constraint={constraint}"]).generator
        assert cfg.constraint == constraint
    for rule in CONNECT_RULES:
        assert load_config(None, [f"generator.connect={rule}"]).generator.connect == rule
    for alias, rule in CONNECT_ALIASES.items():  # configs saved under the older name
        assert load_config(None, [f"generator.connect={alias}"]).generator.connect == rule
        assert GeneratorConfig.model_validate({"connect": alias}).connect == rule
    with pytest.raises(ConfigError, match="generator.connect"):
        load_config(None, ["generator.connect=spanning"])
    assert GeneratorConfig().connect == CONNECT_DEFAULT
    assert GeneratorConfig().max_ring is None
    cfg = load_config(None, ["generator.constraint=valence", "generator.max_ring=7"]).generator
    assert cfg.max_ring == 7
    with pytest.raises(ConfigError, match="generator.max_ring needs generator.constraint"):
        load_config(None, ["generator.constraint=none", "generator.max_ring=7"])
    with pytest.raises(ConfigError, match="unknown key 'generator.sample_temperature.atom'"):
        load_config(None, ["generator.sample_temperature.atom=2"])
    cfg = load_config(None, ["generator.sample_temperature={atoms: 1, bonds: 3}"]).generator
    assert (cfg.sample_temperature.atoms, cfg.sample_temperature.bonds) == (1.0, 3.0)


def test_bond_heads():
    assert GeneratorConfig().bond_head == "linear"
    for head in BOND_HEADS:
        assert load_config(None, [f"generator.bond_head={head}"]).generator.bond_head == head
    with pytest.raises(ConfigError, match="generator.bond_head"):
        load_config(None, ["generator.bond_head=bilinear"])
    with pytest.raises(ConfigError, match="generator.bond_embedding_dim"):
        load_config(None, ["generator.bond_head=pairwise", "generator.bond_embedding_dim=0"])


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_every_schedule_is_accepted_and_builds(schedule):
    cfg = load_config(None, [f"temperature.schedule={schedule}", "temperature.total_steps=10"])
    assert isinstance(make_schedule(**cfg.temperature.model_dump()), SCHEDULE_CLASSES[schedule])


def test_the_layers_take_the_names_the_config_allows():
    import torch

    from molgen.nn import BudgetedSymmetricGumbelSoftmax, GumbelSoftmax, functional

    assert tuple(SCHEDULE_CLASSES) == SCHEDULES
    for estimator in ESTIMATORS:
        functional.gumbel_softmax(torch.zeros(2, 3), estimator=estimator)
    for mode in EVAL_MODES:
        GumbelSoftmax(eval_mode=mode)
    for rule in (*CONNECT_RULES, *CONNECT_ALIASES):
        layer = BudgetedSymmetricGumbelSoftmax(connect=rule)
        assert layer.connect == CONNECT_ALIASES.get(rule, rule)
    assert BudgetedSymmetricGumbelSoftmax(connect=True).connect == CONNECT_DEFAULT


def test_config_and_cli_import_without_torch():
    # `molgen --help` and config validation should not wait for torch to import.
    code = "import sys, molgen.cli; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_schedule_names_are_molgen_nns():
    with pytest.raises(ConfigError, match="temperature.schedule"):
        load_config(None, ["temperature.schedule=warmup"])


def test_reward_objectives_are_the_rewards():
    from molgen.training.rewards import OBJECTIVES as SCORES

    assert set(OBJECTIVES) == set(SCORES)
    assert load_config(None, [f"reward.objectives={list(SCORES)}"]).reward.objectives == list(
        SCORES
    )
    with pytest.raises(ConfigError, match=r"reward\.objectives\[1\]"):
        load_config(None, ["reward.objectives=[qed, sas]"])


def test_dataset_names_are_the_data_packages():
    from molgen.data import graphs, sources

    # The data package's registries (bundled files and packaged sets; graph benchmarks) are
    # the source.
    assert MOLECULE_DATASETS == sources.DATASETS
    assert tuple(graphs.GRAPH_DATASETS) == GRAPH_DATASETS
    assert DATASETS == MOLECULE_DATASETS + GRAPH_DATASETS
    for name in DATASETS:
        assert load_config(None, [f"data.name={name}"]).data.name == name
    with pytest.raises(ConfigError, match="data.name"):
        load_config(None, ["data.name=zinc"])


# --------------------------------------------------------------------------- bad input


def one_line_error(path, overrides) -> str:
    with pytest.raises(ConfigError) as err:
        load_config(path, overrides)
    message = str(err.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    "override, key, says",
    [
        # accepted silently before
        ("data.max_atoms=yes", "data.max_atoms", "valid integer (got True)"),
        ("train.batch_size=true", "train.batch_size", "valid integer (got True)"),
        ("train.lr_generator=true", "train.lr_generator", "not a boolean"),
        ("generator.hard=1", "generator.hard", "valid boolean"),
        ("generator.hidden=[0]", "generator.hidden[0]", "greater than 0"),
        ("discriminator.mlp_dims=[16, 0]", "discriminator.mlp_dims[1]", "greater than 0"),
        # tracebacks before
        ("generator.hidden=[-1]", "generator.hidden[0]", "greater than 0"),
        ("train.device=foo", "train.device", "auto, cpu, cuda, cuda:N or mps (got 'foo')"),
        ("train.device=cuda:x", "train.device", "got 'cuda:x'"),
        # messages without the key before
        ("discriminator.conv_dims=[0]", "discriminator.conv_dims[0]", "greater than 0"),
        ("train.betas=[1.5, 0.9]", "train.betas[0]", "less than 1 (got 1.5)"),
        ("train.betas=[0.5, -0.1]", "train.betas[1]", "greater than or equal to 0"),
        ("seed=99999999999999999999999", "seed", "less than 9223372036854775808"),
        ("seed=-9223372036854775809", "seed", "greater than or equal to"),
        ("data.split_seed=-1", "data.split_seed", "greater than or equal to 0"),
        ("temperature.milestones=[5, 3]", "temperature.milestones", "strictly increasing"),
        ("temperature.milestones=[-1]", "temperature.milestones[0]", "greater than or equal"),
        # non-finite floats
        ("train.lr_generator=.inf", "train.lr_generator", "finite number (got inf)"),
        ("train.lr_discriminator=.nan", "train.lr_discriminator", "finite number (got nan)"),
        ("train.lr_generator=-.inf", "train.lr_generator", "finite number"),
        ("reward.lr=.nan", "reward.lr", "finite number"),
        ("temperature.tau0=.inf", "temperature.tau0", "finite number"),
        ("temperature.rate=.nan", "temperature.rate", "finite number"),
        ("gan.gp_weight=.inf", "gan.gp_weight", "finite number"),
        ("gan.diversity_weight=.inf", "gan.diversity_weight", "finite number"),
        ("train.grad_clip=.inf", "train.grad_clip", "finite number"),
        ("train.max_minutes=.inf", "train.max_minutes", "finite number"),
        ("generator.dropout=.nan", "generator.dropout", "finite number"),
        ("train.ema_decay=1", "train.ema_decay", "less than 1"),
        ("generator.constraint=valences", "generator.constraint", "'valence_connected'"),
        ("generator.connect=first", "generator.connect", "'join' or 'tree'"),
        ("generator.max_ring=2", "generator.max_ring", "greater than or equal to 3"),
        (
            "generator.sample_temperature.atoms=0",
            "generator.sample_temperature.atoms",
            "greater than 0",
        ),
        ("generator.sample_temperature.bonds=.inf", "generator.sample_temperature.bonds", "finite"),
        ("train.lr_generator=inf", "train.lr_generator", "finite number"),
    ],
)
def test_bad_value_is_one_line_naming_the_override_and_key(override, key, says):
    message = one_line_error("configs/debug.yaml", [override])
    assert message.startswith(f"override '{override}': {key}: ")
    assert says in message


@pytest.mark.parametrize(
    "override, says",
    [
        ("generator.hidden=[1, 2", "value is not valid YAML: expected ',' or ']'"),
        ("train.steps={a: 1, a: 2}", "duplicate key 'a'"),
        ("name=[", "value is not valid YAML"),
    ],
)
def test_override_that_is_not_yaml_names_the_override(override, says):
    message = one_line_error("configs/debug.yaml", [override])
    assert message.startswith(f"override '{override}': ")
    assert says in message


def test_numbers_as_yaml_writes_them_still_validate():
    cfg = load_config(
        None,
        [
            "train.lr_generator=1e-4",  # a string to YAML 1.1, a float to pydantic
            "train.lr_discriminator=3",
            "temperature.tau0=2",
            "train.betas=[0, 0.9]",
            "train.grad_clip=1.0e+1",
            "seed=-1",
        ],
    )
    assert cfg.train.lr_generator == 1e-4 and type(cfg.train.lr_generator) is float
    assert cfg.train.lr_discriminator == 3.0 and type(cfg.train.lr_discriminator) is float
    assert cfg.temperature.tau0 == 2.0
    assert cfg.train.betas == (0.0, 0.9) and cfg.train.grad_clip == 10.0 and cfg.seed == -1


@pytest.mark.parametrize("device", ["auto", "cpu", "cuda", "cuda:0", "cuda:12", "mps"])
def test_device_forms_that_resolve_device_accepts(device):
    assert load_config(None, [f"train.device={device}"]).train.device == device


def test_non_utf8_file_names_file_and_line(tmp_path):
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes("train:\n  steps: 3\nname: caf\xe9\n".encode("latin-1"))
    assert one_line_error(bad, []) == f"{bad}:3: not UTF-8 text (byte 0xe9)"


def test_invalid_yaml_file_is_one_line_with_position(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  steps: [3\n")
    message = one_line_error(bad, [])
    assert message.startswith(f"{bad}: not valid YAML: line 3, column 1: ")


@pytest.mark.parametrize(
    "text, line, key, first",
    [
        ("train:\n  steps: 3\n  batch_size: 4\n  steps: 5\n", 4, "steps", 2),
        ("seed: 1\ntrain: {steps: 3}\nseed: 2\n", 3, "seed", 1),
        ("train: {steps: 3, steps: 4}\n", 1, "steps", 1),
    ],
)
def test_duplicate_key_names_file_line_and_first(tmp_path, text, line, key, first):
    bad = tmp_path / "dup.yaml"
    bad.write_text(text)
    message = one_line_error(bad, [])
    assert message.startswith(f"{bad}: not valid YAML: line {line}, ")
    assert message.endswith(f"duplicate key '{key}' (first on line {first})")


def test_merge_keys_may_be_given_again(tmp_path):
    good = tmp_path / "merge.yaml"
    good.write_text("train:\n  <<: {steps: 3, batch_size: 4}\n  steps: 7\n")
    cfg = load_config(good)
    assert (cfg.train.steps, cfg.train.batch_size) == (7, 4)


@pytest.mark.parametrize("section", ["5", "[1, 2]", "cpu"])
def test_override_below_a_section_given_as_a_value(tmp_path, section):
    path = tmp_path / "section.yaml"
    path.write_text(f"train: {section}\n")
    message = one_line_error(path, ["train.steps=3"])
    assert message.startswith("override 'train.steps=3': train is ")
    assert message.endswith("not a section of keys")
    # Without the override it is still an error about train.
    assert one_line_error(path, []).startswith(f"{path}: train: Input should be a valid dictionary")


def test_override_below_an_empty_section_fills_it(tmp_path):
    path = tmp_path / "empty.yaml"
    path.write_text("train:\n")
    assert load_config(path, ["train.steps=3"]).train.steps == 3


def test_key_set_in_the_file_names_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("generator:\n  hidden: [0]\n")
    message = one_line_error(path, ["train.steps=3"])
    assert message.startswith(f"{path} + overrides: generator.hidden[0]: ")


@pytest.mark.parametrize("kind", ["missing", "directory"])
def test_data_path_that_is_not_a_file(tmp_path, kind):
    target = tmp_path / "molecules.smi"
    if kind == "directory":
        target.mkdir()
    says = "does not exist" if kind == "missing" else "is a directory, not a file"
    override = f"data.path={target}"
    message = one_line_error(None, ["data.name=null", override])
    assert message == f"override '{override}': data.path: {target} {says}"
    # Set in a file, the file is named; a relative path says what it is relative to.
    path = tmp_path / "own.yaml"
    path.write_text("data:\n  name: null\n  path: nowhere/molecules.smi\n")
    message = one_line_error(path, [])
    assert message.startswith(f"{path}: data.path: nowhere/molecules.smi does not exist")
    assert f"(relative to {Path.cwd()})" in message


def test_saved_config_with_a_gone_data_path_still_validates(tmp_path):
    # A checkpoint's config is validated on other machines, where the training file may be
    # absent: only load_config, where users set data.path, checks the file.
    smi = tmp_path / "mols.smi"
    smi.write_text("CCO\n")
    saved = load_config(None, ["data.name=null", f"data.path={smi}"]).model_dump(mode="json")
    smi.unlink()
    assert Config.model_validate(saved).data.path == smi


def test_saved_config_with_the_retired_latent_weight_off_still_validates(tmp_path):
    # Run folders and checkpoints saved while gan.latent_weight existed have it at 0.
    saved = Config().model_dump(mode="json")
    saved["gan"]["latent_weight"] = 0.0
    assert Config.model_validate(saved) == Config()
    path = tmp_path / "config.yaml"
    path.write_text("gan:\n  latent_weight: 1.0\n")
    assert one_line_error(path, []).startswith(f"{path}: unknown key 'gan.latent_weight'")
    assert "unknown key 'gan.latent_weight'" in one_line_error(None, ["gan.latent_weight=0"])


def test_config_file_that_is_a_directory(tmp_path):
    assert one_line_error(tmp_path, []) == f"config file {tmp_path} is a directory"


def test_retired_keys_are_dropped_only_until_their_removal_version():
    # Reading gan.latent_weight: 0 is a bridge for old run folders, not a feature: the release
    # that reaches RETIRED_KEYS_REMOVED_IN must delete GANConfig._drop_retired_keys.
    import molgen
    from molgen.config import RETIRED_KEYS_REMOVED_IN

    def version(text):
        return tuple(int(part) for part in text.split(".")[:3])

    assert version(molgen.__version__) < version(RETIRED_KEYS_REMOVED_IN)


def test_aromatic_rule_needs_aromatic_data_and_the_tree():
    rings = [
        "data.aromatic=true",
        "generator.constraint=valence_connected",
        "generator.connect=tree",
        "generator.aromatic_rule=rings",
    ]
    assert GeneratorConfig().aromatic_rule == "none"
    assert load_config(None, rings).generator.aromatic_rule == "rings"
    assert load_config(None, [*rings, "generator.max_ring=5"]).generator.max_ring == 5
    with pytest.raises(ConfigError, match="needs data.aromatic=true"):
        load_config(None, rings[1:])
    for wrong in ("generator.connect=join", "generator.max_ring=4"):
        with pytest.raises(ConfigError, match="generator.aromatic_rule='rings' needs"):
            load_config(None, [*rings, wrong])
    with pytest.raises(ConfigError, match="generator.aromatic_rule"):
        load_config(None, ["generator.aromatic_rule=fused"])
