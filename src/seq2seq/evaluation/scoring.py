"""Score a model on pairs: teacher-forced loss and accuracy, then translations of each distinct
source scored against all of its references (BLEU, chrF, exact match). Training's validation and
the evaluate stage (`seq2seq.evaluation.evaluator`) both use it."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from seq2seq.data.batching import Example, batches, encode_pairs, encode_source
from seq2seq.data.vocab import PAD_ID, Vocab
from seq2seq.evaluation.metrics import SentenceStatistics, sentence_statistics, summarise
from seq2seq.fileio import Pair
from seq2seq.inference.translate import translate_ids
from seq2seq.model.seq2seq import Seq2Seq
from seq2seq.training.objective import sequence_loss


@torch.no_grad()
def teacher_forced_scores(model: Seq2Seq, examples: Sequence[Example], batch_size: int,
                          device: torch.device) -> tuple[float, float]:
    """Mean per-token cross-entropy and token accuracy over non-pad target tokens."""
    model.eval()
    total_loss, tokens, correct = 0.0, 0, 0
    for batch in batches(examples, batch_size):
        batch = batch.to(device)
        scored = batch.tgt_out != PAD_ID
        gold = batch.tgt_out[scored]  # (tokens,)
        logits = model(batch.src, batch.src_lengths, batch.tgt_in, scored=scored)  # (tokens, vocab)
        loss, n = sequence_loss(logits, gold)
        total_loss += float(loss)
        tokens += n
        correct += int((logits.argmax(-1) == gold).sum())
    return total_loss / max(tokens, 1), correct / max(tokens, 1)


@dataclass
class ScoringSet:
    """Pairs laid out for scoring: every pair for the teacher-forced loss, and each distinct source
    once with all of its references for BLEU, chrF and exact match."""

    examples: list[Example]  # every pair, encoded, in input order
    sources: list[str]  # distinct sources, in first-seen order
    source_ids: list[list[int]]  # sources[i] encoded, ending in <eos>
    references: list[list[str]]  # references[i]: every target paired with sources[i]
    pair_source: list[int]  # pair k's source is sources[pair_source[k]]
    pair_references: list[str]  # pair k's own target

    @classmethod
    def from_pairs(cls, pairs: Sequence[Pair], source: Vocab, target: Vocab) -> ScoringSet:
        index: dict[str, int] = {}
        references: list[list[str]] = []
        for src, tgt in pairs:
            if src not in index:
                index[src] = len(references)
                references.append([])
            references[index[src]].append(tgt)
        sources = list(index)
        return cls(encode_pairs(pairs, source, target), sources, [encode_source(s, source) for s in sources],
                   references, [index[s] for s, _ in pairs], [t for _, t in pairs])


@dataclass
class Evaluation:
    metrics: dict[str, float]  # flat numbers, rounded so that diffs stay stable
    hypotheses: list[str]  # translations of the distinct sources, in ScoringSet order
    signatures: dict[str, str]  # how sacrebleu computed BLEU and chrF
    stats: dict[str, SentenceStatistics]  # BLEU's and chrF's, of each hypothesis: for scores of groups


def evaluate_model(model: Seq2Seq, data: ScoringSet, target: Vocab, batch_size: int, max_len: int,
                   device: torch.device, n_bootstrap: int = 0, beam_size: int = 1,
                   length_penalty: float = 1.0) -> Evaluation:
    """Teacher-forced loss and accuracy over every pair; then each distinct source translated once
    (greedy, or beam search with `beam_size` > 1) and scored against all of its references: BLEU,
    chrF (with 95% confidence half-widths unless `n_bootstrap` is 0) and exact match (equal to any
    reference). `bleu_single_ref` scores every pair against its own reference alone, as published
    single-reference figures do."""
    loss, accuracy = teacher_forced_scores(model, data.examples, batch_size, device)
    hypotheses = translate_ids(model, data.source_ids, target, batch_size, max_len, device,
                               beam_size=beam_size, length_penalty=length_penalty)
    stats = sentence_statistics(hypotheses, data.references)
    scores = summarise(stats, n_bootstrap)
    single = SentenceStatistics("bleu", [hypotheses[i] for i in data.pair_source], [[r] for r in data.pair_references])
    exact = sum(h in refs for h, refs in zip(hypotheses, data.references)) / max(len(hypotheses), 1)
    metrics = {"loss": round(loss, 4), "perplexity": round(math.exp(min(loss, 50.0)), 4),
               "token_accuracy": round(accuracy, 4), "exact_match": round(exact, 4),
               "bleu_single_ref": round(single.score(), 4), "n_test": len(data.sources),
               "n_references": len(data.examples)}
    metrics.update((k, v) for k, v in scores.items() if not k.endswith("_signature"))
    signatures = {"bleu_signature": scores["bleu_signature"], "chrf_signature": scores["chrf_signature"],
                  "bleu_single_ref_signature": single.signature}
    return Evaluation(metrics, hypotheses, signatures, stats)
