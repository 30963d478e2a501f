"""Score a model on pairs: teacher-forced loss and accuracy, greedy BLEU/chrF and exact match."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from seq2seq.data.batching import Example, batches, encode_pairs
from seq2seq.data.vocab import PAD_ID, Vocab
from seq2seq.decoding import greedy_translate
from seq2seq.device import resolve_device
from seq2seq.fileio import atomic_open, read_pairs, write_json
from seq2seq.metrics import corpus_scores, sequence_loss
from seq2seq.model.seq2seq import Seq2Seq, load_checkpoint

log = logging.getLogger("seq2seq.evaluate")


@torch.no_grad()
def teacher_forced_scores(model: Seq2Seq, examples: Sequence[Example], batch_size: int,
                          device: torch.device) -> tuple[float, float]:
    """Mean per-token cross-entropy and token accuracy over non-pad target tokens."""
    model.eval()
    total_loss, tokens, correct = 0.0, 0, 0
    for batch in batches(examples, batch_size):
        batch = batch.to(device)
        logits = model(batch.src, batch.src_lengths, batch.tgt_in)  # (batch, tgt_len, vocab)
        loss, n = sequence_loss(logits, batch.tgt_out)
        total_loss += float(loss)
        tokens += n
        correct += int(((logits.argmax(-1) == batch.tgt_out) & (batch.tgt_out != PAD_ID)).sum())
    return total_loss / max(tokens, 1), correct / max(tokens, 1)


@dataclass
class Evaluation:
    metrics: dict[str, float]  # flat numbers, rounded so that diffs stay stable
    hypotheses: list[str]  # greedy translations, in input order
    signatures: dict[str, str]  # how sacrebleu computed BLEU and chrF


def evaluate_model(model: Seq2Seq, examples: Sequence[Example], references: Sequence[str], target: Vocab,
                   batch_size: int, max_len: int, device: torch.device) -> Evaluation:
    """Teacher-forced loss and accuracy, then greedy BLEU, chrF and exact match for `examples`."""
    loss, accuracy = teacher_forced_scores(model, examples, batch_size, device)
    tokens = greedy_translate(model, [s for s, _ in examples], target, batch_size, max_len, device)
    hypotheses = [" ".join(t) for t in tokens]
    scores = corpus_scores(hypotheses, references)
    exact = sum(h == r for h, r in zip(hypotheses, references)) / max(len(references), 1)
    metrics = {"loss": round(loss, 4), "perplexity": round(math.exp(min(loss, 50.0)), 4),
               "token_accuracy": round(accuracy, 4), "exact_match": round(exact, 4),
               "bleu": scores["bleu"], "chrf": scores["chrf"]}
    signatures = {"bleu_signature": scores["bleu_signature"], "chrf_signature": scores["chrf_signature"]}
    return Evaluation(metrics, hypotheses, signatures)


def sample_rows(n_rows: int, n_samples: int) -> list[int]:
    """`n_samples` row indices spread evenly over `n_rows` (deterministic, not just the first rows)."""
    n_samples = min(n_samples, n_rows)
    return [i * n_rows // n_samples for i in range(n_samples)]


def evaluate_file(model_path: Path, test_path: Path, metrics_path: Path, samples_path: Path,
                  signatures_path: Path, batch_size: int, max_output_length: int, num_samples: int,
                  device_name: str = "auto") -> dict:
    """Evaluate the checkpoint on the test split; write metrics, signatures and sample predictions."""
    device = resolve_device(device_name, "evaluate.device")
    loaded = load_checkpoint(model_path, device)
    pairs = read_pairs(test_path)
    examples = encode_pairs(pairs, loaded.source, loaded.target)
    references = [t for _, t in pairs]
    result = evaluate_model(loaded.model, examples, references, loaded.target, batch_size,
                            max_output_length, device)
    metrics = {**result.metrics, "n_test": len(pairs)}
    write_json(metrics_path, metrics)
    write_json(signatures_path, result.signatures)
    with atomic_open(samples_path) as handle:
        handle.write("source\treference\tprediction\n")
        for i in sample_rows(len(pairs), num_samples):
            handle.write(f"{pairs[i][0]}\t{pairs[i][1]}\t{result.hypotheses[i]}\n")
    for i in sample_rows(len(pairs), min(num_samples, 3)):
        log.info("sample: %s -> %s (reference: %s)", pairs[i][0], result.hypotheses[i], pairs[i][1])
    log.info("test: BLEU %.2f, chrF %.2f, loss %.4f, token accuracy %.4f, exact match %.4f on %d pairs",
             metrics["bleu"], metrics["chrf"], metrics["loss"], metrics["token_accuracy"],
             metrics["exact_match"], len(pairs))
    return metrics
