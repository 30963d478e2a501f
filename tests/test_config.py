import dataclasses
from pathlib import Path

import pytest
import yaml

from seq2seq.config import SECTIONS, load_params, parse_section
from seq2seq.errors import UserError
from tests.conftest import REPO

BAD = [
    ("encoder", "bidirectional", "maybe", "true or false"),
    ("encoder", "hidden_size", 0, "integer >= 1"),
    ("encoder", "hidden_size", 2.5, "integer >= 1"),
    ("encoder", "dropout", 1.0, r"\[0, 1\)"),
    ("train", "epochs", -1, "integer >= 1"),
    ("train", "teacher_forcing_ratio", 1.5, r"\[0, 1\]"),
    ("train", "optimizer", "adagrad", "one of sgd, adam"),
    ("train", "device", "tpu", "one of auto, cpu, cuda"),
    ("train", "threads", -1, "integer >= 0"),
    ("train", "processes", 0, "integer >= 1"),
    ("evaluate", "threads", 1.5, "integer >= 0"),
    ("prepare", "max_length", 0, "integer >= 2"),
    ("prepare", "direction", "fr-en", "one of fra-eng, eng-fra, autoencode"),
    ("prepare", "eng_prefixes", "i am", "list of strings"),
    ("split", "test_fraction", 0.0, "strictly between 0 and 1"),
    ("split", "test_fraction", 1, "strictly between 0 and 1"),
    ("download", "sha256", "abc", "64 hex digits"),
    ("vocab", "min_count", 0, "integer >= 1"),
    ("evaluate", "num_samples", -3, "integer >= 0"),
    ("evaluate", "bootstrap_samples", 10, "integer >= 40"),
]


@pytest.mark.parametrize("section, key, value, allowed", BAD)
def test_bad_values_name_key_and_allowed_values(section, key, value, allowed):
    with pytest.raises(UserError, match=rf"{section}\.{key} = .*expected .*{allowed}"):
        parse_section(SECTIONS[section], section, {key: value})


def test_unknown_key_is_rejected():
    with pytest.raises(UserError, match=r"unknown key encoder\.hiden_size.*hidden_size"):
        parse_section(SECTIONS["encoder"], "encoder", {"hiden_size": 8})


def test_ints_are_accepted_for_floats():
    cfg = parse_section(SECTIONS["train"], "train", {"learning_rate": 1, "clip_grad_norm": 0})
    assert cfg.learning_rate == 1.0 and isinstance(cfg.learning_rate, float)


def test_repository_params_are_valid_and_complete():
    """Every section parses, and every knob is written out in params.yaml (so `-S` can set it)."""
    data = yaml.safe_load((REPO / "params.yaml").read_text())
    assert set(data) == set(SECTIONS)
    for name, cls in SECTIONS.items():
        parse_section(cls, name, data[name])
        assert set(data[name]) == set(cls.__dataclass_fields__), name


def test_code_defaults_match_params_yaml():
    """A key deleted from params.yaml falls back to the same value the README documents."""
    data = yaml.safe_load((REPO / "params.yaml").read_text())
    for name, cls in SECTIONS.items():
        assert vars(cls()) == vars(parse_section(cls, name, data[name])), name


def test_exponent_written_without_a_point_gets_a_hint():
    with pytest.raises(UserError, match=r"train\.learning_rate = '1e-4'.*decimal point"):
        parse_section(SECTIONS["train"], "train", {"learning_rate": "1e-4"})


def test_load_params_errors(tmp_path: Path):
    with pytest.raises(UserError, match="not found"):
        load_params(tmp_path / "absent.yaml", "train")
    (tmp_path / "p.yaml").write_text("train: {epochs: 2}\n")
    with pytest.raises(UserError, match="no 'encoder' section"):
        load_params(tmp_path / "p.yaml", "encoder")
    (tmp_path / "bad.yaml").write_text("train: [unclosed\n")
    with pytest.raises(UserError, match="not valid YAML"):
        load_params(tmp_path / "bad.yaml", "train")


@pytest.mark.parametrize("changes, message", [
    ({"decoder": {"tie_embeddings": True, "embedding_size": 128}},
     r"decoder.embedding_size \(128\) must equal decoder.hidden_size \(256\)"),
    ({"encoder": {"bidirectional": True}, "decoder": {"attention": "dot"}},
     r"decoder.attention=dot compares decoder states \(decoder.hidden_size 256\) with encoder outputs of size 512"),
    ({"encoder": {"tie_embeddings": True, "embedding_size": 128}},
     r"encoder.embedding_size \(128\) must equal decoder.embedding_size \(256\)"),
])
def test_checks_between_sections_fail_when_the_params_load(tmp_path: Path, changes, message):
    data = yaml.safe_load((REPO / "params.yaml").read_text())
    for section, values in changes.items():
        data[section].update(values)
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(UserError, match=message):
        load_params(tmp_path / "p.yaml", "encoder", "decoder", "train")
    load_params(tmp_path / "p.yaml", "decoder")  # one section alone has nothing to compare


def test_dvc_s_run_cache_tells_every_params_key_s_values_apart():
    # DVC keys its run cache by the stage's lock entry with file metadata ("size", "nfiles") left
    # out at every depth, so a param of that name was invisible to it: changing vocab.size restored
    # a cached vocabulary of the other size. Every key of every section must change DVC's key.
    from dvc.stage.cache import _get_cache_hash

    def run_cache_key(section: str, key: str, value) -> str:
        return _get_cache_hash({"cmd": "python stages/x.py", "params": {"params.yaml": {section: {key: value}}},
                                "outs": [{"path": "out"}]}, key=True)

    for section, cls in SECTIONS.items():
        for f in dataclasses.fields(cls):
            assert run_cache_key(section, f.name, 1) != run_cache_key(section, f.name, 2), f"{section}.{f.name}"


def test_a_renamed_key_names_its_new_name():
    with pytest.raises(UserError, match=r"vocab\.size is now called vocab\.pieces \(DVC's run cache.*-S options"):
        parse_section(SECTIONS["vocab"], "vocab", {"type": "bpe", "size": 1000})
