import math

import pytest
import torch

from seq2seq.config import DecoderConfig, EncoderConfig, TrainConfig
from seq2seq.data.batching import (
    TrainingPairs,
    batches,
    bucketed_chunks,
    collate,
    encode_pairs,
    random_chunks,
    training_chunks,
)
from seq2seq.data.vocab import EOS_ID, PAD_ID, UNK_ID, Vocab
from seq2seq.device import autocast
from seq2seq.errors import UserError
from seq2seq.evaluation.scoring import ScoringSet, evaluate_model
from seq2seq.inference.translate import translate_ids
from seq2seq.model.factory import build_model
from seq2seq.model.seq2seq import Seq2Seq
from seq2seq.training.averaging import WeightAverage
from seq2seq.training.loop import drop_words, fit, shard_batch, train_epoch
from seq2seq.training.objective import sequence_loss
from seq2seq.training.optim import UpdateRate, make_optimizer, make_scheduler, step_scheduler
from tests.conftest import PAIRS, PLAIN_DEC, PLAIN_ENC, PLAIN_TRAIN, SOURCE, TARGET, overfit

EXAMPLES = encode_pairs(PAIRS, SOURCE, TARGET)
TINY_ENC = EncoderConfig(embedding_size=16, hidden_size=32, dropout=0.0, **PLAIN_ENC)
TINY_DEC = DecoderConfig(embedding_size=16, hidden_size=32, dropout=0.0, **PLAIN_DEC)


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


def test_batches_pad_and_shift_targets():
    batch = collate(EXAMPLES[:2], [0, 1])
    assert batch.src.shape[0] == 2 and batch.tgt_in[0, 0].item() == 1
    real = batch.tgt_out[:, :-1] != 0
    assert torch.equal(batch.tgt_in[:, 1:][real], batch.tgt_out[:, :-1][real])
    shuffled = [b.indices for b in batches(EXAMPLES, 4, torch.Generator().manual_seed(0))]
    assert sorted(i for chunk in shuffled for i in chunk) == list(range(len(EXAMPLES)))


def overfit_model(enc: dict, attention: str = "general", **dec) -> tuple[Seq2Seq, float]:
    """The shared tiny model on PAIRS with these encoder settings, attention and decoder settings."""
    return overfit(enc=enc, dec={"attention": attention, **dec})


def test_bucketed_chunks_cover_every_pair_once_with_one_source_length_each():
    examples = [([4] * n + [2], [5, 2]) for n in (1, 2, 2, 3, 3, 3, 3, 3, 1, 2)]
    chunks = bucketed_chunks(examples, 2, torch.Generator().manual_seed(0))
    assert sorted(i for c in chunks for i in c) == list(range(len(examples)))
    assert all(len(c) <= 2 and len({len(examples[i][0]) for i in c}) == 1 for c in chunks)
    # lengths 1: 2 pairs, 2: 3 pairs, 3: 5 pairs -> 1 + 2 + 3 batches of at most 2
    assert len(chunks) == 6
    assert chunks == bucketed_chunks(examples, 2, torch.Generator().manual_seed(0))
    assert chunks != bucketed_chunks(examples, 2, torch.Generator().manual_seed(1))


def test_bucketed_chunks_of_wider_ranges_hold_one_range_each():
    # Source lengths (with <eos>) 2 to 7; ranges of 3 tokens: {2}, {3, 4, 5}, {6, 7}, as length // 3.
    examples = [([4] * (n - 1) + [2], [5, 2]) for n in (2, 3, 4, 5, 6, 7, 3, 4, 5, 6, 7, 2)]
    chunks = bucketed_chunks(examples, 4, torch.Generator().manual_seed(0), width=3)
    assert sorted(i for c in chunks for i in c) == list(range(len(examples)))
    ranges = [{len(examples[i][0]) // 3 for i in c} for c in chunks]
    assert all(len(r) == 1 for r in ranges)
    # range 0: 2 pairs (one batch), range 1: 6 pairs (two batches), range 2: 4 pairs (one batch)
    assert sorted(len(c) for c in chunks) == [2, 2, 4, 4]
    assert any(len({len(examples[i][0]) for i in c}) > 1 for c in chunks)  # mixed lengths within a range


def test_random_chunks_are_shuffled_full_batches_of_any_lengths():
    examples = [([4] * n + [2], [5, 2]) for n in (1, 2, 3, 1, 2, 3, 1, 2, 3, 1)]
    chunks = random_chunks(examples, 4, torch.Generator().manual_seed(0))
    assert [len(c) for c in chunks] == [4, 4, 2]
    assert sorted(i for c in chunks for i in c) == list(range(10))
    assert chunks != [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert any(len({len(examples[i][0]) for i in c}) > 1 for c in chunks)
    assert training_chunks(examples, 4, torch.Generator().manual_seed(0), "random") == chunks
    assert training_chunks(examples, 4, torch.Generator().manual_seed(0), "length", 1) == bucketed_chunks(
        examples, 4, torch.Generator().manual_seed(0))


@pytest.mark.parametrize("enc, attention, dec", [
    ({}, "none", {}), ({"bidirectional": True}, "general", {}), ({}, "bahdanau", {"input_feeding": True}),
    ({}, "dot", {"input_feeding": True, "tie_embeddings": True, "embedding_size": 32}),
    ({"reverse": True}, "general", {"input_feeding": True}),  # decoded in padded batches: reversed per row
])
def test_tiny_model_overfits_and_decodes_exactly(enc, attention, dec):
    model, loss = overfit_model(enc, attention, **dec)
    assert loss < 0.05
    decoded = translate_ids(model, [s for s, _ in EXAMPLES], TARGET, 4, 10, torch.device("cpu"))
    assert decoded == [t for _, t in PAIRS]


def _weights_after_fit(seed: int, ratio: float) -> dict:
    torch.manual_seed(seed)
    model = build_model(TINY_ENC, TINY_DEC, len(SOURCE), len(TARGET))
    cfg = TrainConfig(seed=seed, epochs=2, batch_size=2, teacher_forcing_ratio=ratio)
    fit(model, EXAMPLES, ScoringSet.from_pairs(PAIRS[:2], SOURCE, TARGET), TARGET, cfg, torch.device("cpu"), 8)
    return model.state_dict()


def test_same_seed_gives_identical_weights():
    a, b = _weights_after_fit(3, 0.5), _weights_after_fit(3, 0.5)
    assert all(torch.equal(a[k], b[k]) for k in a)
    c = _weights_after_fit(4, 0.5)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_exploding_loss_stops_with_a_clear_error():
    torch.manual_seed(0)
    model = build_model(TINY_ENC, TINY_DEC, len(SOURCE), len(TARGET))
    # A diverged model, made directly: an infinite weight makes every logit, hence the loss, non-finite.
    with torch.no_grad():
        model.decoder.out.weight[0, 0] = float("inf")
    cfg = TrainConfig(optimizer="sgd", learning_rate=0.1, batch_size=2)
    with pytest.raises(UserError, match=r"loss became nan.*batch 1.*learning_rate"):
        train_epoch(model, EXAMPLES, cfg, make_optimizer(model, cfg), generator=torch.Generator(),
                    device=torch.device("cpu"), desc="x")


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


def test_word_dropout_replaces_only_real_words_with_unk():
    src = torch.tensor([[5, 6, 7, EOS_ID], [8, EOS_ID, PAD_ID, PAD_ID]])
    assert drop_words(src, 0.0, torch.Generator()) is src
    every = drop_words(src, 0.999999, torch.Generator().manual_seed(0))
    assert every.tolist() == [[UNK_ID, UNK_ID, UNK_ID, EOS_ID], [UNK_ID, EOS_ID, PAD_ID, PAD_ID]]
    # At rate r each position is dropped where the generator's uniform draw falls below r.
    draws = torch.rand(src.shape, generator=torch.Generator().manual_seed(5))
    half = drop_words(src, 0.5, torch.Generator().manual_seed(5))
    expected = [[UNK_ID if d < 0.5 and t not in (EOS_ID, PAD_ID) else t for t, d in zip(row, drow)]
                for row, drow in zip(src.tolist(), draws.tolist())]
    assert half.tolist() == expected and half.tolist() != src.tolist()


def test_word_dropout_trains_on_the_dropped_source():
    # One step with word dropout 0.999999 on a copy of the model equals one step without dropout
    # on sources whose words are all <unk>: the loss is computed on what drop_words returns.
    torch.manual_seed(0)
    model = build_model(TINY_ENC, TINY_DEC, len(SOURCE), len(TARGET))
    twin = build_model(TINY_ENC, TINY_DEC, len(SOURCE), len(TARGET))
    twin.load_state_dict(model.state_dict())
    unk_examples = [([UNK_ID] * (len(s) - 1) + [EOS_ID], t) for s, t in EXAMPLES]
    dropped = TrainConfig(batch_size=len(EXAMPLES), **{**PLAIN_TRAIN, "word_dropout": 0.999999})
    plain = TrainConfig(batch_size=len(EXAMPLES), **PLAIN_TRAIN)
    a = train_epoch(model, EXAMPLES, dropped, make_optimizer(model, dropped),
                    generator=torch.Generator().manual_seed(1), device=torch.device("cpu"), desc="x", progress=False)
    b = train_epoch(twin, unk_examples, plain, make_optimizer(twin, plain),
                    generator=torch.Generator().manual_seed(1), device=torch.device("cpu"), desc="x", progress=False)
    assert a == pytest.approx(b, abs=1e-6)


def test_patience_stops_early_and_keeps_the_best_epoch():
    torch.manual_seed(0)
    model = build_model(TINY_ENC, TINY_DEC, len(SOURCE), len(TARGET))
    # A learning rate this small leaves validation BLEU flat (0) from the first epoch: patience 2
    # stops after epoch 3, keeping epoch 1 (ties go to the lower validation loss, then the earlier).
    cfg = TrainConfig(epochs=20, batch_size=2, learning_rate=1e-9, patience=2)
    result = fit(model, EXAMPLES, ScoringSet.from_pairs(PAIRS[:2], SOURCE, TARGET), TARGET, cfg,
                 torch.device("cpu"), 8)
    assert len(result.history) == 3
    assert result.best_epoch == min(result.history, key=lambda r: (-r["valid_bleu"], r["valid_loss"]))["epoch"]


def test_plateau_schedule_cuts_the_rate_after_patience_epochs_without_gain():
    model = build_model(TINY_ENC, TINY_DEC, len(SOURCE), len(TARGET))
    optimizer = make_optimizer(model, TrainConfig(learning_rate=0.4))
    scheduler = make_scheduler(optimizer, TrainConfig(lr_schedule="plateau", lr_plateau_patience=1,
                                                      lr_decay_factor=0.5))
    rates = []
    for bleu in (10.0, 12.0, 12.0, 12.0, 13.0, 13.0, 13.0):
        scheduler.step(bleu)
        rates.append(optimizer.param_groups[0]["lr"])
    # Patience 1: one epoch without gain is tolerated, the second in a row halves the rate.
    assert rates == [0.4, 0.4, 0.4, 0.2, 0.2, 0.2, 0.1]
    assert make_scheduler(optimizer, TrainConfig(lr_decay_every=0)) is None


def test_on_epoch_gets_each_history_row_as_it_ends():
    torch.manual_seed(0)
    model = build_model(TINY_ENC, TINY_DEC, len(SOURCE), len(TARGET))
    rows = []
    cfg = TrainConfig(epochs=2, batch_size=2)
    result = fit(model, EXAMPLES, ScoringSet.from_pairs(PAIRS[:2], SOURCE, TARGET), TARGET, cfg,
                 torch.device("cpu"), 8, on_epoch=rows.append)
    assert rows == result.history and [r["epoch"] for r in rows] == [1, 2]


def test_one_process_shard_is_the_whole_batch_with_its_token_count():
    batch, tokens, weight = shard_batch(EXAMPLES, [0, 1, 2], 0.0, torch.Generator())
    assert batch.indices == [0, 1, 2] and weight == 1.0
    assert tokens == sum(len(EXAMPLES[i][1]) for i in (0, 1, 2))  # targets end in <eos>, no padding counted


def test_the_best_epoch_s_weights_are_kept_not_the_last():
    torch.manual_seed(0)
    model = build_model(TINY_ENC, TINY_DEC, len(SOURCE), len(TARGET))
    snapshots = []
    cfg = TrainConfig(epochs=6, batch_size=2, learning_rate=0.01, **{**PLAIN_TRAIN, "patience": 0})
    result = fit(model, EXAMPLES, ScoringSet.from_pairs(PAIRS[:2], SOURCE, TARGET), TARGET, cfg,
                 torch.device("cpu"), 8, on_epoch=lambda row: snapshots.append(
                     {k: v.clone() for k, v in model.state_dict().items()}))
    best = result.best_epoch
    assert best == max(result.history, key=lambda r: (r["valid_bleu"], -r["valid_loss"]))["epoch"]
    kept = result.best_state
    assert all(torch.equal(kept[k], snapshots[best - 1][k]) for k in kept)
    if best != len(snapshots):  # the weights went on changing after the best epoch
        assert not all(torch.equal(kept[k], snapshots[-1][k]) for k in kept)


def test_step_decay_multiplies_the_rate_every_n_epochs():
    model = build_model(TINY_ENC, TINY_DEC, len(SOURCE), len(TARGET))
    cfg = TrainConfig(learning_rate=0.8, lr_schedule="step", lr_decay_every=2, lr_decay_factor=0.5)
    optimizer = make_optimizer(model, cfg)
    scheduler = make_scheduler(optimizer, cfg)
    rates = [optimizer.param_groups[0]["lr"]]
    for _ in range(5):
        optimizer.step()  # an epoch's updates come first (no gradients here: nothing moves)
        step_scheduler(scheduler, 0.0)
        rates.append(optimizer.param_groups[0]["lr"])
    # Epochs 1-2 at 0.8, 3-4 at 0.4, 5-6 at 0.2: the rate in force at the start of each epoch.
    assert rates == [0.8, 0.8, 0.4, 0.4, 0.2, 0.2]
    assert make_scheduler(optimizer, TrainConfig(lr_decay_factor=1.0)) is None  # nothing ever decays


def test_gradient_clipping_bounds_the_step():
    # One pair, one batch, one step of plain SGD without momentum: the update is learning_rate *
    # gradient, so its norm is learning_rate * min(gradient norm, clip).
    def step_norm(clip: float) -> float:
        torch.manual_seed(0)
        model = build_model(TINY_ENC, TINY_DEC, len(SOURCE), len(TARGET))
        before = torch.cat([p.detach().flatten().clone() for p in model.parameters()])
        cfg = TrainConfig(optimizer="sgd", momentum=0.0, learning_rate=1.0, batch_size=1,
                          clip_grad_norm=clip, **PLAIN_TRAIN)
        train_epoch(model, EXAMPLES[:1], cfg, make_optimizer(model, cfg), generator=torch.Generator().manual_seed(0),
                    device=torch.device("cpu"), desc="clip", progress=False)
        return float((torch.cat([p.detach().flatten() for p in model.parameters()]) - before).norm())

    free = step_norm(0.0)
    assert free > 0.01
    assert step_norm(0.01) == pytest.approx(0.01, rel=1e-3)
    assert step_norm(free * 10) == pytest.approx(free, rel=1e-5)  # a bound above the norm changes nothing


def test_warmup_raises_the_rate_linearly_then_leaves_the_epoch_schedule_alone():
    # Rate 0.8, a warm-up of 5 updates, epochs of 3 updates, the rate halved every epoch: updates
    # 1-5 run at 1/5 ... 5/5 of the rate the schedule gives in their epoch, and the schedule halves
    # its own rate, never the warm-up's share of it.
    model = build_model(TINY_ENC, TINY_DEC, len(SOURCE), len(TARGET))
    cfg = TrainConfig(learning_rate=0.8, lr_schedule="step", lr_decay_every=1, lr_decay_factor=0.5, warmup_steps=5)
    optimizer = make_optimizer(model, cfg)
    scheduler, warmup = make_scheduler(optimizer, cfg), UpdateRate(optimizer, cfg.warmup_steps)
    used, at_start = [], []
    for _ in range(3):
        at_start.append(optimizer.param_groups[0]["lr"])
        for _ in range(3):
            warmup.step()
            used.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
        warmup.settle()
        step_scheduler(scheduler, 0.0)
    assert at_start == [0.8, 0.4, 0.2]
    # Exactly: runs with a warm-up repeat bit for bit across versions.
    assert used == [0.8 * 1 / 5, 0.8 * 2 / 5, 0.8 * 3 / 5, 0.4 * 4 / 5, 0.4, 0.4, 0.2, 0.2, 0.2]
    still = UpdateRate(optimizer, 0)  # no warm-up: the rate is left as it is
    still.step()
    assert optimizer.param_groups[0]["lr"] == 0.1 and still.scheduled is None


def test_cosine_follows_a_half_cosine_per_update_to_zero_and_replaces_the_epoch_schedule():
    # Rate 1.0, 2 epochs of 2 updates: updates run at epoch positions 0, 0.5, 1, 1.5 of 2, so at
    # (1 + cos(pi * x / 2)) / 2: 1, 0.8536, 0.5, 0.1464. lr_decay_every would halve per epoch;
    # under cosine it is ignored. With a warm-up of 2 updates the first runs at half of its share.
    model = build_model(TINY_ENC, TINY_DEC, len(SOURCE), len(TARGET))
    for warmup_steps, expected in ((0, [1.0, 0.853553, 0.5, 0.146447]), (2, [0.5, 0.853553, 0.5, 0.146447])):
        cfg = TrainConfig(learning_rate=1.0, lr_schedule="cosine", lr_decay_every=1, warmup_steps=warmup_steps)
        optimizer = make_optimizer(model, cfg)
        assert make_scheduler(optimizer, cfg) is None
        rate, used = UpdateRate(optimizer, cfg.warmup_steps, cosine_epochs=2), []
        for _ in range(2):
            rate.begin_epoch(2)
            for _ in range(2):
                rate.step()
                used.append(optimizer.param_groups[0]["lr"])
            rate.settle()
            assert optimizer.param_groups[0]["lr"] == 1.0
        assert used == pytest.approx(expected, abs=1e-6)


def test_fit_with_cosine_decays_every_update_and_logs_each_epochs_first_rate(monkeypatch):
    # 12 pairs in batches of 4 cut by source length; every update's rate is recorded by the
    # optimizer itself. Update k of an epoch of n, in epoch e of 2, runs at
    # 0.01 * (1 + cos(pi * (e - 1 + k / n) / 2)) / 2: from 0.01 down towards 0.
    rates = []

    def recording(model, cfg):
        optimizer = make_optimizer(model, cfg)
        optimizer.register_step_pre_hook(lambda opt, *_: rates.append(opt.param_groups[0]["lr"]))
        return optimizer

    monkeypatch.setattr("seq2seq.training.loop.make_optimizer", recording)
    cfg = TrainConfig(epochs=2, batch_size=4, learning_rate=0.01, lr_schedule="cosine", **PLAIN_TRAIN)
    model = build_model(TINY_ENC, TINY_DEC, len(SOURCE), len(TARGET))
    result = fit(model, EXAMPLES + EXAMPLES, ScoringSet.from_pairs(PAIRS[:2], SOURCE, TARGET), TARGET, cfg,
                 torch.device("cpu"), 8)
    n = len(bucketed_chunks(EXAMPLES + EXAMPLES, 4, torch.Generator().manual_seed(0)))
    expected = [0.01 * (1 + math.cos(math.pi * (e + k / n) / 2)) / 2 for e in (0, 1) for k in range(n)]
    assert n >= 3 and rates == pytest.approx(expected, abs=1e-12)
    assert [row["learning_rate"] for row in result.history] == pytest.approx([0.01, 0.005])


def test_bf16_runs_the_products_in_bfloat16_and_still_learns():
    model = build_model(TINY_ENC, DecoderConfig(embedding_size=32, hidden_size=32, dropout=0.0, attention="general",
                                                input_feeding=True, tie_embeddings=True),
                        len(SOURCE), len(TARGET))
    batch = collate(EXAMPLES, list(range(len(EXAMPLES))))
    for precision, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        with autocast(torch.device("cpu"), precision):
            assert model(batch.src, batch.src_lengths, batch.tgt_in).dtype == dtype
    cfg = TrainConfig(epochs=1, batch_size=len(EXAMPLES), learning_rate=0.01, precision="bf16", **PLAIN_TRAIN)
    optimizer, gen = make_optimizer(model, cfg), torch.Generator().manual_seed(0)
    losses = [train_epoch(model, EXAMPLES, cfg, optimizer, generator=gen, device=torch.device("cpu"), desc="bf16",
                          progress=False) for _ in range(60)]
    assert losses[-1] < losses[0] / 4  # bfloat16 products, float32 weights: it learns the pairs all the same
    assert all(p.dtype == torch.float32 for p in model.parameters())


def test_training_pairs_cut_anew_each_epoch_with_bpe_dropout_and_repeat_by_seed():
    french = [s for s, _ in PAIRS] * 4
    english = [t for _, t in PAIRS] * 4
    source, target = Vocab.build_pieces(french, 40), Vocab.build_pieces(english, 40)
    pairs = list(zip(french, english))
    plain = TrainingPairs(pairs, source, target)
    assert plain.epoch(1) == plain.epoch(2) == encode_pairs(pairs, source, target)
    sampled = TrainingPairs(pairs, source, target, subword_dropout=0.4, seed=3)
    one, two = sampled.epoch(1), sampled.epoch(2)
    assert one != two and one == TrainingPairs(pairs, source, target, 0.4, 3).epoch(1)
    assert one != TrainingPairs(pairs, source, target, 0.4, 4).epoch(1)
    # Each example still reads as its pair, ends in <eos>, and both sides were sampled.
    for (src, tgt), (s, t) in zip(one, pairs):
        assert src[-1] == EOS_ID and tgt[-1] == EOS_ID
        assert source.join(source.decode(src)) == s and target.join(target.decode(tgt)) == t
    assert any(a[0] != b[0] for a, b in zip(one, plain.epoch(1)))
    assert any(a[1] != b[1] for a, b in zip(one, plain.epoch(1)))
    with pytest.raises(UserError, match=r"train.subword_dropout is 0.1.*whole words.*vocab.type=bpe"):
        TrainingPairs(PAIRS, SOURCE, TARGET, subword_dropout=0.1)


def test_extra_pairs_come_in_turn_all_before_any_twice_and_repeat_by_seed():
    pairs, extra = PAIRS[:2], PAIRS[2:]  # 4 extra pairs, 3 per epoch
    drawn = TrainingPairs(pairs, SOURCE, TARGET, seed=5, extra=extra, extra_per_epoch=3)
    one, two, three = (drawn.extra_pairs(e) for e in (1, 2, 3))
    assert len(one) == len(two) == 3 and sorted(one + two[:1]) == sorted(extra)  # all four before a repeat
    assert (one + two + three)[4:8] == (one + two + three)[:4]  # the same order, round again
    assert drawn.epoch(1) == encode_pairs(pairs + one, SOURCE, TARGET)
    assert TrainingPairs(pairs, SOURCE, TARGET, seed=5, extra=extra, extra_per_epoch=3).extra_pairs(2) == two
    assert len({tuple(TrainingPairs(pairs, SOURCE, TARGET, seed=s, extra=extra, extra_per_epoch=4).extra_pairs(1))
                for s in range(10)}) > 1
    every = TrainingPairs(pairs, SOURCE, TARGET, extra=extra, extra_per_epoch=50)
    assert sorted(every.extra_pairs(1)) == sorted(every.extra_pairs(2)) == sorted(extra)
    assert TrainingPairs(pairs, SOURCE, TARGET, extra=extra).epoch(1) == encode_pairs(pairs, SOURCE, TARGET)
    # BPE-dropout cuts the epoch's extra pairs too.
    french, english = [s for s, _ in PAIRS] * 4, [t for _, t in PAIRS] * 4
    source, target = Vocab.build_pieces(french, 40), Vocab.build_pieces(english, 40)
    sampled = TrainingPairs(pairs, source, target, 0.4, 5, extra, 3)
    examples = sampled.epoch(1)
    assert [(source.join(source.decode(s)), target.join(target.decode(t))) for s, t in examples] == pairs + one


def test_extra_pairs_sharing_a_validation_sentence_are_left_out(caplog):
    from seq2seq.training.distributed import SINGLE
    from seq2seq.training.trainer import usable_extra

    valid = [("il est ici .", "he is here .")]
    extra = [("il est ici .", "he s around ."), ("va !", "go ."), ("tu vas bien ?", "he is here .")]
    assert usable_extra(extra, valid, TrainConfig(extra_per_epoch=2), SINGLE) == [("va !", "go .")]
    assert "unused" not in caplog.text
    usable_extra(extra, valid, TrainConfig(extra_per_epoch=0), SINGLE)
    assert "3 extra training pairs (split.extra_fraction) go unused, as train.extra_per_epoch is 0" in caplog.text


def test_weight_average_follows_its_formula_and_swaps_weights_in_and_out():
    layer = torch.nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        layer.weight.fill_(1.0)
    average = WeightAverage(layer, decay=0.3)
    # By hand: decays min(0.3, (1 + n) / (10 + n)) = 2/11, 3/12, then 0.3 (not 4/13, 5/14) for n = 1 to 4.
    expected = 1.0
    for value, decay in ((3.0, 2 / 11), (5.0, 3 / 12), (2.0, 0.3), (7.0, 0.3)):
        with torch.no_grad():
            layer.weight.fill_(value)
        average.update()
        expected = decay * expected + (1 - decay) * value
    assert average.shadows[0].item() == pytest.approx(expected, rel=1e-6)
    with average.swapped_in():
        assert layer.weight.item() == pytest.approx(expected, rel=1e-6)
    assert layer.weight.item() == 7.0


def test_ema_keeps_the_average_and_leaves_the_training_itself_alone():
    def run(ema: float) -> tuple[dict, dict, list[dict]]:
        torch.manual_seed(0)
        model = build_model(TINY_ENC, TINY_DEC, len(SOURCE), len(TARGET))
        cfg = TrainConfig(epochs=3, batch_size=2, learning_rate=0.01, **{**PLAIN_TRAIN, "ema_decay": ema})
        result = fit(model, EXAMPLES, ScoringSet.from_pairs(PAIRS[:2], SOURCE, TARGET), TARGET, cfg,
                     torch.device("cpu"), 8)
        return result.best_state, model.state_dict(), result.history

    kept, raw, history = run(0.95)
    plain_kept, plain_raw, plain_history = run(0.0)
    # The raw weights trained exactly as without the average: it only watches them.
    assert all(torch.equal(raw[k], plain_raw[k]) for k in raw)
    assert [r["train_loss"] for r in history] == [r["train_loss"] for r in plain_history]
    # What is validated and kept is the average, not the final raw weights.
    assert not all(torch.equal(kept[k], raw[k]) for k in kept)
    model = build_model(TINY_ENC, TINY_DEC, len(SOURCE), len(TARGET))
    model.load_state_dict(kept)
    scores = evaluate_model(model, ScoringSet.from_pairs(PAIRS[:2], SOURCE, TARGET), TARGET, 256, 8,
                            torch.device("cpu")).metrics
    best = max(history, key=lambda r: (r["valid_bleu"], -r["valid_loss"]))
    assert scores["loss"] == best["valid_loss"] and scores["bleu"] == best["valid_bleu"]


def test_fit_with_bpe_dropout_trains_on_each_epoch_s_cut_and_repeats_by_seed():
    french, english = [s for s, _ in PAIRS] * 4, [t for _, t in PAIRS] * 4
    source, target = Vocab.build_pieces(french, 40), Vocab.build_pieces(english, 40)
    pairs = list(zip(french, english))

    def run(dropout: float, seed: int = 0) -> dict:
        torch.manual_seed(0)
        model = build_model(TINY_ENC, TINY_DEC, len(source), len(target))
        cfg = TrainConfig(epochs=2, batch_size=4, subword_dropout=dropout, **PLAIN_TRAIN)
        fit(model, TrainingPairs(pairs, source, target, dropout, seed),
            ScoringSet.from_pairs(pairs[:2], source, target), target, cfg, torch.device("cpu"), 8)
        return model.state_dict()

    plain, sampled = run(0.0), run(0.4)
    assert not all(torch.equal(plain[k], sampled[k]) for k in plain)  # it trained on other pieces
    again, other = run(0.4), run(0.4, seed=1)
    assert all(torch.equal(sampled[k], again[k]) for k in sampled)
    assert not all(torch.equal(sampled[k], other[k]) for k in sampled)
    # Without dropout, TrainingPairs trains exactly as the fixed examples do.
    torch.manual_seed(0)
    model = build_model(TINY_ENC, TINY_DEC, len(source), len(target))
    fit(model, encode_pairs(pairs, source, target), ScoringSet.from_pairs(pairs[:2], source, target), target,
        TrainConfig(epochs=2, batch_size=4, **PLAIN_TRAIN), torch.device("cpu"), 8)
    assert all(torch.equal(plain[k], v) for k, v in model.state_dict().items())
