import pytest
import torch

from seq2seq.config import DecoderConfig, EncoderConfig, TrainConfig
from seq2seq.data.batching import batches, bucketed_chunks, collate, encode_pairs
from seq2seq.data.vocab import Vocab
from seq2seq.decoding import greedy_translate
from seq2seq.errors import UserError
from seq2seq.evaluation import ScoringSet
from seq2seq.metrics import sequence_loss
from seq2seq.model.seq2seq import Seq2Seq
from seq2seq.training import build_model, fit, train_epoch, make_optimizer

PAIRS = [("je suis froid .", "i am cold ."), ("tu es grand .", "you are tall ."),
         ("il est heureux .", "he is happy ."), ("nous sommes amis .", "we are friends ."),
         ("elle est ma soeur .", "she is my sister ."), ("je suis medecin .", "i am a doctor .")]
SOURCE = Vocab.build(s for s, _ in PAIRS)
TARGET = Vocab.build(t for _, t in PAIRS)
EXAMPLES = encode_pairs(PAIRS, SOURCE, TARGET)
TINY_ENC = EncoderConfig(embedding_size=16, hidden_size=32, dropout=0.0)
TINY_DEC = DecoderConfig(embedding_size=16, hidden_size=32, dropout=0.0)


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
    assert torch.equal(batch.tgt_in[:, 1:][batch.tgt_out[:, :-1] != 0], batch.tgt_out[:, :-1][batch.tgt_out[:, :-1] != 0])
    shuffled = [b.indices for b in batches(EXAMPLES, 4, torch.Generator().manual_seed(0))]
    assert sorted(i for chunk in shuffled for i in chunk) == list(range(len(EXAMPLES)))


def overfit_model(bidirectional: bool = False, attention: bool = True) -> tuple[Seq2Seq, float]:
    """A tiny model trained on PAIRS until it knows them by heart; returns it and its last loss."""
    torch.manual_seed(0)
    enc = EncoderConfig(embedding_size=16, hidden_size=32, dropout=0.0, bidirectional=bidirectional)
    dec = DecoderConfig(embedding_size=16, hidden_size=32, dropout=0.0, attention=attention)
    cfg = TrainConfig(epochs=1, batch_size=len(EXAMPLES), learning_rate=0.01)
    model = build_model(enc, dec, len(SOURCE), len(TARGET))
    optimizer, gen = make_optimizer(model, cfg), torch.Generator().manual_seed(0)
    for _ in range(150):
        loss = train_epoch(model, EXAMPLES, cfg, optimizer, gen, torch.device("cpu"), "overfit")
    return model, loss


def test_bucketed_chunks_cover_every_pair_once_with_one_source_length_each():
    examples = [([4] * n + [2], [5, 2]) for n in (1, 2, 2, 3, 3, 3, 3, 3, 1, 2)]
    chunks = bucketed_chunks(examples, 2, torch.Generator().manual_seed(0))
    assert sorted(i for c in chunks for i in c) == list(range(len(examples)))
    assert all(len(c) <= 2 and len({len(examples[i][0]) for i in c}) == 1 for c in chunks)
    # lengths 1: 2 pairs, 2: 3 pairs, 3: 5 pairs -> 1 + 2 + 3 batches of at most 2
    assert len(chunks) == 6
    assert chunks == bucketed_chunks(examples, 2, torch.Generator().manual_seed(0))
    assert chunks != bucketed_chunks(examples, 2, torch.Generator().manual_seed(1))


@pytest.mark.parametrize("bidirectional, attention", [(False, False), (True, True)])
def test_tiny_model_overfits_and_decodes_exactly(bidirectional, attention):
    model, loss = overfit_model(bidirectional, attention)
    assert loss < 0.05
    decoded = greedy_translate(model, [s for s, _ in EXAMPLES], TARGET, 4, 10, torch.device("cpu"))
    assert [" ".join(t) for t in decoded] == [t for _, t in PAIRS]


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
        train_epoch(model, EXAMPLES, cfg, make_optimizer(model, cfg), torch.Generator(), torch.device("cpu"), "x")
