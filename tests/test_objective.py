"""The training objective (`seq2seq.training.objective`): padding ignored, label smoothing by hand,
and its own backward pass equal to autograd's bit for bit."""

import math

import pytest
import torch

from seq2seq.data.vocab import PAD_ID
from seq2seq.training.objective import sequence_loss


def test_loss_ignores_padding():
    torch.manual_seed(0)
    logits = torch.randn(2, 4, 7)
    tgt = torch.tensor([[4, 5, 2, 0], [4, 2, 0, 0]])
    loss, n = sequence_loss(logits, tgt)
    changed = logits.clone()
    changed[0, 3] += 100.0  # scores at padding positions must not matter
    changed[1, 2:] -= 50.0
    assert n == 5
    assert torch.allclose(sequence_loss(changed, tgt)[0], loss)


def test_label_smoothing_loss_by_hand():
    # Vocabulary of 4 (<pad>, <sos>, <eos>, one word); logits give p = softmax([0, 0, ln 2, ln 4]) over
    # all four, i.e. 1/8, 1/8, 2/8, 4/8. Gold token 3. With e = 0.3 the target puts 0.7 on token 3
    # and 0.3 spread over the three non-pad tokens (ids 1, 2, 3), 0.1 each:
    # loss = 0.7 * ln 2 + 0.1 * (ln 8 + ln 4 + ln 2) = 0.7 ln 2 + 0.6 ln 2 = 1.3 ln 2.
    logits = torch.log(torch.tensor([[1.0, 1.0, 2.0, 4.0]]))
    gold = torch.tensor([3])
    loss, n = sequence_loss(logits, gold, label_smoothing=0.3)
    assert n == 1 and loss.item() == pytest.approx(1.3 * math.log(2), abs=1e-6)
    assert sequence_loss(logits, gold)[0].item() == pytest.approx(math.log(2), abs=1e-6)
    # Padding positions still count for nothing.
    padded = sequence_loss(torch.cat([logits, torch.randn(1, 4)]), torch.tensor([3, PAD_ID]), 0.3)
    assert padded[1] == 1 and padded[0].item() == pytest.approx(loss.item(), abs=1e-6)
    # Its gradient is p - target: token 3's target is 0.7 + 0.1 = 0.8; doubled by a factor 2 on the
    # loss, and nothing for the padding row. For bfloat16 logits it comes back in bfloat16.
    rows = torch.cat([logits, torch.randn(1, 4)]).requires_grad_()
    (2 * sequence_loss(rows, torch.tensor([3, PAD_ID]), 0.3)[0]).backward()
    expected = 2 * torch.tensor([[0.125, 0.025, 0.15, -0.3], [0.0, 0.0, 0.0, 0.0]])
    assert torch.allclose(rows.grad, expected, atol=1e-6)
    half = logits.bfloat16().requires_grad_()
    sequence_loss(half, gold, 0.3)[0].backward()
    assert half.grad.dtype == torch.bfloat16 and torch.allclose(half.grad.float(), expected[:1] / 2, atol=1e-2)


def test_label_smoothing_over_the_other_tokens_by_hand():
    # As above (p = 1/8, 1/8, 2/8, 4/8 over <pad>, <sos>, <eos>, the word; gold token 3), smoothing
    # 0.3 over the others: 0.7 on token 3 and 0.15 on each of the two non-pad, non-gold tokens (ids
    # 1 and 2): loss = 0.7 ln 2 + 0.15 (ln 8 + ln 4) = 0.7 ln 2 + 0.75 ln 2 = 1.45 ln 2.
    # Its gradient is p - target: 1/8, 1/8 - 0.15, 2/8 - 0.15, 4/8 - 0.7.
    logits = torch.log(torch.tensor([[1.0, 1.0, 2.0, 4.0]])).requires_grad_()
    loss, n = sequence_loss(logits, torch.tensor([3]), label_smoothing=0.3, smooth_over="others")
    assert n == 1 and loss.item() == pytest.approx(1.45 * math.log(2), abs=1e-6)
    loss.backward()
    assert torch.allclose(logits.grad, torch.tensor([[0.125, -0.025, 0.1, -0.2]]), atol=1e-6)


def test_label_smoothed_loss_and_gradient_equal_autograd_through_the_formula_bit_for_bit():
    # The loss's own backward must give exactly what autograd gives through the formula written out
    # (log_softmax, gather, sum, pad column), so a retrained default repeats byte for byte.
    def by_autograd(logits, gold, e):
        log_probs = torch.log_softmax(logits.float(), dim=-1)
        nll = -log_probs.gather(1, gold.unsqueeze(1)).squeeze(1)
        uniform = -(log_probs.sum(-1) - log_probs[:, PAD_ID]) / (logits.size(-1) - 1)
        return ((1 - e) * nll + e * uniform).sum()

    generator = torch.Generator().manual_seed(0)
    for rows, vocab, e, dtype in ((1, 5, 0.1, torch.float32), (300, 2003, 0.1, torch.float32),
                                  (77, 400, 0.37, torch.float32), (64, 900, 0.1, torch.bfloat16)):
        logits = (3 * torch.randn(rows, vocab, generator=generator)).to(dtype)
        gold = torch.randint(1, vocab, (rows,), generator=generator)
        ours, theirs = logits.clone().requires_grad_(), logits.clone().requires_grad_()
        loss = sequence_loss(ours, gold, e)[0]
        (0.0123 * loss).backward()
        reference = by_autograd(theirs, gold, e)
        (0.0123 * reference).backward()
        assert torch.equal(loss, reference) and torch.equal(ours.grad, theirs.grad)
        assert ours.grad.dtype == dtype and loss.dtype == torch.float32

