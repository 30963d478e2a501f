"""`seq2seq translate`: one output line per input line, whatever the input; and `translate_ids`,
encoded sources searched in batches sorted by length."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from seq2seq.checkpoint import load_checkpoint, save_checkpoint
from seq2seq.data.batching import encode_source, pad_sources
from seq2seq.data.vocab import Vocab
from seq2seq.inference.search import Hypotheses, search
from seq2seq.inference.translate import translate_ids, translate_lines
from tests.conftest import overfit, seq2seq_cli

PAIRS = [("je suis froid .", "i am cold ."), ("tu es grand .", "you are tall ."),
         ("il est heureux .", "he is happy ."), ("elle est ma soeur .", "she is my sister .")]
TEXT = {"direction": "fra-eng", "max_length": 6, "keep_accents": False, "keep_apostrophes": False}


def trained_checkpoint(path: Path, source: Vocab, target: Vocab) -> Path:
    """The shared tiny model trained on PAIRS with these vocabularies, saved at `path`."""
    model, _ = overfit(PAIRS, source, target, dec={"attention": "general"})
    save_checkpoint(path, model, source, target, TEXT)
    return path


@pytest.fixture(scope="module")
def model_path(tmp_path_factory) -> Path:
    source, target = Vocab.build(s for s, _ in PAIRS), Vocab.build(t for _, t in PAIRS)
    return trained_checkpoint(tmp_path_factory.mktemp("model") / "model.pt", source, target)


@pytest.fixture(scope="module")
def bpe_model_path(tmp_path_factory) -> Path:
    source, target = (Vocab.build_pieces([p[side] for p in PAIRS] * 5, 50) for side in (0, 1))
    return trained_checkpoint(tmp_path_factory.mktemp("bpe") / "model.pt", source, target)


def test_a_subword_checkpoint_translates_unchanged(bpe_model_path):
    loaded = load_checkpoint(bpe_model_path)
    assert loaded.source.kind == loaded.target.kind == "bpe"
    result = seq2seq_cli("translate", "--model", str(bpe_model_path), "Je suis froid.", "Elle est ma soeur.")
    assert result.returncode == 0, result.stderr
    # Pieces are joined back into words: the output reads like the word model's.
    assert result.stdout.decode().splitlines() == ["i am cold .", "she is my sister ."]
    assert b"never seen" not in result.stderr  # every letter was seen: no unknown word


def test_a_checkpoint_with_its_training_words_names_unseen_words_even_with_pieces(bpe_model_path, tmp_path):
    # The train stage stores the training sources' words; pieces can spell "grande", but the model
    # never saw it, and the user is told so.
    loaded = load_checkpoint(bpe_model_path)
    words = sorted({w for s, _ in PAIRS for w in s.split()})
    save_checkpoint(tmp_path / "m.pt", loaded.model, loaded.source, loaded.target, TEXT, words)
    assert load_checkpoint(tmp_path / "m.pt").source_words == frozenset(words)
    result = seq2seq_cli("translate", "--model", str(tmp_path / "m.pt"), "Je suis froid.", "Elle est grande.")
    err = result.stderr.decode()
    assert result.returncode == 0 and len(result.stdout.decode().splitlines()) == 2
    assert "line 2: never seen in training (spelled from pieces): grande" in err and "line 1:" not in err


def test_unknown_words_and_long_lines_are_named_once_per_line(model_path):
    result = seq2seq_cli("translate", "--model", str(model_path), "Je suis froid.", "Je suis ornithorynque.",
                         "je suis froid " * 3)
    err = result.stderr.decode()
    assert result.returncode == 0 and len(result.stdout.decode().splitlines()) == 3
    assert "line 2: never seen in training (read as <unk>): ornithorynque" in err and "line 1:" not in err
    assert "line 3: 9 words, longer than any training sentence (5): truncated" in err
    # One line about the model's domain, before the first note.
    assert err.count("knows only sentences of fewer than 6 words") == 1


def test_raw_text_is_normalised_like_training(model_path):
    loaded = load_checkpoint(model_path)
    out = [r.translation for r in translate_lines(loaded, ["Je suis froid.", "IL EST HEUREUX !?", "Tu es grand"],
                                                   10, 2)]
    assert out[0] == "i am cold ." and out[1].startswith("he is happy")
    assert len(out) == 3


def test_n_best_prints_a_block_of_scored_alternatives_per_line(model_path):
    result = seq2seq_cli("translate", "--model", str(model_path), "--beam", "4", "--n-best", "3", "Je suis froid.",
                         "", "Tu es grand.")
    assert result.returncode == 0, result.stderr
    blocks = result.stdout.decode().split("\n\n")
    assert blocks[-1] == "" and len(blocks) == 4  # three blocks, each ended by an empty line
    rows = [[line.split("\t") for line in block.splitlines()] for block in blocks[:3]]
    assert [len(r) for r in rows] == [3, 1, 3]  # the empty line gets one empty row
    assert rows[1] == [["2", "1", "", ""]]
    for number, block in ((1, rows[0]), (3, rows[2])):
        assert [(int(n), int(rank)) for n, rank, _, _ in block] == [(number, 1), (number, 2), (number, 3)]
        scores = [float(score) for _, _, score, _ in block]
        assert scores == sorted(scores, reverse=True) and all(s <= 0 for s in scores)
        assert len({text for _, _, _, text in block}) == 3  # three different translations
    # The first of each block is the translation that plain --beam 4 prints.
    plain = seq2seq_cli("translate", "--model", str(model_path), "--beam", "4", "Je suis froid.", "",
                        "Tu es grand.")
    assert plain.stdout.decode().splitlines() == [rows[0][0][3], "", rows[2][0][3]]


def test_the_same_checkpoint_twice_is_an_ensemble_that_translates_as_it_does(model_path, bpe_model_path):
    sentences = ["Je suis froid.", "Il est heureux.", "Elle est ma soeur."]
    one = seq2seq_cli("translate", "--model", str(model_path), *sentences)
    two = seq2seq_cli("translate", "--model", str(model_path), "--model", str(model_path), *sentences)
    assert two.returncode == 0, two.stderr
    assert two.stdout == one.stdout and len(one.stdout.decode().splitlines()) == 3
    mixed = seq2seq_cli("translate", "--model", str(model_path), "--model", str(bpe_model_path), *sentences)
    assert mixed.returncode == 1 and b"Traceback" not in mixed.stderr
    assert "their source vocabularies are of different kinds (word and bpe)" in mixed.stderr.decode()


def test_stdin_edge_cases_give_one_line_each(model_path):
    stdin = "Je suis froid.\n\n   \nxyzzy plugh\nje suis \xe9\xe9\n".encode("latin-1") + b"\xff\xfe bad\n" + \
        ("je suis froid " * 10 + "\n").encode()
    result = seq2seq_cli("translate", "--model", str(model_path), stdin=stdin)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.decode().split("\n")[:-1]
    assert len(lines) == 7
    assert lines[0] == "i am cold ." and lines[1] == "" and lines[2] == ""
    assert "truncated" in result.stderr.decode()
    assert b"Traceback" not in result.stderr


def test_a_closed_pipe_ends_quietly(model_path):
    result = subprocess.run(f"yes 'Je suis froid.' | head -5000 | {sys.executable} -m seq2seq translate "
                            f"--model {model_path} | head -1", shell=True, capture_output=True)
    assert result.stdout.decode() == "i am cold .\n"
    assert b"Traceback" not in result.stderr


def test_arguments_are_sentences(model_path):
    result = seq2seq_cli("translate", "--model", str(model_path), "Je suis froid.", "Tu es grand.")
    assert result.stdout.decode().splitlines() == ["i am cold .", "you are tall ."]


def test_missing_and_incompatible_models_fail_clearly(tmp_path, model_path):
    result = seq2seq_cli("translate", "--model", str(tmp_path / "absent.pt"), "bonjour")
    assert result.returncode == 1 and b"no model at" in result.stderr and b"Traceback" not in result.stderr
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    result = seq2seq_cli("translate", "--model", str(tmp_path / "junk.pt"), "bonjour")
    assert result.returncode == 1 and b"not a readable seq2seq checkpoint" in result.stderr
    payload = torch.load(model_path, weights_only=True)
    payload["settings"]["enc_hidden_size"] = 7
    torch.save(payload, tmp_path / "mismatch.pt")
    result = seq2seq_cli("translate", "--model", str(tmp_path / "mismatch.pt"), "bonjour")
    assert result.returncode == 1 and b"does not match" in result.stderr
    assert b"Traceback" not in result.stderr


def test_translate_ids_searches_with_a_beam_above_one(model_path):
    loaded = load_checkpoint(model_path)
    sources = [encode_source(s, loaded.source) for s, _ in PAIRS]
    cpu = torch.device("cpu")
    for beam in (1, 3):
        assert translate_ids(loaded.model, sources, loaded.target, 3, 10, cpu, beam_size=beam) == \
            [t for _, t in PAIRS]
    src, lengths = pad_sources(sources)
    assert translate_ids(loaded.model, sources, loaded.target, 4, 3, cpu, beam_size=1) == \
        [" ".join(loaded.target.decode(row)) for row in search(loaded.model, src, lengths, 3).tokens[:, 0].tolist()]


def test_translate_ids_batches_sources_sorted_by_length_and_answers_in_their_order(monkeypatch):
    # A stand-in search that "translates" each source into itself and records each batch's
    # lengths: the batches must come sorted by length, and every output back in input order.
    vocab = Vocab.build(["a b c d e f g"])
    sources = [encode_source(s, vocab) for s in ["a b c d e f", "b", "c d e", "b", "g f e d", "a b"]]
    seen: list[list[int]] = []

    def echo(model, src, lengths, *args, **kwargs):
        seen.append(lengths.tolist())
        return Hypotheses(src.unsqueeze(1), torch.zeros(src.size(0), 1))

    monkeypatch.setattr("seq2seq.inference.translate.search", echo)
    expected = [vocab.join(vocab.decode(ids)) for ids in sources]
    for size in range(1, len(sources) + 2):
        seen.clear()
        assert translate_ids(torch.nn.Module(), sources, vocab, size, 10, torch.device("cpu")) == expected
        flat = [n for batch in seen for n in batch]
        assert flat == sorted(len(ids) for ids in sources) and max(map(len, seen)) <= size
    assert translate_ids(torch.nn.Module(), [], vocab, 2, 10, torch.device("cpu")) == []


def test_translate_with_a_beam_prints_one_line_per_input(model_path):
    result = seq2seq_cli("translate", "--model", str(model_path), "--beam", "3", "--length-penalty", "0.6",
                         "Je suis froid.", "", "Il est heureux.")
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode().split("\n") == ["i am cold .", "", "he is happy .", ""]
