"""Checkpoints: a round trip gives the same model, vocabularies and text options; a missing, broken
or foreign file gets a one-paragraph error naming what to do."""

import pytest
import torch

from seq2seq.checkpoint import CHECKPOINT_FORMAT, load_checkpoint, save_checkpoint
from seq2seq.errors import UserError
from tests.conftest import SOURCE, TARGET, overfit

TEXT = {"direction": "fra-eng", "max_length": 6, "keep_accents": False, "keep_apostrophes": False}


@pytest.fixture(scope="module")
def model():
    return overfit(epochs=2)[0].eval()


def test_round_trip_gives_the_same_logits_vocabularies_and_text(model, tmp_path):
    save_checkpoint(tmp_path / "m.pt", model, SOURCE, TARGET, TEXT, ["froid", "je"])
    loaded = load_checkpoint(tmp_path / "m.pt")
    assert loaded.model.settings == model.settings and not loaded.model.training
    assert loaded.source.itos == SOURCE.itos and loaded.target.itos == TARGET.itos and loaded.text == TEXT
    src, lengths, tgt_in = torch.tensor([[4, 5, 6, 2]]), torch.tensor([4]), torch.tensor([[1, 4, 5]])
    with torch.no_grad():
        assert torch.equal(loaded.model(src, lengths, tgt_in), model(src, lengths, tgt_in))
    # Unseen words are judged by the training words stored with it, not by the vocabulary.
    assert loaded.unseen_words("je suis froid .") == ["suis", "."]


def test_a_reversed_encoder_travels_with_the_checkpoint_and_older_ones_read_forwards(model, tmp_path):
    reversed_model = overfit(epochs=2, enc={"reverse": True})[0].eval()
    save_checkpoint(tmp_path / "r.pt", reversed_model, SOURCE, TARGET, TEXT)
    loaded = load_checkpoint(tmp_path / "r.pt").model
    assert loaded.settings.reverse_source and loaded.encoder.reverse
    src, lengths, tgt_in = torch.tensor([[4, 5, 6, 2]]), torch.tensor([4]), torch.tensor([[1, 4, 5]])
    with torch.no_grad():
        assert torch.equal(loaded(src, lengths, tgt_in), reversed_model(src, lengths, tgt_in))
    # A checkpoint written before the setting existed has no such key: it reads left to right.
    save_checkpoint(tmp_path / "m.pt", model, SOURCE, TARGET, TEXT)
    payload = torch.load(tmp_path / "m.pt", weights_only=True)
    del payload["settings"]["reverse_source"]
    torch.save(payload, tmp_path / "old.pt")
    assert not load_checkpoint(tmp_path / "old.pt").model.encoder.reverse


def test_saving_twice_gives_the_same_bytes(model, tmp_path):
    save_checkpoint(tmp_path / "a.pt", model, SOURCE, TARGET, TEXT)
    save_checkpoint(tmp_path / "b.pt", model, SOURCE, TARGET, TEXT)
    assert (tmp_path / "a.pt").read_bytes() == (tmp_path / "b.pt").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.pt", "b.pt"]  # no temporary file left


def test_without_training_words_the_vocabulary_decides_what_is_unseen(model, tmp_path):
    save_checkpoint(tmp_path / "m.pt", model, SOURCE, TARGET, TEXT)
    assert load_checkpoint(tmp_path / "m.pt").unseen_words("je suis ornithorynque .") == ["ornithorynque"]


def test_missing_broken_and_foreign_files_are_named(model, tmp_path):
    with pytest.raises(UserError, match=r"no model at .*absent.pt: fetch the team's with dvc pull"):
        load_checkpoint(tmp_path / "absent.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="is not a readable seq2seq checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")
    torch.save({"format": CHECKPOINT_FORMAT - 1}, tmp_path / "old.pt")
    with pytest.raises(UserError, match=f"not a seq2seq checkpoint of format {CHECKPOINT_FORMAT}"):
        load_checkpoint(tmp_path / "old.pt")
    save_checkpoint(tmp_path / "m.pt", model, SOURCE, TARGET, TEXT)
    payload = torch.load(tmp_path / "m.pt", weights_only=True)
    payload["settings"]["dec_hidden_size"] = 7  # weights of another shape
    torch.save(payload, tmp_path / "other.pt")
    with pytest.raises(UserError, match="does not match this version's model"):
        load_checkpoint(tmp_path / "other.pt")


def test_the_training_precision_travels_with_the_checkpoint(model, tmp_path):
    save_checkpoint(tmp_path / "bf16.pt", model, SOURCE, TARGET, TEXT, precision="bf16")
    save_checkpoint(tmp_path / "fp32.pt", model, SOURCE, TARGET, TEXT)
    assert load_checkpoint(tmp_path / "bf16.pt").precision == "bf16"
    assert load_checkpoint(tmp_path / "fp32.pt").precision == "fp32"
    # The weights are float32 either way: bf16 is the arithmetic, not the storage.
    assert all(p.dtype == torch.float32 for p in load_checkpoint(tmp_path / "bf16.pt").model.parameters())


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_a_device_that_cannot_take_the_model_is_named_after_the_file_is_read(model, tmp_path):
    # The file is fine; the device is not: the error says so, not "not a readable checkpoint".
    save_checkpoint(tmp_path / "m.pt", model, SOURCE, TARGET, TEXT)
    with pytest.raises(UserError, match=r"could not move the model to cuda: .*use the CPU \(--device cpu"):
        load_checkpoint(tmp_path / "m.pt", "cuda")
