import pytest

from dl4nlp.core.config import apply_overrides, dump_yaml, from_dict, load_config, read_yaml
from dl4nlp.core.errors import ConfigError


def test_overrides_and_yaml_roundtrip(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("model:\n  name: mlp\n  hidden: [8, 8]\ntrain:\n  lr: 0.1\n", encoding="utf-8")
    cfg = load_config(f, ["train.lr=1e-3", "model.dropout=0.2", "trainer.devices=2", "data.labels=[a, b]"])
    assert cfg.train.lr == 0.001 and cfg.model["dropout"] == 0.2 and cfg.trainer.devices == 2
    assert cfg.model["hidden"] == [8, 8] and cfg.data.labels == ["a", "b"]
    again = from_dict(__import__("yaml").safe_load(dump_yaml(cfg)))
    assert again == cfg


def test_numbers_written_as_text_are_numbers():
    # YAML 1.1 reads 1e-5 (no dot) as a string; the config still gets a float
    cfg = from_dict({"train": {"l2": "1e-5", "epochs": "3"}})
    assert cfg.train.l2 == 1e-5 and isinstance(cfg.train.l2, float)
    assert cfg.train.epochs == 3 and isinstance(cfg.train.epochs, int)


@pytest.mark.parametrize("raw, message", [
    ({"train": {"lrr": 1}}, "train: unknown key 'lrr'"),
    ({"trian": {}}, "unknown section 'trian'"),
    ({"train": {"epochs": "many"}}, "'epochs' must be int"),
    ({"data": {"phrases": 3}}, "'phrases' must be bool"),
    ({"model": {"hidden": 3}}, "needs a 'name'"),
    ({"train": {"ema_decay": 1.5}}, r"^my\.yaml: train\.ema_decay: must lie between 0 and 1"),
    # values that would only fail inside training (after the run folder exists) are refused here
    ({"train": {"optimizer": "adamm"}}, r"^my\.yaml: train\.optimizer: unknown value 'adamm' \(use sgd"),
    ({"train": {"schedule": "foo"}}, "train.schedule: unknown value 'foo'"),
    ({"train": {"mode": "maxx"}}, "train.mode: unknown value 'maxx' \\(use max, min\\)"),
    ({"train": {"batch_size": -3}}, "train.batch_size: must be at least 1, got -3"),
    ({"train": {"eval_batch_size": 0}}, "train.eval_batch_size: must be at least 1"),
    ({"train": {"epochs": 0}}, "train.epochs: must be at least 1"),
    ({"train": {"accumulate_grad_batches": 0}}, "train.accumulate_grad_batches: must be at least 1"),
    ({"train": {"lr": -1.0}}, "train.lr: must not be negative"),
    ({"train": {"patience": -2}}, "train.patience: must not be negative"),
    ({"train": {"clip_norm": 0.0}}, "train.clip_norm: must be greater than 0"),
])
def test_bad_config_is_named(raw, message):
    with pytest.raises(ConfigError, match=message):
        from_dict(raw, "my.yaml")


@pytest.mark.parametrize("encoding, byte, line", [("latin-1", "0xe9", 4), ("utf-16", "0xff", 1)])
def test_config_not_utf8_names_file_line_and_byte(tmp_path, encoding, byte, line):
    f = tmp_path / "c.yaml"
    f.write_text("train:\n  lr: 0.1\nrun:\n  name: café\n", encoding=encoding)
    with pytest.raises(ConfigError) as err:
        load_config(f)
    assert str(err.value) == f"{f}:{line}: not UTF-8 text (byte {byte})"


def test_config_top_level_list_is_refused_before_overrides(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("- a\n- b\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"^{f}: the top level must be a mapping"):
        load_config(f, ["train.lr=0.1"])


def test_config_folder_given_for_the_file(tmp_path):
    with pytest.raises(ConfigError, match=rf"^{tmp_path}: is a directory, expected a config file"):
        read_yaml(tmp_path)


def test_override_syntax_errors():
    with pytest.raises(ConfigError, match="expected key=value"):
        apply_overrides({}, ["train.lr"])
    with pytest.raises(ConfigError, match="needs a section"):
        apply_overrides({}, ["lr=0.1"])


def test_key_hyper_parameters_name_what_is_switched_on():
    cfg = from_dict({"model": {"name": "mlp", "hidden": [8]}, "train": {"lr": 0.1, "batch_size": 4}})
    assert cfg.key_hyper_parameters() == {"opt": "adam", "lr": 0.1, "bs": 4, "hidden": [8]}
    cfg = from_dict({"model": {"name": "mlp"}, "train": {"l2": 1e-4, "ema_decay": 0.99, "schedule": "cosine"}})
    hp = cfg.key_hyper_parameters()
    assert (hp["l2"], hp["ema"], hp["sched"]) == (1e-4, 0.99, "cosine") and "wd" not in hp
