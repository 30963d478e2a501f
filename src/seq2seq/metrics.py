"""Loss over padded targets, and corpus BLEU and chrF with sacrebleu."""

from __future__ import annotations

from collections.abc import Sequence

import sacrebleu
import torch
from torch.nn import functional as F

from seq2seq.data.vocab import PAD_ID


def sequence_loss(logits: torch.Tensor, tgt_out: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Summed cross-entropy over non-pad target tokens, and the number of those tokens.

    logits (batch, tgt_len, vocab), tgt_out (batch, tgt_len). Padding adds nothing to either.
    """
    loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), tgt_out.reshape(-1),
                           ignore_index=PAD_ID, reduction="sum")
    return loss, int((tgt_out != PAD_ID).sum())


def corpus_scores(hypotheses: Sequence[str], references: Sequence[str]) -> dict[str, float | str]:
    """sacrebleu corpus BLEU and chrF (0-100) of hypotheses against one reference each,
    with the signatures that say how they were computed."""
    # Our text is already normalised and tokenised; `force` silences sacrebleu's warning about that.
    bleu = sacrebleu.metrics.BLEU(force=True)
    chrf = sacrebleu.metrics.CHRF()
    refs = [list(references)]
    bleu_score = bleu.corpus_score(list(hypotheses), refs)
    chrf_score = chrf.corpus_score(list(hypotheses), refs)
    return {"bleu": round(bleu_score.score, 4), "chrf": round(chrf_score.score, 4),
            "bleu_signature": str(bleu.get_signature()), "chrf_signature": str(chrf.get_signature())}
