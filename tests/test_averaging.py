"""The weight average (`seq2seq.training.averaging`): its formula by hand, and in training it only
watches the weights while what is validated and kept is the average."""

import pytest
import torch

from seq2seq.config import TrainConfig
from seq2seq.evaluation.scoring import ScoringSet, evaluate_model
from seq2seq.model.factory import build_model
from seq2seq.training.averaging import WeightAverage
from seq2seq.training.loop import fit
from tests.conftest import EXAMPLES, PAIRS, PLAIN_TRAIN, SOURCE, TARGET, TINY_DEC, TINY_ENC


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

