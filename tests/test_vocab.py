import pytest

from seq2seq.data.vocab import EOS_ID, PAD_ID, SOS_ID, UNK_ID, Vocab, build_vocabs
from seq2seq.errors import UserError
from seq2seq.fileio import write_pairs


def test_special_ids_are_fixed():
    v = Vocab.build(["b a", "a c"])
    assert v.itos[:4] == ["<pad>", "<sos>", "<eos>", "<unk>"]
    assert (PAD_ID, SOS_ID, EOS_ID, UNK_ID) == (0, 1, 2, 3)


def test_order_by_frequency_then_alphabet_and_limits():
    v = Vocab.build(["b a c", "a c", "a d"])
    assert v.itos[4:] == ["a", "c", "b", "d"]
    assert Vocab.build(["b a c", "a c", "a d"], min_count=2).itos[4:] == ["a", "c"]
    assert Vocab.build(["b a c", "a c", "a d"], max_size=1).itos[4:] == ["a"]


def test_encode_decode_round_trip_and_unknown():
    v = Vocab.build(["i am cold ."])
    ids = v.encode("i am cold .".split())
    assert v.decode(ids + [EOS_ID, 5]) == ["i", "am", "cold", "."]
    assert v.encode(["warm"]) == [UNK_ID]


def test_save_load_round_trip(tmp_path):
    v = Vocab.build(["i am cold .", "you are cold ."])
    v.save(tmp_path / "v.txt")
    assert Vocab.load(tmp_path / "v.txt").itos == v.itos
    (tmp_path / "bad.txt").write_text("a\nb\n")
    with pytest.raises(UserError):
        Vocab.load(tmp_path / "bad.txt")


def test_build_vocabs_from_training_split(tmp_path):
    write_pairs(tmp_path / "train.tsv", [("je suis", "i am"), ("tu es", "you are")])
    source, target = build_vocabs(tmp_path / "train.tsv", tmp_path / "s.txt", tmp_path / "t.txt", 1, 0)
    assert set(source.itos[4:]) == {"je", "suis", "tu", "es"}
    assert (tmp_path / "t.txt").read_text().splitlines()[4:] == ["am", "are", "i", "you"]
