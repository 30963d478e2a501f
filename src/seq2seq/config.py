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
ATTENTIONS = ("none", "dot", "general", "bahdanau")  # the decoder's attention kinds (seq2seq.model.attention)
VOCAB_TYPES = ("word", "bpe")
LR_SCHEDULES = ("step", "plateau", "cosine")
DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("fp32", "bf16")  # the arithmetic of matrix products (seq2seq.device.autocast)
DROPOUT_PLACEMENTS = ("output", "inputs")  # where the decoder drops (seq2seq.model.decoder)
BATCHINGS = ("random", "length")  # how training pairs are cut into batches (seq2seq.data.batching)
INITIAL_CELLS = ("cell", "hidden")  # what starts the decoder's cell state (seq2seq.model.seq2seq)
SMOOTHING_TARGETS = ("all", "others")  # what label smoothing spreads over (seq2seq.training.objective)
# Keys renamed, with why: an old params.yaml gets told the new name instead of "unknown key".
RENAMED = {("vocab", "size"): ("pieces", "DVC's run cache leaves any param named 'size' out of its key, so a "
                                          "cached vocabulary of another size could be restored")}
THREADS_ALLOWED = "an integer >= 0 (CPU threads per process; 0: torch's default, as many as cores)"


def _knob(default: Any, allowed: str, check: Callable[[Any], bool] = lambda v: True, *, help: str) -> Any:
    """A params key: its default, the allowed values (in words, and as a check) and its one-line help.
    This is the one home of all three: params.yaml's comments, docs/params.md and the CLI's defaults
    are made from it (`seq2seq.paramsdoc`)."""
    meta = {"allowed": allowed, "check": check, "help": help}
    if isinstance(default, (list, tuple)):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


def _positive(v: Any) -> bool:
    return v >= 1


def _choice(options: tuple[str, ...]) -> tuple[str, Callable[[Any], bool]]:
    return "one of " + ", ".join(options), lambda v: v in options


@dataclass(frozen=True)
class DownloadConfig:
    url: str = _knob(DEFAULT_URL, "an http(s):// or file:// URL, or a local path", lambda v: bool(v.strip()),
        help='Where the pairs archive comes from: http(s)://, file:// or a local path. If SEQ2SEQ_DATA_DIR '
             "names a folder holding the URL's file name (fra-eng.zip), that copy is used instead.")
    sha256: str = _knob(DEFAULT_SHA256, "64 hex digits, or empty to skip the check",
                        lambda v: v == "" or (len(v) == 64 and all(c in "0123456789abcdefABCDEF" for c in v)),
        help="Expected sha256 of the archive (64 hex digits); '' skips the check. Pinned to the 2017-09-29 "
             'file.')


@dataclass(frozen=True)
class PrepareConfig:
    direction: str = _knob("fra-eng", *_choice(DIRECTIONS),
        help='Translation direction: fra-eng (French in, English out), eng-fra, or autoencode (English to '
             'English).')
    max_length: int = _knob(10, "an integer >= 2 (pairs need fewer tokens than this on both sides)",
                            lambda v: v >= 2,
        help='Keep pairs whose both sides have fewer than this many tokens (integer >= 2).')
    eng_prefixes: list[str] = _knob(DEFAULT_PREFIXES, "a list of strings (empty keeps every pair)",
        help='Keep only pairs whose normalised English starts with one of these; [] keeps every pair.')
    keep_accents: bool = _knob(False, "true or false",
        help='Keep accented letters (true) instead of folding them to ASCII (false).')
    keep_apostrophes: bool = _knob(False, "true or false",
        help='Keep apostrophes inside words (true) instead of turning them into spaces (false, as the '
             'tutorial).')


@dataclass(frozen=True)
class SplitConfig:
    test_fraction: float = _knob(0.2, "a number strictly between 0 and 1", lambda v: 0 < v < 1,
        help='Share of pairs held out for testing, strictly between 0 and 1. Pairs that share a sentence '
             '(source or target, transitively) stay on one side, so no test sentence occurs in training.')
    seed: int = _knob(1234, "an integer >= 0", lambda v: v >= 0,
        help="Seed of the split's shuffle (integer >= 0); independent of the training seed.")
    extra_fraction: float = _knob(1.0, "a number in [0, 1]", lambda v: 0 <= v <= 1,
        help='Share of the pairs that only prepare.eng_prefixes dropped (other sentences of the corpus) '
             'that join the training data, none sharing a sentence with the test split; 0: none. The '
             'vocabulary is learned from them too; train.extra_per_epoch says how many each epoch sees.')


@dataclass(frozen=True)
class VocabConfig:
    type: str = _knob("bpe", *_choice(VOCAB_TYPES),
        help='word: whole words; bpe: subword pieces learned by sentencepiece on the training split, so rare '
             'and unseen words are spelled from pieces (outputs become words again before scoring).')
    min_count: int = _knob(1, "an integer >= 1 (word vocabularies)", _positive,
        help='word only: words seen fewer times than this in the training split map to <unk> (integer >= 1).')
    max_size: int = _knob(0, "an integer >= 0 (0 means no limit; word vocabularies)", lambda v: v >= 0,
        help='word only: most words per vocabulary besides the 4 special tokens; 0 means no limit.')
    pieces: int = _knob(2000, "an integer >= 50 (pieces per side; bpe vocabularies)", lambda v: v >= 50,
        help='bpe only: most pieces per side (integer >= 50); small data may stop short of it.')
    joint: bool = _knob(False, "true or false",
        help='One vocabulary for both sides, learned from both sides of the training split (bpe: `pieces` '
             'pieces in all), so French and English spell shared words and cognates alike; needed by '
             'encoder.tie_embeddings.')


@dataclass(frozen=True)
class _LSTMConfig:
    """Knobs the encoder and decoder share."""

    embedding_size: int = _knob(256, "an integer >= 1", _positive,
        help='Size of the word embeddings (integer >= 1).')
    hidden_size: int = _knob(256, "an integer >= 1", _positive,
        help="LSTM hidden size (integer >= 1); the encoder's is per direction, and a linear bridge maps the "
             "encoder's state when it does not fit the decoder.")
    num_layers: int = _knob(1, "an integer >= 1", _positive,
        help='Stacked LSTM layers (integer >= 1).')
    dropout: float = _knob(0.15, "a number in [0, 1)", lambda v: 0 <= v < 1,
        help="Dropout on embeddings and between layers (the decoder's also where decoder.dropout_placement "
             'says), in [0, 1).')


@dataclass(frozen=True)
class EncoderConfig(_LSTMConfig):
    bidirectional: bool = _knob(False, "true or false",
        help='true: a second LSTM reads the sentence backwards (separate weights); outputs are concatenated.')
    reverse: bool = _knob(False, "true or false",
        help='Read each sentence from its last token to its first (Sutskever et al. 2014), so the state '
             "that starts the decoder is nearest the first words; attention sees the source's order. Ignored "
             "by a bidirectional encoder, which reads both ways.")
    tie_embeddings: bool = _knob(False, "true or false",
        help="Share the source embedding with the target embedding (three-way tying with the decoder's; "
             'needs vocab.joint and equal embedding sizes).')


@dataclass(frozen=True)
class DecoderConfig(_LSTMConfig):
    attention: str = _knob("general", "one of none, dot, general, bahdanau (the old true is general, false "
                           "is none)", lambda v: v in ATTENTIONS,
        help='Attention over the encoder outputs: none (the original plain model; the old `false`), dot, '
             "general (Luong's bilinear score; the old `true`) or bahdanau (additive). dot needs equal sizes.")
    input_feeding: bool = _knob(True, "true or false",
        help="Feed each step's attentional vector into the next step's LSTM input (Luong); ignored without "
             'attention.')
    tie_embeddings: bool = _knob(True, "true or false",
        help='Share the target embedding with the output layer (needs embedding_size == hidden_size).')
    dropout_placement: str = _knob("output", *_choice(DROPOUT_PLACEMENTS),
        help='output: drop the embedding and the attentional vector, which feeds the output layer and the next'
             ' step; inputs (Joey NMT): drop [embedding; fed vector] and [LSTM output; context], nothing'
             ' before the output layer.')
    output_bias: bool = _knob(True, "true or false",
        help='A bias on the output layer (one per target token); Joey NMT has none.')
    attentional_bias: bool = _knob(False, "true or false",
        help='A bias on the attentional layer tanh(W [h; context] + b); Joey NMT has one.')
    initial_cell: str = _knob("cell", *_choice(INITIAL_CELLS),
        help="The decoder's first cell state: cell, the encoder's final cell state (through the bridge);"
             " hidden, its final hidden state, as Joey NMT (the first hidden state is the same either way).")
    attentional_init: float = _knob(0.0, "0 (torch's default) or a number > 0", lambda v: v >= 0,
        help="The attentional layer's initial weights: 0 keeps torch's U(+-1/sqrt(inputs)) (+-0.044 at 256 +"
             ' 256); above 0, U(+-this) (Joey NMT: 0.0625).')


@dataclass(frozen=True)
class TrainConfig:
    seed: int = _knob(1, "an integer >= 0", lambda v: v >= 0,
        help='Seed for weights, shuffling, teacher forcing and the validation slice (integer >= 0).')
    epochs: int = _knob(7, "an integer >= 1", _positive,
        help='Passes over the training pairs (integer >= 1); the best epoch by validation BLEU is kept.')
    batch_size: int = _knob(64, "an integer >= 1", _positive,
        help='Pairs per batch (integer >= 1).')
    batching: str = _knob("length", *_choice(BATCHINGS),
        help='random: shuffled batches of any lengths (padded); length: pairs grouped by source length in'
             ' ranges of bucket_width tokens, random batches within each range, the batches shuffled.')
    bucket_width: int = _knob(1, "an integer >= 1 (tokens; batching length only)", _positive,
        help='length only: source lengths per range (integer >= 1); 1 puts one source length in each batch,'
             ' so no source is padded.')
    optimizer: str = _knob("adam", *_choice(OPTIMIZERS),
        help='sgd (with momentum and weight decay, as the original) or adam.')
    learning_rate: float = _knob(0.002, "a number > 0", lambda v: v > 0,
        help='Initial learning rate (> 0).')
    momentum: float = _knob(0.9, "a number in [0, 1) (sgd only)", lambda v: 0 <= v < 1,
        help='SGD momentum in [0, 1); ignored by adam.')
    weight_decay: float = _knob(0.0, "a number >= 0", lambda v: v >= 0,
        help='L2 weight decay (>= 0).')
    lr_decay_every: int = _knob(5, "an integer >= 0 (epochs; 0 never decays)", lambda v: v >= 0,
        help='step only: multiply the learning rate by lr_decay_factor every this many epochs; 0 never decays.')
    lr_decay_factor: float = _knob(0.5, "a number in (0, 1]", lambda v: 0 < v <= 1,
        help='step and plateau: the factor of each cut of the rate, in (0, 1].')
    clip_grad_norm: float = _knob(1.0, "a number >= 0 (0 disables clipping)", lambda v: v >= 0,
        help='Clip the gradient norm to this (>= 0); 0 disables clipping.')
    teacher_forcing_ratio: float = _knob(1.0, "a number in [0, 1]", lambda v: 0 <= v <= 1,
        help="Chance of feeding the gold previous word instead of the model's own prediction, in [0, 1].")
    label_smoothing: float = _knob(0.1, "a number in [0, 1)", lambda v: 0 <= v < 1,
        help="Label smoothing in [0, 1): this share of each target's probability is spread over the "
             'vocabulary.')
    smooth_over: str = _knob("all", *_choice(SMOOTHING_TARGETS),
        help='all: label smoothing spreads over every token but <pad>, the gold one included (V - 1);'
             ' others: over every token but <pad> and the gold one (V - 2, Joey NMT).')
    word_dropout: float = _knob(0.0, "a number in [0, 1)", lambda v: 0 <= v < 1,
        help='Chance that each source word is replaced by <unk> while training, in [0, 1), so <unk> is '
             'learned.')
    patience: int = _knob(3, "an integer >= 0 (epochs; 0 never stops early)", lambda v: v >= 0,
        help='Stop after this many epochs without a better validation BLEU (integer >= 0); 0 runs every epoch.')
    lr_schedule: str = _knob("step", *_choice(LR_SCHEDULES),
        help='step: multiply the rate by lr_decay_factor every lr_decay_every epochs; plateau: when validation'
             ' BLEU has not improved for more than lr_plateau_patience epochs in a row; cosine: every update,'
             ' along a half cosine from the full rate to 0 at the end of train.epochs (lr_decay_every and'
             ' lr_decay_factor ignored).')
    lr_plateau_patience: int = _knob(2, "an integer >= 1 (epochs)", _positive,
        help='plateau only: epochs without gain tolerated before a cut (integer >= 1).')
    valid_fraction: float = _knob(0.05, "a number strictly between 0 and 1", lambda v: 0 < v < 1,
        help='Share of the training split held out for validation each epoch, in (0, 1); grouped like the '
             'split.')
    device: str = _knob("auto", *_choice(DEVICES),
        help='auto (CUDA when present, else CPU), cpu or cuda.')
    threads: int = _knob(0, THREADS_ALLOWED, lambda v: v >= 0,
        help="CPU threads per training process (integer >= 0); 0: torch's default, all cores shared among "
             'processes. Changing it reruns training; the environment variable SEQ2SEQ_THREADS overrides it '
             'and reruns nothing.')
    processes: int = _knob(1, "an integer >= 1 (training processes; above 1, torch DDP)", _positive,
        help='Training processes (integer >= 1); above 1, torch DDP splits every batch among them (gloo on '
             'CPU, NCCL on GPUs).')
    precision: str = _knob("fp32", *_choice(PRECISIONS),
        help='fp32, or bf16: matrix products and LSTMs in bfloat16 under autocast (weights, optimizer and loss '
             'stay float32); which is faster depends on the CPU (docs/precision.md).')
    warmup_steps: int = _knob(0, "an integer >= 0 (updates; 0: no warm-up)", lambda v: v >= 0,
        help='Raise the learning rate linearly from 0 over this many first updates (integer >= 0), e.g. for '
             'large batches at a scaled-up rate; 0 starts at the full rate.')
    ema_decay: float = _knob(0.999, "0 (off) or a number in [0.9, 1)", lambda v: v == 0 or 0.9 <= v < 1,
        help='Validate and keep a moving average of the weights (0: the raw weights): update n decays it by'
             ' min(ema_decay, (1 + n) / (10 + n)), so a decay in [0.9, 1) binds only after about'
             ' 9 / (1 - decay) updates (0.999: about 9,000); before that the average spans about the'
             ' last n / 9 updates.')
    extra_per_epoch: int = _knob(4000, "an integer >= 0 (pairs per epoch; 0: none)", lambda v: v >= 0,
        help="Extra training pairs (split.extra_fraction) added to each epoch (integer >= 0): a fresh seeded "
             "draw each epoch, through all of them before any repeats; 0 trains on the split's pairs alone.")
    subword_dropout: float = _knob(0.0, "a number in [0, 1) (vocab.type bpe only)", lambda v: 0 <= v < 1,
        help='BPE-dropout: while training, each merge is skipped with this chance when sentences are cut into'
             ' pieces, anew each epoch (seeded); validation and decoding cut as usual. bpe only, in [0, 1).')


@dataclass(frozen=True)
class EvaluateConfig:
    batch_size: int = _knob(256, "an integer >= 1", _positive,
        help='Pairs per batch when scoring (integer >= 1).')
    max_output_length: int = _knob(20, "an integer >= 1 (tokens)", _positive,
        help='Longest translation decoding may produce, in tokens (integer >= 1).')
    beam_size: int = _knob(5, "an integer >= 1 (1 is greedy decoding)", _positive,
        help='Hypotheses kept per sentence by beam search (integer >= 1); 1 is greedy decoding (validation '
             'always is).')
    length_penalty: float = _knob(1.0, "a number >= 0 (0 ranks by total log-probability)", lambda v: v >= 0,
        help='Beam scores are log-probability / length ** length_penalty (>= 0); 0 favours short outputs.')
    attention_plots: int = _knob(4, "an integer from 1 to 50", lambda v: 1 <= v <= 50,
        help='Sample sentences drawn as attention heatmaps in results/attention (integer from 1 to 50).')
    num_samples: int = _knob(20, "an integer >= 0", lambda v: v >= 0,
        help='Test sources written to results/samples.tsv with all their references and the prediction '
             '(integer >= 0).')
    bootstrap_samples: int = _knob(1000, "0 (no confidence intervals) or an integer >= 40 (the 2.5th and "
                                   "97.5th percentiles need at least 40 resamples)", lambda v: v == 0 or v >= 40,
        help='Bootstrap resamples for the 95% confidence half-widths bleu_ci95 and chrf_ci95 (0 skips, else >='
             ' 40).')
    device: str = _knob("auto", *_choice(DEVICES),
        help='auto (CUDA when present, else CPU), cpu or cuda. Byte-identical reruns are promised on CPU only.')
    precision: str = _knob("auto", *_choice(("auto",) + PRECISIONS),
        help="auto (the checkpoint's train.precision), fp32 or bf16: the arithmetic of decoding.")
    threads: int = _knob(0, THREADS_ALLOWED, lambda v: v >= 0,
        help="CPU threads (integer >= 0); 0: torch's default, all cores. SEQ2SEQ_THREADS overrides it and "
             'reruns nothing.')


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
    renamed = [key for key in unknown if (name, key) in RENAMED]
    if renamed:
        new, why = RENAMED[(name, renamed[0])]
        raise UserError(f"{name}.{renamed[0]} is now called {name}.{new} ({why}): rename it in params.yaml "
                        f"and in your -S options.")
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


def check_model(enc: EncoderConfig, dec: DecoderConfig) -> None:
    """Checks between the encoder and decoder sections, made when the params load (before any data
    is read) with the messages the model would give."""
    if dec.tie_embeddings and dec.embedding_size != dec.hidden_size:
        raise UserError(f"decoder.tie_embeddings shares the target embedding with the output layer, so "
                        f"decoder.embedding_size ({dec.embedding_size}) must equal decoder.hidden_size "
                        f"({dec.hidden_size}): make them equal or set decoder.tie_embeddings=false.")
    if enc.tie_embeddings and enc.embedding_size != dec.embedding_size:
        raise UserError(f"encoder.tie_embeddings shares the source embedding with the target embedding, so "
                        f"encoder.embedding_size ({enc.embedding_size}) must equal decoder.embedding_size "
                        f"({dec.embedding_size}): make them equal or set encoder.tie_embeddings=false.")
    memory = enc.hidden_size * (2 if enc.bidirectional else 1)
    if dec.attention == "dot" and dec.hidden_size != memory:
        raise UserError(f"decoder.attention=dot compares decoder states (decoder.hidden_size {dec.hidden_size}) "
                        f"with encoder outputs of size {memory} (hidden_size, doubled when bidirectional); they "
                        "must be equal: use general or bahdanau, or make the sizes match.")


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
    if "encoder" in out and "decoder" in out:
        check_model(out["encoder"], out["decoder"])
    return out
