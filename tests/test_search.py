"""Search, through its one entry point `search`: greedy at beam 1 equal to beam search of one,
exhaustive search when the beam holds everything, finished hypotheses left alone, batches equal to
single sentences and the n-best (`translate_ids` and `seq2seq translate --beam`: test_translate.py)."""

import itertools
from dataclasses import dataclass

import pytest
import torch

from seq2seq.config import TrainConfig
from seq2seq.data.batching import encode_pairs, pad_sources
from seq2seq.data.vocab import EOS_ID, PAD_ID, SOS_ID, Vocab
from seq2seq.inference.search import _beam, search
from seq2seq.model.seq2seq import ModelSettings, Seq2Seq
from seq2seq.training.loop import train_epoch
from seq2seq.training.optim import make_optimizer
from tests.conftest import PLAIN_TRAIN

CONFIGS = [
    {"attention": "none"},
    {"attention": "general"},
    {"attention": "bahdanau", "bidirectional": True},
    {"attention": "general", "input_feeding": True},
    {"attention": "dot", "input_feeding": True, "dec_embedding_size": 8, "tie_embeddings": True},
    {"attention": "bahdanau", "input_feeding": True, "bidirectional": True, "enc_num_layers": 2,
     "dec_num_layers": 2},
]
SRC = torch.tensor([[5, 6, 7, 8, 2], [9, 2, PAD_ID, PAD_ID, PAD_ID], [10, 11, 2, PAD_ID, PAD_ID]])
LENGTHS = torch.tensor([5, 2, 3])


def best_ids(model, src: torch.Tensor, lengths: torch.Tensor, max_len: int, beam: int = 1, penalty: float = 1.0,
         min_len: int = 0) -> torch.Tensor:
    """The best translation of each sentence, ids (batch, <= max_len)."""
    return search(model, src, lengths, max_len, beam, penalty, min_len=min_len).tokens[:, 0]


def random_model(seed: int, target_vocab_size: int = 9, sharpness: float = 4.0, eos_bias: float = 0.0,
                 **overrides) -> Seq2Seq:
    """A tiny untrained model; `sharpness` scales the output layer so that its choices are clear (no
    near-ties between float paths), `eos_bias` makes `<eos>` likelier."""
    torch.manual_seed(seed)
    base = dict(source_vocab_size=12, target_vocab_size=target_vocab_size, enc_embedding_size=6,
                enc_hidden_size=8, enc_num_layers=1, enc_dropout=0.0, bidirectional=False,
                dec_embedding_size=5, dec_hidden_size=8, dec_num_layers=1, dec_dropout=0.0, attention="none")
    model = Seq2Seq(ModelSettings(**{**base, **overrides})).eval()
    with torch.no_grad():
        model.decoder.out.weight.mul_(sharpness)
        model.decoder.out.bias.mul_(sharpness)
        model.decoder.out.bias[EOS_ID] += eos_bias
    return model


def assert_padded_after_eos(ids: torch.Tensor) -> None:
    """Each row (batch, steps) holds nothing but padding after its first `<eos>`."""
    for row in ids.tolist():
        if EOS_ID in row:
            assert set(row[row.index(EOS_ID) + 1:]) <= {PAD_ID}, row


@pytest.mark.parametrize("overrides", CONFIGS)
def test_beam_of_one_is_greedy(overrides):
    ended, cut = 0, 0
    for seed in range(6):
        model = random_model(seed, eos_bias=seed, **overrides)
        for min_len in (0, 3):
            greedy = best_ids(model, SRC, LENGTHS, 6, min_len=min_len)
            for penalty in (0.0, 1.0):
                # `search` never runs beam search at beam 1: called directly, it must agree.
                beam = _beam(model, SRC, LENGTHS, 6, 1, penalty, 1, min_len).tokens[:, 0]
                assert torch.equal(beam, greedy)
                assert torch.equal(best_ids(model, SRC, LENGTHS, 6, 1, penalty, min_len), greedy)
            rows = greedy.tolist()
            ended += sum(EOS_ID in r for r in rows)
            cut += sum(EOS_ID not in r and len(r) == 6 for r in rows)
    assert ended and cut  # both endings were compared: at `<eos>` and at max_len


def sequence_log_probs(model: Seq2Seq, src: torch.Tensor, length: torch.Tensor,
                       sequences: list[tuple[int, ...]]) -> torch.Tensor:
    """Summed log-probabilities (n,) of equally long `sequences` for one source (1, src_len),
    teacher-forced: a code path apart from `step`."""
    tgt = torch.tensor(sequences)  # (n, steps)
    tgt_in = torch.cat([torch.full((len(sequences), 1), SOS_ID), tgt[:, :-1]], dim=1)
    with torch.no_grad():
        logits = model(src.expand(len(sequences), -1), length.expand(len(sequences)), tgt_in)
    return logits.log_softmax(-1).gather(2, tgt.unsqueeze(2)).squeeze(2).sum(1)


TINY_PAIRS = [("oui .", "yes"), ("non .", "no"), ("oui oui .", "yes yes"), ("non merci .", "no thanks"),
              ("merci .", "thanks"), ("oui merci .", "yes thanks")]


def half_trained_model(overrides: dict) -> tuple[Seq2Seq, torch.Tensor, torch.Tensor]:
    """A tiny model after 20 steps on TINY_PAIRS (target vocabulary of 7: the 4 specials, yes, no,
    thanks), unsure enough that search matters; with the padded sources and their lengths."""
    source, target = Vocab.build(s for s, _ in TINY_PAIRS), Vocab.build(t for _, t in TINY_PAIRS)
    model = random_model(0, len(target), sharpness=1.0, source_vocab_size=len(source), **overrides)
    examples = encode_pairs(TINY_PAIRS, source, target)
    cfg = TrainConfig(batch_size=len(examples), learning_rate=0.03, **PLAIN_TRAIN)
    optimizer, gen = make_optimizer(model, cfg), torch.Generator().manual_seed(0)
    for _ in range(20):
        train_epoch(model, examples, cfg, optimizer, generator=gen, device=torch.device("cpu"), desc="tiny",
                    progress=False)
    return (model.eval(), *pad_sources([s for s, _ in examples]))


def exhaustive_best(model: Seq2Seq, src: torch.Tensor, length: torch.Tensor, max_len: int,
                    penalty: float) -> tuple[float, tuple[int, ...]]:
    """The best normalised score and its sequence over every output of one source (1, src_len)
    that ends with `<eos>` within max_len tokens (before it, any token but `<eos>`)."""
    others = [t for t in range(model.settings.target_vocab_size) if t != EOS_ID]
    best_score, best = float("-inf"), ()
    for n in range(max_len):
        sequences = [(*body, EOS_ID) for body in itertools.product(others, repeat=n)]
        scores = sequence_log_probs(model, src, length, sequences) / (n + 1) ** penalty
        if scores.max() > best_score:
            best_score, best = scores.max().item(), sequences[int(scores.argmax())]
    return best_score, best


@pytest.mark.parametrize("overrides", CONFIGS[:4])
def test_a_beam_holding_every_candidate_finds_the_exhaustive_best(overrides):
    model, src, lengths = half_trained_model(overrides)
    vocab, max_len = model.settings.target_vocab_size, 4
    # Every candidate of every step fits in the beam (at most vocab * (vocab - 1) ** (max_len - 1)
    # at the last step), so nothing is pruned: beam search must equal exhaustive search.
    beam = vocab * (vocab - 1) ** (max_len - 1)
    longer = 0
    for penalty in (0.0, 1.0):
        found = best_ids(model, src, lengths, max_len, beam, penalty)
        for i in range(src.size(0)):
            best_score, best = exhaustive_best(model, src[i:i + 1], lengths[i:i + 1], max_len, penalty)
            row = found[i].tolist()
            mine = tuple(row[:row.index(EOS_ID) + 1])
            score = sequence_log_probs(model, src[i:i + 1], lengths[i:i + 1], [mine]) / len(mine) ** penalty
            assert abs(score.item() - best_score) < 1e-5 and mine == best
            longer += len(best) > 2
    assert longer  # not only the shortest outputs were compared


@dataclass
class ToyState:
    sentence: torch.Tensor  # (rows,): which sentence's table each hypothesis reads
    previous: torch.Tensor  # (rows,): the token before the one being fed

    def select(self, index: torch.Tensor) -> "ToyState":
        return ToyState(self.sentence.index_select(0, index), self.previous.index_select(0, index))


class ToyModel:
    """A stand-in with the search interface whose next-token probabilities depend on the sentence
    and the last two tokens, probs (batch, vocab, vocab, vocab), so every score is known. The token
    before last lives in the state: a search that did not reorder the state would read wrong ones."""

    def __init__(self, probs: torch.Tensor):
        self.log_probs = (probs / probs.sum(-1, keepdim=True)).log()

    def encode(self, src: torch.Tensor, src_lengths: torch.Tensor) -> tuple[ToyState, None]:
        return ToyState(torch.arange(src.size(0)), torch.full((src.size(0),), SOS_ID)), None

    def step(self, token: torch.Tensor, state: ToyState, memory: None) -> tuple[torch.Tensor, ToyState, None]:
        return self.log_probs[state.sentence, state.previous, token], ToyState(state.sentence, token), None


def toy_probs(batch: int, vocab: int = 8) -> torch.Tensor:
    """Small distinct weights everywhere (no ties), to be raised where a test wants."""
    return 0.01 + 0.01 * torch.rand(batch, vocab, vocab, vocab, generator=torch.Generator().manual_seed(0))


def test_beam_search_finds_the_path_greedy_misses():
    a, b, c = 4, 5, 6
    probs = toy_probs(1)
    probs[0, SOS_ID, SOS_ID, a], probs[0, SOS_ID, SOS_ID, b] = 0.5, 0.4  # a first looks best...
    probs[0, SOS_ID, b, c], probs[0, b, c, EOS_ID] = 0.9, 0.9  # ...but b c <eos> is likelier
    model, src, lengths = ToyModel(probs), torch.tensor([[4, 2]]), torch.tensor([2])
    greedy = best_ids(model, src, lengths, 5)
    assert greedy[0, 0] == a and torch.equal(_beam(model, src, lengths, 5, 1, 1.0, 1, 0).tokens[:, 0], greedy)
    for penalty in (0.0, 1.0):
        assert best_ids(model, src, lengths, 5, 2, penalty).tolist() == [[b, c, EOS_ID]]


def test_an_ending_that_ranked_second_at_its_step_can_win():
    a, b = 4, 5
    probs = toy_probs(1)
    probs[0, SOS_ID, SOS_ID, a], probs[0, SOS_ID, a, b], probs[0, SOS_ID, a, EOS_ID] = 0.9, 0.5, 0.4
    model, src, lengths = ToyModel(probs), torch.tensor([[4, 2]]), torch.tensor([2])
    # a b outranks a <eos> at step 2, but every continuation of a b is unlikely.
    assert best_ids(model, src, lengths, 5)[0, :2].tolist() == [a, b]
    for penalty in (0.0, 1.0):
        assert best_ids(model, src, lengths, 5, 2, penalty).tolist() == [[a, EOS_ID]]


def test_the_length_penalty_decides_between_a_short_and_a_long_ending():
    a, b, c, d = 4, 5, 6, 7
    probs = toy_probs(1)
    probs[0, SOS_ID, SOS_ID, a], probs[0, SOS_ID, SOS_ID, b] = 0.6, 0.35
    probs[0, SOS_ID, a, EOS_ID] = 0.4  # a <eos>: the likelier sequence
    probs[0, SOS_ID, b, c], probs[0, b, c, d], probs[0, c, d, EOS_ID] = 0.97, 0.97, 0.97  # b c d <eos>
    model, src, lengths = ToyModel(probs), torch.tensor([[4, 2]]), torch.tensor([2])  # has the better mean
    assert best_ids(model, src, lengths, 5, 2, 0.0).tolist() == [[a, EOS_ID]]
    # a <eos> ends first; b c is already less likely, yet the search must go on to find b c d <eos>.
    assert best_ids(model, src, lengths, 5, 2, 1.0).tolist() == [[b, c, d, EOS_ID]]


def test_a_hypothesis_that_ended_early_is_returned_as_it_ended():
    a, b, c, d = 4, 5, 6, 7
    probs = toy_probs(2)
    # Sentence 0: <sos> -> a (0.6) -> <eos> (0.9). After <eos>, <eos> again is almost certain: a
    # search that went on extending ended hypotheses would find a longer, better-scoring one.
    probs[0, :, SOS_ID, a], probs[0, :, SOS_ID, b], probs[0, :, a, EOS_ID] = 0.6, 0.3, 0.9
    probs[0, :, EOS_ID, EOS_ID], probs[0, :, b, b] = 10.0, 0.5
    # Sentence 1: c again and again, <eos> never likely enough to enter the beam.
    probs[1, :, :, c], probs[1, :, :, d] = 0.8, 0.15
    model = ToyModel(probs)
    src, lengths = torch.tensor([[4, 2], [5, 2]]), torch.tensor([2, 2])
    for penalty in (0.0, 1.0):
        out = best_ids(model, src, lengths, 5, 2, penalty)
        assert out.tolist() == [[a, EOS_ID, PAD_ID, PAD_ID, PAD_ID], [c, c, c, c, c]]


@pytest.mark.parametrize("overrides", CONFIGS[:4])
def test_rows_hold_only_padding_after_eos(overrides):
    model, src, lengths = half_trained_model(overrides)
    for beam, penalty in itertools.product((2, 5), (0.0, 1.0)):
        out = best_ids(model, src, lengths, 8, beam, penalty)
        assert_padded_after_eos(out)
        assert (out[:, -1] == PAD_ID).any()  # some rows ended before others, and stayed ended


@pytest.mark.parametrize("overrides", [CONFIGS[0], CONFIGS[2], CONFIGS[5]])
@pytest.mark.parametrize("penalty", [0.0, 1.0])
def test_a_batch_decodes_as_its_sentences_alone(overrides, penalty):
    model = random_model(3, **overrides)
    together = best_ids(model, SRC, LENGTHS, 7, 3, penalty)
    for i in range(SRC.size(0)):
        n = int(LENGTHS[i])
        alone = best_ids(model, SRC[i:i + 1, :n], LENGTHS[i:i + 1], 7, 3, penalty)[0]
        assert torch.equal(together[i, :alone.size(0)], alone)
        assert (together[i, alone.size(0):] == PAD_ID).all()


def test_invalid_beam_settings_are_refused():
    model = random_model(0)
    with pytest.raises(ValueError, match="beam_size"):
        search(model, SRC, LENGTHS, 5, 0)
    with pytest.raises(ValueError, match="n_best"):
        search(model, SRC, LENGTHS, 5, 2, n_best=3)
    with pytest.raises(ValueError, match="length_penalty"):
        search(model, SRC, LENGTHS, 5, 2, -0.5)


def exhaustive_ranking(model, src: torch.Tensor, length: torch.Tensor, max_len: int,
                       penalty: float) -> list[tuple[float, tuple[int, ...]]]:
    """Every output of one source ending with `<eos>` within max_len tokens, with its normalised
    score, best first (teacher-forced, apart from search)."""
    others = [t for t in range(model.settings.target_vocab_size) if t != EOS_ID]
    ranked = []
    for n in range(max_len):
        sequences = [(*body, EOS_ID) for body in itertools.product(others, repeat=n)]
        scores = sequence_log_probs(model, src, length, sequences) / (n + 1) ** penalty
        ranked += zip(scores.tolist(), sequences)
    return sorted(ranked, key=lambda item: -item[0])


@pytest.mark.parametrize("overrides", CONFIGS[:4:3])
def test_the_n_best_of_a_beam_holding_every_candidate_are_the_exhaustive_n_best(overrides):
    model, src, lengths = half_trained_model(overrides)
    vocab, max_len, n = model.settings.target_vocab_size, 4, 3
    beam = vocab * (vocab - 1) ** (max_len - 1)  # nothing is pruned (as above)
    for penalty in (0.0, 1.0):
        found = search(model, src, lengths, max_len, beam, penalty, n_best=n)
        assert found.tokens.shape[:2] == (src.size(0), n)
        for i in range(src.size(0)):
            expected = exhaustive_ranking(model, src[i:i + 1], lengths[i:i + 1], max_len, penalty)[:n]
            rows = [tuple(r[:r.index(EOS_ID) + 1]) for r in found.tokens[i].tolist()]
            assert rows == [seq for _, seq in expected]
            assert found.scores[i].tolist() == pytest.approx([score for score, _ in expected], abs=1e-5)
        # The best of the n is what beam search returns alone.
        alone = best_ids(model, src, lengths, max_len, beam, penalty)
        assert torch.equal(found.tokens[:, 0, :alone.size(1)], alone)


def test_greedy_scores_are_the_log_probability_of_its_output_over_its_length():
    model, src, lengths = half_trained_model({"attention": "general"})
    for penalty in (0.0, 1.0):
        found = search(model, src, lengths, 5, length_penalty=penalty)
        for i, row in enumerate(found.tokens[:, 0].tolist()):
            out = tuple(row[:row.index(EOS_ID) + 1]) if EOS_ID in row else tuple(row)
            expected = sequence_log_probs(model, src[i:i + 1], lengths[i:i + 1], [out]) / len(out) ** penalty
            assert found.scores[i, 0].item() == pytest.approx(expected.item(), abs=1e-5)
