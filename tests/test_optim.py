"""Optimizers and learning-rate schedules (`seq2seq.training.optim`): plateau, step decay, warm-up
and cosine, each rate by hand."""

import pytest

from seq2seq.config import TrainConfig
from seq2seq.model.factory import build_model
from seq2seq.training.optim import UpdateRate, make_optimizer, make_scheduler, step_scheduler
from tests.conftest import SOURCE, TARGET, TINY_DEC, TINY_ENC


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

