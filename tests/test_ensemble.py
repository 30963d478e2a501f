"""Ensembles: the models' log-probabilities averaged at every step, in greedy and beam search, each
model with its own state; one model is exactly itself; checkpoints that disagree are refused."""

from __future__ import annotations

import itertools

import pytest
import torch

from seq2seq.checkpoint import load_checkpoint, save_checkpoint
from seq2seq.data.vocab import EOS_ID, SOS_ID, Vocab
from seq2seq.errors import UserError
from seq2seq.inference.ensemble import Ensemble, load_models
from seq2seq.inference.search import search
from seq2seq.model.seq2seq import ModelSettings, Seq2Seq
from tests.conftest import PAIRS, SOURCE, TARGET, overfit

TEXT = {"direction": "fra-eng", "max_length": 6, "keep_accents": False, "keep_apostrophes": False}
SRC = torch.tensor([[5, 6, 7, 2], [8, 9, 2, 0]])
LENGTHS = torch.tensor([4, 3])


def model(seed: int, **overrides) -> Seq2Seq:
    """A tiny untrained model with a sharpened output layer (clear choices), attention and input feeding."""
    torch.manual_seed(seed)
    base = dict(source_vocab_size=12, target_vocab_size=7, enc_embedding_size=6, enc_hidden_size=8,
                enc_num_layers=1, enc_dropout=0.0, bidirectional=False, dec_embedding_size=5, dec_hidden_size=8,
                dec_num_layers=1, dec_dropout=0.0, attention="general", input_feeding=True)
    net = Seq2Seq(ModelSettings(**{**base, **overrides})).eval()
    with torch.no_grad():
        net.decoder.out.weight.mul_(3.0)
    return net


def mean_log_probs(models, src, lengths, sequences) -> torch.Tensor:
    """Per sequence (n,) of one source, the sum over its tokens of the log of the models' normalised
    geometric mean (their mean log-probability, renormalised over the vocabulary), each model
    teacher-forced on its own (a code path apart from `step`)."""
    tgt = torch.tensor(sequences)
    tgt_in = torch.cat([torch.full((len(sequences), 1), SOS_ID), tgt[:, :-1]], dim=1)
    with torch.no_grad():
        per_model = [m(src.expand(len(sequences), -1), lengths.expand(len(sequences)), tgt_in).log_softmax(-1)
                     for m in models]
    return torch.stack(per_model).mean(0).log_softmax(-1).gather(2, tgt.unsqueeze(2)).squeeze(2).sum(1)


def test_one_model_is_exactly_itself():
    net = model(0)
    alone = Ensemble([net])
    assert torch.equal(search(alone, SRC, LENGTHS, 6).tokens, search(net, SRC, LENGTHS, 6).tokens)
    a, b = (search(m, SRC, LENGTHS, 6, 4, 1.0, n_best=4) for m in (net, alone))
    assert torch.equal(a.tokens, b.tokens) and torch.allclose(a.scores, b.scores)


def test_greedy_follows_the_mean_log_probability_of_models_with_their_own_states():
    # Two different models (one bidirectional, one without input feeding): their states differ in
    # kind, so each must carry its own.
    models = [model(1), model(2, bidirectional=True, input_feeding=False)]
    ids = search(Ensemble(models), SRC, LENGTHS, 5).tokens[:, 0]
    for i in range(SRC.size(0)):
        # The argmax chain by hand: at each step every model reads the tokens chosen so far.
        src, length, chosen = SRC[i:i + 1], LENGTHS[i:i + 1], []
        for _ in range(ids.size(1)):
            tgt_in = torch.tensor([[SOS_ID] + chosen])
            with torch.no_grad():
                logp = torch.stack([m(src, length, tgt_in)[0, -1].log_softmax(-1) for m in models]).mean(0)
            chosen.append(int(logp.argmax()))
            if chosen[-1] == EOS_ID:
                break
        assert ids[i, :len(chosen)].tolist() == chosen


def test_a_beam_holding_every_candidate_finds_the_ensemble_s_exhaustive_best():
    models = [model(3), model(4)]
    vocab, max_len = 7, 3
    found = search(Ensemble(models), SRC, LENGTHS, max_len, vocab * (vocab - 1) ** (max_len - 1), 1.0)
    others = [t for t in range(vocab) if t != EOS_ID]
    for i in range(SRC.size(0)):
        candidates = [(*body, EOS_ID) for n in range(max_len) for body in itertools.product(others, repeat=n)]
        scores = [mean_log_probs(models, SRC[i:i + 1], LENGTHS[i:i + 1], [c]).item() / len(c) for c in candidates]
        best = max(range(len(candidates)), key=scores.__getitem__)
        row = found.tokens[i, 0].tolist()
        assert tuple(row[:row.index(EOS_ID) + 1]) == candidates[best]
        assert found.scores[i, 0].item() == pytest.approx(scores[best], abs=1e-5)


def test_ensemble_attention_is_the_mean_of_its_models():
    models = [model(5), model(6)]
    tgt_in = torch.tensor([[SOS_ID, 4, 5], [SOS_ID, 6, 4]])
    mean = torch.stack([m.alignments(SRC, LENGTHS, tgt_in) for m in models]).mean(0)
    assert torch.allclose(Ensemble(models).alignments(SRC, LENGTHS, tgt_in), mean)
    assert Ensemble([models[0], model(7, attention="none")]).alignments(SRC, LENGTHS, tgt_in) is None


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("ensemble") / "a.pt"
    save_checkpoint(path, overfit(epochs=2)[0], SOURCE, TARGET, TEXT)
    return path


def test_load_models_gives_one_model_alone_and_an_ensemble_of_several(checkpoint):
    assert isinstance(load_models([checkpoint]).model, Seq2Seq)
    both = load_models([checkpoint, checkpoint])
    assert isinstance(both.model, Ensemble) and len(both.model.members) == 2
    assert both.source.itos == SOURCE.itos and both.text == TEXT


def test_checkpoints_that_disagree_are_refused_naming_the_difference(checkpoint, tmp_path):
    net = load_checkpoint(checkpoint).model
    other_target = Vocab.build([t for _, t in PAIRS] + ["i am hungry ."])
    other = overfit(PAIRS, SOURCE, other_target, epochs=1)[0]
    save_checkpoint(tmp_path / "vocab.pt", other, SOURCE, other_target, TEXT)
    with pytest.raises(UserError, match=rf"{checkpoint} and .*vocab.pt cannot decode together: their target "
                                        rf"vocabularies differ \({len(TARGET)} and {len(other_target)} tokens\)"):
        load_models([checkpoint, tmp_path / "vocab.pt"])
    save_checkpoint(tmp_path / "text.pt", net, SOURCE, TARGET, {**TEXT, "max_length": 8})
    with pytest.raises(UserError, match=r"their text settings differ in max_length \(6 and 8\)"):
        load_models([checkpoint, tmp_path / "text.pt"])


def test_the_teacher_forced_loss_scores_the_distribution_search_decodes_from():
    models = [model(8), model(9)]
    tgt_in, chosen = torch.tensor([[SOS_ID, 4, 5], [SOS_ID, 6, 4]]), torch.tensor([[4, 5, 2], [6, 4, 2]])
    logp = Ensemble(models)(SRC, LENGTHS, tgt_in).log_softmax(-1).gather(2, chosen.unsqueeze(2)).sum((1, 2))
    for i in range(2):
        expected = mean_log_probs(models, SRC[i:i + 1], LENGTHS[i:i + 1], [tuple(chosen[i].tolist())])
        assert logp[i].item() == pytest.approx(expected.item(), abs=1e-5)
