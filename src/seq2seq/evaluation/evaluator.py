"""The evaluator, what the evaluate stage (stages/evaluate.py) calls: score the test split and write
what it found: metrics, signatures, every test translation, sample translations, BLEU and chrF by
source length and novelty, and attention heatmaps."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

from seq2seq.checkpoint import LoadedModel
from seq2seq.config import EvaluateConfig
from seq2seq.data.batching import pad_sources
from seq2seq.data.text import tokenize
from seq2seq.device import autocast, make_deterministic, resolve_device, warn_if_emulated
from seq2seq.evaluation.breakdown import breakdown
from seq2seq.evaluation.heatmaps import save_heatmap
from seq2seq.evaluation.scoring import ScoringSet, evaluate_model
from seq2seq.evaluation.translations import REFERENCE_SEPARATOR, write_rows
from seq2seq.fileio import atomic_open, read_pairs, write_json
from seq2seq.inference.alignment import align
from seq2seq.inference.ensemble import load_models
from seq2seq.inference.search import search

log = logging.getLogger("seq2seq.evaluate")


def sample_rows(n_rows: int, n_samples: int) -> list[int]:
    """`n_samples` row indices spread evenly over `n_rows` (deterministic, not just the first rows)."""
    n_samples = min(n_samples, n_rows)
    return [i * n_rows // n_samples for i in range(n_samples)]


def write_samples(path: Path, data: ScoringSet, hypotheses: Sequence[str], num_samples: int) -> None:
    """Sample predictions spread over the distinct test sources, with all of each one's references,
    in the layout of the kept translations (`seq2seq.evaluation.translations`)."""
    write_rows(path, data.sources, data.references, hypotheses, sample_rows(len(data.sources), num_samples))


@dataclass(frozen=True)
class EvaluationOutputs:
    """Where the evaluate stage writes."""

    metrics: Path  # flat numbers (JSON)
    samples: Path  # sample translations (TSV)
    translations: Path  # every distinct test source, its references and translation (TSV), for compare
    signatures: Path  # how sacrebleu computed the scores (JSON)
    report: Path  # BLEU and chrF by source length and novelty (TSV)
    attention: Path  # folder of attention heatmaps (PNG)


def write_report(path: Path, table: pd.DataFrame) -> None:
    """The per-group table as TSV, atomically."""
    with atomic_open(path) as handle:
        table.to_csv(handle, sep="\t", index=False, lineterminator="\n")


def write_heatmaps(folder: Path, loaded: LoadedModel, data: ScoringSet, count: int, max_len: int,
                   beam_size: int, length_penalty: float, device: torch.device) -> list[Path]:
    """Heatmaps of `count` test sources spread evenly over the test set (as the samples are), each
    decoded as evaluation decodes, as `folder/01.png`, `02.png`, ...; the folder holds nothing else.
    A model without attention gets one image saying so."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    model, target = loaded.model, loaded.target
    rows = sample_rows(len(data.sources), count)
    if model.settings.attention == "none" or not rows:
        path = folder / "01.png"
        save_heatmap(path, ["-"], ["-"], [[0.0]], "no attention: decoder.attention is none")
        return [path]
    src, lengths = pad_sources([data.source_ids[i] for i in rows])
    src = src.to(device)
    ids = search(model, src, lengths, max_len, beam_size, length_penalty).tokens[:, 0].tolist()
    paths = []
    for k, (i, out) in enumerate(zip(rows, ids), start=1):
        att = align(loaded, src[k - 1:k, :int(lengths[k - 1])], lengths[k - 1:k], data.sources[i], out)
        path = folder / f"{k:02d}.png"
        save_heatmap(path, att.source_tokens, att.output_tokens, att.weights,
                     f"{data.sources[i]}  ->  {target.join(target.decode(out))}")
        paths.append(path)
    return paths


def evaluate_file(model_path: Path | Sequence[Path], test_path: Path, out: EvaluationOutputs,
                  cfg: EvaluateConfig) -> dict:
    """Evaluate the checkpoint on the test split: metrics, signatures, every translation, samples, the
    per-group report (novelty judged by the training words the checkpoint carries) and heatmaps,
    decoding in `cfg.precision` (auto: the one the checkpoint was trained in). Several checkpoints
    are scored as one ensemble (`seq2seq.inference.ensemble`)."""
    device = resolve_device(cfg.device, "evaluate.device")
    make_deterministic(device)
    loaded = load_models([model_path] if isinstance(model_path, Path) else list(model_path), device)
    precision = loaded.precision if cfg.precision == "auto" else cfg.precision
    warn_if_emulated(device, precision, "evaluate.precision")
    data = ScoringSet.from_pairs(read_pairs(test_path), loaded.source, loaded.target)
    with autocast(device, precision):
        result = evaluate_model(loaded.model, data, loaded.target, cfg.batch_size, cfg.max_output_length, device,
                                cfg.bootstrap_samples, cfg.beam_size, cfg.length_penalty)
    metrics = result.metrics
    # Novelty as the checkpoint knows it (its training words), so this stage needs no training split.
    unseen = {w for s in data.sources for w in loaded.unseen_words(s)}
    known = {w for s in data.sources for w in tokenize(s)} - unseen
    write_report(out.report, breakdown(data.sources, result.stats, known))
    with autocast(device, precision):
        write_heatmaps(out.attention, loaded, data, cfg.attention_plots, cfg.max_output_length, cfg.beam_size,
                       cfg.length_penalty, device)
    write_json(out.metrics, metrics)
    write_json(out.signatures, result.signatures)
    write_samples(out.samples, data, result.hypotheses, cfg.num_samples)
    write_rows(out.translations, data.sources, data.references, result.hypotheses)
    for i in sample_rows(len(data.sources), min(cfg.num_samples, 3)):
        log.info("sample: %s -> %s (references: %s)", data.sources[i], result.hypotheses[i],
                 REFERENCE_SEPARATOR.join(data.references[i]))
    log.info("test, %d sources with %d references: %s", metrics["n_test"], metrics["n_references"],
             ", ".join(f"{k} {v}" for k, v in sorted(metrics.items()) if not k.startswith("n_")))
    return metrics
