"""The training objective: label-smoothed cross-entropy over padded targets, with its own backward
(`_SmoothedLoss`) so the gradient skips autograd's (n, vocab) intermediates."""

from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable
from torch.nn import functional as F

from seq2seq.data.vocab import PAD_ID


class _SmoothedLoss(torch.autograd.Function):
    """The summed label-smoothed cross-entropy of logits (n, vocab) against targets (n,), and its
    gradient without autograd's (n, vocab) intermediates: the gradient with respect to the log-
    probabilities is one constant per row plus the gold token's share (zero at `<pad>`), built in
    one tensor and passed to log_softmax's own backward. Every value equals what autograd computes
    through log_softmax, gather, sum and the pad column, bit for bit (a test checks), in fewer passes
    over the logits. Computed in float32 at least; the gradient is returned in the logits' dtype.
    `torch._log_softmax_backward_data` is private: the bit-for-bit test guards it when torch (pinned
    in pyproject.toml) moves. Not twice differentiable."""

    @staticmethod
    def forward(ctx, logits: torch.Tensor, target: torch.Tensor, smoothing: float,
                gold_share: float) -> torch.Tensor:
        log_probs = F.log_softmax(logits.to(torch.promote_types(logits.dtype, torch.float32)), dim=-1)
        nll = -log_probs.gather(1, target.unsqueeze(1)).squeeze(1)
        uniform = -(log_probs.sum(-1) - log_probs[:, PAD_ID]) / (logits.size(-1) - 1)
        ctx.save_for_backward(log_probs, target)
        ctx.smoothing, ctx.gold_share, ctx.dtype = smoothing, gold_share, logits.dtype
        return (gold_share * nll + smoothing * uniform).sum()

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None, None, None]:
        log_probs, target = ctx.saved_tensors
        spread = -((grad * ctx.smoothing) / (log_probs.size(-1) - 1))  # through sum(-1), the division and the negation
        gold = -(grad * ctx.gold_share)  # through gather and the negation
        grad_lp = spread.expand_as(log_probs).clone()
        grad_lp[:, PAD_ID] = 0.0  # the pad column's two shares cancel exactly
        grad_lp.scatter_(1, target.unsqueeze(1), (spread + gold).expand(len(target), 1))
        grad_logits = torch._log_softmax_backward_data(grad_lp, log_probs, 1, log_probs.dtype)
        return grad_logits.to(ctx.dtype), None, None, None


def sequence_loss(logits: torch.Tensor, tgt_out: torch.Tensor, label_smoothing: float = 0.0,
                  smooth_over: str = "all") -> tuple[torch.Tensor, int]:
    """Summed cross-entropy over non-pad target tokens, and the number of those tokens.

    logits (..., vocab), tgt_out (...): padded (batch, tgt_len) or already the scored tokens (n,).
    Padding adds nothing to either. With `label_smoothing` e, each token's target distribution is
    1 - e on the gold token plus e spread evenly over the V - 1 tokens without `<pad>` (which is
    never a target): loss = (1 - e) * -log p(gold) + e * mean over non-pad tokens v of -log p(v).
    With `smooth_over` "others", e is spread over the V - 2 tokens that are neither `<pad>` nor the
    gold token, which gets exactly 1 - e: the same form, with the gold token's weight
    1 - e - e / (V - 2) and the mean's e (V - 1) / (V - 2).
    """
    logits, tgt_out = logits.reshape(-1, logits.size(-1)), tgt_out.reshape(-1)
    keep = tgt_out != PAD_ID
    n = int(keep.sum())
    if label_smoothing == 0.0:
        return F.cross_entropy(logits, tgt_out, ignore_index=PAD_ID, reduction="sum"), n
    if n < keep.numel():  # training passes only the scored tokens: no copy of its logits then
        logits, tgt_out = logits[keep], tgt_out[keep]
    e, size = label_smoothing, logits.size(-1)
    if smooth_over == "others":
        return _SmoothedLoss.apply(logits, tgt_out, e * (size - 1) / (size - 2), 1 - e - e / (size - 2)), n
    return _SmoothedLoss.apply(logits, tgt_out, e, 1 - e), n
