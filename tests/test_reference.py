"""The word-by-word reference (`seq2seq.model.reference`) computes what the fast batched model
computes: the same log-probabilities under teacher forcing and the same greedy translations, for
every option the params allow, on tiny trained models and on the pipeline's own checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from seq2seq.checkpoint import load_checkpoint, save_checkpoint
from seq2seq.data.batching import encode_pairs, encode_source, pad_sources
from seq2seq.data.vocab import EOS_ID, SOS_ID
from seq2seq.fileio import read_pairs
from seq2seq.inference.search import search
from seq2seq.model import reference
from seq2seq.model.seq2seq import Seq2Seq
from tests.conftest import PAIRS, REPO, SOURCE, TARGET, overfit, pipeline_file, seq2seq_cli

# Sources the tiny models never saw (word orders and lengths of their own), beside the six they learnt.
NOVEL = [("je suis heureux .", "i am happy ."), ("nous sommes grand froid medecin .", "we are tall ."),
         ("elle .", "she .")]

# Every option the encoder and decoder params allow, each on top of the plain tiny model (16/32 units).
OPTIONS = {
    "plain, general attention": ({}, {"attention": "general"}),
    "no attention": ({}, {"attention": "none"}),
    "dot attention": ({"hidden_size": 32}, {"attention": "dot"}),
    "bahdanau attention": ({}, {"attention": "bahdanau"}),
    "input feeding": ({}, {"attention": "general", "input_feeding": True}),
    "input feeding, bahdanau, two layers": ({"num_layers": 2}, {"attention": "bahdanau", "input_feeding": True,
                                                                "num_layers": 2}),
    "bidirectional (bridged)": ({"bidirectional": True}, {"attention": "general", "input_feeding": True}),
    "bidirectional, two layers into one": ({"bidirectional": True, "num_layers": 2}, {"attention": "dot",
                                                                                      "hidden_size": 64}),
    "reversed source": ({"reverse": True}, {"attention": "general"}),
    "reversed source, no attention": ({"reverse": True}, {"attention": "none"}),
    "one layer into two (bridged)": ({}, {"attention": "general", "num_layers": 2}),
    "a smaller encoder (bridged), input feeding": ({"hidden_size": 16}, {"attention": "general",
                                                                         "input_feeding": True}),
    "tied embeddings": ({}, {"attention": "general", "input_feeding": True, "embedding_size": 32,
                             "tie_embeddings": True}),
    "Joey NMT's biases and first cell": ({}, {"attention": "general", "input_feeding": True, "output_bias": False,
                                              "attentional_bias": True, "initial_cell": "hidden"}),
}


def teacher_forced_log_probs(model: Seq2Seq, pairs: list[tuple[list[int], list[int]]]) -> list[torch.Tensor]:
    """The fast model's log-probabilities (target_len, vocab) of each pair, all pairs in one padded batch."""
    src, lengths = pad_sources([s for s, _ in pairs])
    tgt_in, _ = pad_sources([[SOS_ID, *t[:-1]] for _, t in pairs])
    with torch.no_grad():
        log_probs = torch.log_softmax(model(src, lengths, tgt_in), dim=-1)
    return [log_probs[i, :len(t)] for i, (_, t) in enumerate(pairs)]


def fast_greedy(model: Seq2Seq, sources: list[list[int]], max_len: int) -> list[list[int]]:
    """The fast greedy search's translations of `sources`, batched, each cut after its `<eos>`."""
    src, lengths = pad_sources(sources)
    rows = search(model, src, lengths, max_len).tokens[:, 0].tolist()
    return [row[:row.index(EOS_ID) + 1] if EOS_ID in row else row for row in rows]


def assert_equal_models(model: Seq2Seq, pairs: list[tuple[list[int], list[int]]], max_len: int,
                        atol: float) -> None:
    """The reference and the fast model agree on `pairs`: log-probabilities within `atol` at every
    target position, and identical greedy translations of the sources."""
    model.eval()
    for (src, tgt), fast in zip(pairs, teacher_forced_log_probs(model, pairs)):
        with torch.no_grad():
            slow = torch.stack([step.log_probs for step in reference.teacher_forced(model, src, tgt)])
        assert slow.shape == fast.shape
        torch.testing.assert_close(slow, fast, atol=atol, rtol=0.0)
    sources = [s for s, _ in pairs]
    assert [reference.translate(model, s, max_len) for s in sources] == fast_greedy(model, sources, max_len)


@pytest.mark.parametrize("option", OPTIONS)
def test_the_reference_computes_what_the_fast_model_computes(option):
    enc, dec = OPTIONS[option]
    model, loss = overfit(epochs=40, enc=enc, dec=dec)
    assert loss < 1.0  # trained: it has learnt something of the pairs
    assert_equal_models(model, encode_pairs(PAIRS + NOVEL, SOURCE, TARGET), max_len=8, atol=1e-5)


def test_the_reference_translates_the_pairs_a_tiny_model_learnt():
    model, _ = overfit(dec={"attention": "general", "input_feeding": True})
    for source, target in PAIRS:
        ids = reference.translate(model.eval(), encode_source(source, SOURCE), 8)
        assert TARGET.join(TARGET.decode(ids)) == target


def test_the_pairs_loss_is_what_training_minimises():
    model, _ = overfit(epochs=5, dec={"attention": "general"})
    (src, tgt), = encode_pairs(PAIRS[:1], SOURCE, TARGET)
    logits = model.eval()(torch.tensor([src]), torch.tensor([len(src)]), torch.tensor([[SOS_ID, *tgt[:-1]]]))
    expected = torch.nn.functional.cross_entropy(logits[0], torch.tensor(tgt), reduction="sum")
    torch.testing.assert_close(reference.loss(model, src, tgt), expected, atol=1e-5, rtol=0.0)


def test_greedy_steps_stop_at_eos_and_at_max_len():
    model, _ = overfit(dec={"attention": "general"})
    src = encode_source(PAIRS[0][0], SOURCE)
    steps = list(reference.greedy_steps(model.eval(), src, 8))
    assert steps[-1][0] == EOS_ID and len(steps) == len(PAIRS[0][1].split()) + 1
    assert all(abs(float(step.log_probs.exp().sum()) - 1.0) < 1e-5 for _, step in steps)
    assert all(float(step.weights.sum()) == pytest.approx(1.0) and len(step.weights) == len(src) for _, step in steps)
    assert len(reference.translate(model, src, 2)) == 2  # cut at max_len, unfinished


MODEL, TEST = pipeline_file("models/model.pt"), pipeline_file("data/split/test.tsv")
needs_pipeline = pytest.mark.skipif(MODEL is None or TEST is None,
                                    reason="needs the pipeline's model and test split as dvc.lock records them "
                                           "(make repro)")


@needs_pipeline
def test_the_reference_computes_what_the_default_checkpoint_computes():
    loaded = load_checkpoint(MODEL)
    pairs = read_pairs(TEST)[:300]
    sources = [encode_source(s, loaded.source) for s, _ in pairs]
    # Teacher-forced on the fast model's own greedy translations: what translate --beam 1 prints.
    targets = fast_greedy(loaded.model.eval(), sources, 20)
    # Products of 256-unit vectors over a 2,004-word output layer: float32 rounding differs by a few 1e-6.
    assert_equal_models(loaded.model, list(zip(sources, targets)), max_len=20, atol=1e-4)


# Unknown words, a line longer than the training limit, an empty line, one without letters.
LINES = ["je suis froid.", "Il est ma soeur médecin!", "", "tu es grand grand grand grand grand grand .", "...",
         "nous sommes amis ."]


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory) -> Path:
    model, _ = overfit(dec={"attention": "general", "input_feeding": True})
    path = tmp_path_factory.mktemp("reference") / "model.pt"
    save_checkpoint(path, model, SOURCE, TARGET, {"max_length": 6}, sorted({w for s, _ in PAIRS for w in s.split()}))
    return path


def test_translate_reference_prints_what_greedy_search_prints(tiny_checkpoint):
    lines = "\n".join(LINES) + "\n"
    fast = seq2seq_cli("translate", "--model", str(tiny_checkpoint), "--beam", "1", stdin=lines, cwd=REPO)
    slow = seq2seq_cli("translate", "--model", str(tiny_checkpoint), "--reference", stdin=lines, cwd=REPO)
    assert fast.returncode == slow.returncode == 0, slow.stderr
    assert slow.stdout == fast.stdout and len(slow.stdout.splitlines()) == len(LINES)
    assert slow.stderr == fast.stderr and "never seen in training" in slow.stderr and "truncated" in slow.stderr
    assert slow.stdout.splitlines()[0] == "i am cold ."


@needs_pipeline
def test_translate_reference_prints_what_beam_1_prints_with_the_default_checkpoint():
    lines = "\n".join(source for source, _ in read_pairs(TEST)[:100]) + "\n"
    fast = seq2seq_cli("translate", "--model", str(MODEL), "--beam", "1", stdin=lines, cwd=REPO)
    slow = seq2seq_cli("translate", "--model", str(MODEL), "--reference", stdin=lines, cwd=REPO)
    assert fast.returncode == slow.returncode == 0, slow.stderr
    assert slow.stdout == fast.stdout and len(slow.stdout.splitlines()) == 100
