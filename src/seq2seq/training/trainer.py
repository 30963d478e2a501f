"""The trainer, what the train stage (stages/train.py) calls: read the training split, vocabularies
and text settings, carve the validation slice, fit, and write the checkpoint, the per-epoch history
and the training metrics."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from seq2seq.checkpoint import save_checkpoint
from seq2seq.config import DecoderConfig, EncoderConfig, TrainConfig
from seq2seq.data.batching import TrainingPairs
from seq2seq.data.split import grouped_split, sharing_no_sentence
from seq2seq.data.text import tokenize
from seq2seq.data.vocab import load_vocabs
from seq2seq.device import make_deterministic, move, resolve_device, warn_if_emulated
from seq2seq.errors import UserError
from seq2seq.evaluation.scoring import ScoringSet
from seq2seq.fileio import Pair, atomic_open, read_json, read_pairs, write_json
from seq2seq.model.factory import build_model
from seq2seq.model.seq2seq import count_parameters
from seq2seq.training.distributed import SINGLE, Workers, process_group
from seq2seq.training.loop import EpochLog, FitResult, fit

log = logging.getLogger("seq2seq.train")
HISTORY_COLUMNS = ("epoch", "train_loss", "valid_loss", "valid_bleu", "learning_rate")


def write_history(path: Path, history: Sequence[dict]) -> None:
    """Per-epoch history as TSV (a DVC plot)."""
    with atomic_open(path) as handle:
        handle.write("\t".join(HISTORY_COLUMNS) + "\n")
        for row in history:
            handle.write("\t".join(str(row[c]) for c in HISTORY_COLUMNS) + "\n")


def usable_extra(extra: list[Pair], valid: Sequence[Pair], cfg: TrainConfig, workers: Workers) -> list[Pair]:
    """The extra training pairs that share no sentence with the validation slice (so it measures
    sentences never trained on, as the test split does); tells when they go unused."""
    if extra and not cfg.extra_per_epoch and workers.is_main:
        log.warning("%d extra training pairs (split.extra_fraction) go unused, as train.extra_per_epoch is 0, "
                    "though the vocabulary was learned from them too: set train.extra_per_epoch, or "
                    "split.extra_fraction=0", len(extra))
    kept = sharing_no_sentence(extra, valid)
    if len(kept) < len(extra) and workers.is_main:
        log.info("left out %d extra pairs that share a sentence with the validation slice", len(extra) - len(kept))
    return kept


def train_file(train_path: Path, vocab_dir: Path, text_path: Path, model_path: Path,
               history_path: Path, metrics_path: Path, enc: EncoderConfig, dec: DecoderConfig,
               cfg: TrainConfig, on_epoch: EpochLog | None = None, workers: Workers = SINGLE,
               extra_path: Path | None = None) -> FitResult:
    """The train stage: carve a validation slice from the training split, fit (with the extra
    training pairs at `extra_path`, `cfg.extra_per_epoch` of them each epoch), write checkpoint,
    history and training metrics. Every one of several `workers` reads the inputs and trains its
    share; rank 0 alone calls `on_epoch` and writes, once the others have left the group."""
    torch.manual_seed(cfg.seed)
    device = resolve_device(cfg.device, "train.device")
    make_deterministic(device)
    warn_if_emulated(device, cfg.precision, "train.precision")
    (source, target), text = load_vocabs(vocab_dir), read_json(text_path)
    if not isinstance(text.get("max_length"), int):
        raise UserError(f"{text_path} lacks max_length: rerun the prepare stage (dvc repro prepare).")
    if enc.tie_embeddings and source.itos != target.itos:
        raise UserError(f"encoder.tie_embeddings reads the source with the target embedding, but {vocab_dir} "
                        f"holds two vocabularies ({len(source)} source and {len(target)} target tokens): set "
                        "vocab.joint=true (one vocabulary for both sides) or encoder.tie_embeddings=false.")
    fit_pairs, valid_pairs = grouped_split(read_pairs(train_path), cfg.valid_fraction, cfg.seed,
                                           "train.valid_fraction")
    extra = usable_extra(read_pairs(extra_path) if extra_path is not None else [], valid_pairs, cfg, workers)
    examples = TrainingPairs(fit_pairs, source, target, cfg.subword_dropout, cfg.seed, extra, cfg.extra_per_epoch)
    start = time.perf_counter()
    with process_group(workers, device) as device:
        model = move(build_model(enc, dec, len(source), len(target)), device)
        log.info("training on %s%s: %d pairs%s, %d validation pairs, %d parameters", device,
                 f" in {workers.world_size} processes" if workers.world_size > 1 else "", len(fit_pairs),
                 f" and {examples.extra_per_epoch} of {len(extra)} extra pairs per epoch" if examples.extra else "",
                 len(valid_pairs), count_parameters(model))
        result = fit(model, examples, ScoringSet.from_pairs(valid_pairs, source, target),
                     target, cfg, device, text["max_length"], on_epoch, workers)
    if not workers.is_main:
        return result
    log.info("trained %d epochs in %.1f s; keeping epoch %d", len(result.history), time.perf_counter() - start,
             result.best_epoch)
    model.load_state_dict(result.best_state)
    seen = [p for epoch in range(1, len(result.history) + 1) for p in examples.extra_pairs(epoch)]
    words = sorted({w for s, _ in fit_pairs + valid_pairs + seen for w in tokenize(s)})
    save_checkpoint(model_path, model, source, target, text, words, cfg.precision)
    write_history(history_path, result.history)
    best = result.history[result.best_epoch - 1]
    write_json(metrics_path, {"best_epoch": result.best_epoch, "epochs_run": len(result.history),
                              "train_loss": best["train_loss"],
                              "valid_loss": best["valid_loss"], "valid_bleu": best["valid_bleu"],
                              "parameters": count_parameters(model)})
    return result
