"""Typed params sections: each stage loads only its own, and bad values fail with a clear message.

Every field carries a description of its allowed values; `parse_section` rejects unknown keys,
wrong types and out-of-range values, naming the key (`encoder.hidden_size`) and what is allowed.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from seq2seq.errors import UserError

DEFAULT_URL = "https://www.manythings.org/anki/fra-eng.zip"
DEFAULT_SHA256 = "16c4f7d0df9e7c5e6c54cdb0447f3f4a18a55052ff5e2e0b27dd4a06c0e49d04"  # the 2017-09-29 archive
DEFAULT_PREFIXES = (
    "i am ", "i m ", "he is", "he s ", "she is", "she s ", "you are", "you re ",
    "we are", "we re ", "they are", "they re ",
)
DIRECTIONS = ("fra-eng", "eng-fra", "autoencode")
OPTIMIZERS = ("sgd", "adam")
ATTENTIONS = ("none", "dot", "general", "bahdanau")  # as seq2seq.model.attention.ATTENTION_KINDS
VOCAB_TYPES = ("word", "bpe")
LR_SCHEDULES = ("step", "plateau")
DEVICES = ("auto", "cpu", "cuda")
THREADS_ALLOWED = "an integer >= 0 (CPU threads per process; 0: torch's default, as many as cores)"


def _knob(default: Any, allowed: str, check: Callable[[Any], bool] = lambda v: True) -> Any:
    """A dataclass field whose metadata says which values are allowed and how to check them."""
    if isinstance(default, (list, tuple)):
        return field(default_factory=lambda: list(default), metadata={"allowed": allowed, "check": check})
    return field(default=default, metadata={"allowed": allowed, "check": check})


def _positive(v: Any) -> bool:
    return v >= 1


def _choice(options: tuple[str, ...]) -> tuple[str, Callable[[Any], bool]]:
    return "one of " + ", ".join(options), lambda v: v in options


@dataclass(frozen=True)
class DownloadConfig:
    url: str = _knob(DEFAULT_URL, "an http(s):// or file:// URL, or a local path", lambda v: bool(v.strip()))
    sha256: str = _knob(DEFAULT_SHA256, "64 hex digits, or empty to skip the check",
                        lambda v: v == "" or (len(v) == 64 and all(c in "0123456789abcdefABCDEF" for c in v)))


@dataclass(frozen=True)
class PrepareConfig:
    direction: str = _knob("fra-eng", *_choice(DIRECTIONS))
    max_length: int = _knob(10, "an integer >= 2 (pairs need fewer tokens than this on both sides)",
                            lambda v: v >= 2)
    eng_prefixes: list[str] = _knob(DEFAULT_PREFIXES, "a list of strings (empty keeps every pair)")
    keep_accents: bool = _knob(False, "true or false")
    keep_apostrophes: bool = _knob(False, "true or false")


@dataclass(frozen=True)
class SplitConfig:
    test_fraction: float = _knob(0.2, "a number strictly between 0 and 1", lambda v: 0 < v < 1)
    seed: int = _knob(1234, "an integer >= 0", lambda v: v >= 0)


@dataclass(frozen=True)
class VocabConfig:
    type: str = _knob("bpe", *_choice(VOCAB_TYPES))
    min_count: int = _knob(1, "an integer >= 1 (word vocabularies)", _positive)
    max_size: int = _knob(0, "an integer >= 0 (0 means no limit; word vocabularies)", lambda v: v >= 0)
    size: int = _knob(2000, "an integer >= 50 (pieces per side; bpe vocabularies)", lambda v: v >= 50)


@dataclass(frozen=True)
class _LSTMConfig:
    """Knobs the encoder and decoder share."""

    embedding_size: int = _knob(256, "an integer >= 1", _positive)
    hidden_size: int = _knob(256, "an integer >= 1", _positive)
    num_layers: int = _knob(1, "an integer >= 1", _positive)
    dropout: float = _knob(0.3, "a number in [0, 1)", lambda v: 0 <= v < 1)


@dataclass(frozen=True)
class EncoderConfig(_LSTMConfig):
    bidirectional: bool = _knob(False, "true or false")


@dataclass(frozen=True)
class DecoderConfig(_LSTMConfig):
    attention: str = _knob("general", "one of none, dot, general, bahdanau (the old true is general, false "
                           "is none)", lambda v: v in ATTENTIONS)
    input_feeding: bool = _knob(True, "true or false")
    tie_embeddings: bool = _knob(True, "true or false")


@dataclass(frozen=True)
class TrainConfig:
    seed: int = _knob(1, "an integer >= 0", lambda v: v >= 0)
    epochs: int = _knob(10, "an integer >= 1", _positive)
    batch_size: int = _knob(64, "an integer >= 1", _positive)
    optimizer: str = _knob("adam", *_choice(OPTIMIZERS))
    learning_rate: float = _knob(0.002, "a number > 0", lambda v: v > 0)
    momentum: float = _knob(0.9, "a number in [0, 1) (sgd only)", lambda v: 0 <= v < 1)
    weight_decay: float = _knob(0.0, "a number >= 0", lambda v: v >= 0)
    lr_decay_every: int = _knob(7, "an integer >= 0 (epochs; 0 never decays)", lambda v: v >= 0)
    lr_decay_factor: float = _knob(0.5, "a number in (0, 1]", lambda v: 0 < v <= 1)
    clip_grad_norm: float = _knob(1.0, "a number >= 0 (0 disables clipping)", lambda v: v >= 0)
    teacher_forcing_ratio: float = _knob(1.0, "a number in [0, 1]", lambda v: 0 <= v <= 1)
    label_smoothing: float = _knob(0.1, "a number in [0, 1)", lambda v: 0 <= v < 1)
    word_dropout: float = _knob(0.1, "a number in [0, 1)", lambda v: 0 <= v < 1)
    patience: int = _knob(3, "an integer >= 0 (epochs; 0 never stops early)", lambda v: v >= 0)
    lr_schedule: str = _knob("step", *_choice(LR_SCHEDULES))
    lr_plateau_patience: int = _knob(2, "an integer >= 1 (epochs)", _positive)
    valid_fraction: float = _knob(0.05, "a number strictly between 0 and 1", lambda v: 0 < v < 1)
    device: str = _knob("auto", *_choice(DEVICES))
    threads: int = _knob(0, THREADS_ALLOWED, lambda v: v >= 0)
    processes: int = _knob(1, "an integer >= 1 (training processes; above 1, torch DDP)", _positive)


@dataclass(frozen=True)
class EvaluateConfig:
    batch_size: int = _knob(256, "an integer >= 1", _positive)
    max_output_length: int = _knob(20, "an integer >= 1 (tokens)", _positive)
    beam_size: int = _knob(5, "an integer >= 1 (1 is greedy decoding)", _positive)
    length_penalty: float = _knob(1.0, "a number >= 0 (0 ranks by total log-probability)", lambda v: v >= 0)
    attention_plots: int = _knob(4, "an integer from 1 to 50", lambda v: 1 <= v <= 50)
    num_samples: int = _knob(20, "an integer >= 0", lambda v: v >= 0)
    bootstrap_samples: int = _knob(1000, "0 (no confidence intervals) or an integer >= 40 (the 2.5th and "
                                   "97.5th percentiles need at least 40 resamples)", lambda v: v == 0 or v >= 40)
    device: str = _knob("auto", *_choice(DEVICES))
    threads: int = _knob(0, THREADS_ALLOWED, lambda v: v >= 0)


SECTIONS: dict[str, type] = {
    "download": DownloadConfig, "prepare": PrepareConfig, "split": SplitConfig, "vocab": VocabConfig,
    "encoder": EncoderConfig, "decoder": DecoderConfig, "train": TrainConfig, "evaluate": EvaluateConfig,
}
T = TypeVar("T")


def _type_ok(value: Any, kind: Any) -> bool:
    if kind is bool:
        return isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is str:
        return isinstance(value, str)
    if typing.get_origin(kind) is list:
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    raise TypeError(f"unsupported config type {kind}")


def parse_section(cls: type[T], name: str, raw: Any) -> T:
    """Build config `cls` from the raw mapping of section `name`, or raise UserError naming the key."""
    if not isinstance(raw, dict):
        raise UserError(f"params section '{name}' must be a mapping of keys to values, got {raw!r}.")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise UserError(f"unknown key {name}.{unknown[0]} in params: the '{name}' section accepts "
                        f"{', '.join(fields)}. Check the spelling.")
    values = {}
    for key, value in raw.items():
        meta = fields[key].metadata
        kind = hints[key]
        if not _type_ok(value, kind) or not meta["check"](value):
            hint = ""
            if kind is float and isinstance(value, str):
                hint = " YAML reads numbers like 1e-4 as text: write them with a decimal point (0.0001)."
            raise UserError(f"invalid value {name}.{key} = {value!r}: expected {meta['allowed']}.{hint}")
        values[key] = float(value) if kind is float else value
    return cls(**values)


def load_params(path: Path, *names: str) -> dict[str, Any]:
    """Read `path` (params.yaml) and return the typed configs of the sections `names`."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise UserError(f"{path} not found: run from the repository root, where params.yaml lives.") from None
    except yaml.YAMLError as err:
        raise UserError(f"{path} is not valid YAML: {err}") from None
    out = {}
    for name in names:
        if name not in data:
            raise UserError(f"{path} has no '{name}' section: restore it from git (git checkout {path}).")
        out[name] = parse_section(SECTIONS[name], name, data[name])
    return out
