"""The training loop (`seq2seq.training.loop`): a tiny model learns its pairs by heart for every
architecture, runs repeat by seed, word dropout, patience and the best epoch kept, clipping, the
schedules applied per update, bfloat16, and BPE-dropout's new cut each epoch."""

import math

import pytest
import torch

from seq2seq.config import DecoderConfig, TrainConfig
from seq2seq.data.batching import TrainingPairs, bucketed_chunks, collate, encode_pairs
from seq2seq.data.vocab import EOS_ID, PAD_ID, UNK_ID, Vocab
from seq2seq.device import autocast
from seq2seq.errors import UserError
from seq2seq.evaluation.scoring import ScoringSet
from seq2seq.inference.translate import translate_ids
from seq2seq.model.factory import build_model
from seq2seq.model.seq2seq import Seq2Seq
from seq2seq.training.loop import drop_words, fit, shard_batch, train_epoch
from seq2seq.training.optim import make_optimizer
from tests.conftest import EXAMPLES, PAIRS, PLAIN_TRAIN, SOURCE, TARGET, TINY_DEC, TINY_ENC, overfit


def overfit_model(enc: dict, attention: str = "general", **dec) -> tuple[Seq2Seq, float]:
    """The shared tiny model on PAIRS with these encoder settings, attention and decoder settings."""
    return overfit(enc=enc, dec={"attention": attention, **dec})


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

