import pytest

from seq2seq.data.vocab import EOS_ID, PAD_ID, SOS_ID, UNK_ID, Vocab, build_vocabs, load_vocabs
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
    ids = v.encode(["i", "am", "cold", "."])
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
    source, target = build_vocabs(tmp_path / "train.tsv", tmp_path / "v", "word", 1, 0)
    assert set(source.itos[4:]) == {"je", "suis", "tu", "es"}
    assert (tmp_path / "v" / "target.txt").read_text().splitlines()[4:] == ["am", "are", "i", "you"]
    assert sorted(p.name for p in (tmp_path / "v").iterdir()) == ["source.txt", "target.txt"]
    assert source.kind == "word" and source.unknown_words("je suis ici") == ["ici"]
    write_pairs(tmp_path / "extra.tsv", [("je suis ici", "i am here")])
    source, target = build_vocabs(tmp_path / "train.tsv", tmp_path / "x", "word", extra_path=tmp_path / "extra.tsv")
    assert set(source.itos[4:]) == {"je", "suis", "tu", "es", "ici"} and "here" in target.itos


# Normalised French as prepare writes it with keep_accents and keep_apostrophes on.
FRENCH = ["je suis élève .", "tu es très grand .", "il est à l'école .", "nous sommes prêts .",
          "elle est étudiante .", "je suis fatigué aujourd'hui .", "vous êtes très gentils .",
          "ils sont à la maison .", "je suis content d'être ici .", "tu es prête ?"] * 3


def test_pieces_round_trip_accents_apostrophes_and_unseen_words(tmp_path):
    v = Vocab.build_pieces(FRENCH, 60)
    assert v.kind == "bpe" and v.itos[:4] == ["<pad>", "<sos>", "<eos>", "<unk>"]
    for sentence in ["je suis élève .", "il est à l'école .", "je suis fatigué aujourd'hui .",
                     "tu es une tortue ?", "c'est étrange"]:  # the last two: words never seen
        pieces = v.split(sentence)
        ids = v.encode(pieces)
        assert v.join(v.decode(ids + [EOS_ID])) == sentence
    # Unseen words are spelled from known pieces: no <unk> as long as every letter was seen.
    assert UNK_ID not in v.encode(v.split("tu es tortue")) and v.unknown_words("tu es tortue") == []
    assert len(v.split("tortue")) > 1
    # A letter never seen ("w", "z") cannot be spelled: that word, and only it, is unknown.
    assert v.unknown_words("je suis wazo .") == ["wazo"]
    # Saved with its model beside it, loaded back identical; trained twice, byte-identical.
    v.save(tmp_path / "source.txt")
    loaded = Vocab.load(tmp_path / "source.txt")
    assert loaded.itos == v.itos and loaded.split("tu es tortue") == v.split("tu es tortue")
    assert (tmp_path / "source.model").read_bytes() == Vocab.build_pieces(FRENCH, 60).pieces.bytes


def test_build_vocabs_bpe_writes_models(tmp_path):
    write_pairs(tmp_path / "train.tsv", [(f, "i am here .") for f in FRENCH])
    source, target = build_vocabs(tmp_path / "train.tsv", tmp_path / "v", "bpe", size=60)
    assert sorted(p.name for p in (tmp_path / "v").iterdir()) == ["source.model", "source.txt", "target.model",
                                                                   "target.txt"]
    assert len(source) <= 60 + 4 and target.join(target.split("i am here .")) == "i am here ."
    # What the stage wrote is what later stages load: the same pieces, splitting alike.
    loaded_source, loaded_target = load_vocabs(tmp_path / "v")
    assert loaded_source.itos == source.itos and loaded_target.itos == target.itos
    assert loaded_source.split("tu es une tortue ?") == source.split("tu es une tortue ?")


def test_joint_vocabulary_is_learned_from_both_sides_and_saved_as_both(tmp_path):
    english = ["i am a student .", "you are very tall .", "he is at school .", "we are ready ."] * 8
    write_pairs(tmp_path / "train.tsv", list(zip(FRENCH[:30], english[:30])))
    # Words: the union of both sides' words, counted together ("." on both sides ranks first).
    source, target = build_vocabs(tmp_path / "train.tsv", tmp_path / "w", "word", joint=True)
    assert source.itos == target.itos and source.itos[4] == "."
    assert {"suis", "élève", "student", "tall"} <= set(source.itos) and source.unknown_words("je am tall") == []
    assert (tmp_path / "w" / "source.txt").read_bytes() == (tmp_path / "w" / "target.txt").read_bytes()
    # Pieces: one model of at most 80 pieces in all, spelling both languages; both files the same bytes.
    source, target = build_vocabs(tmp_path / "train.tsv", tmp_path / "v", "bpe", size=80, joint=True)
    assert source.itos == target.itos and len(source) <= 80 + 4
    for name in ("txt", "model"):
        assert (tmp_path / "v" / f"source.{name}").read_bytes() == (tmp_path / "v" / f"target.{name}").read_bytes()
    for sentence in ("je suis très grand .", "you are at school ."):
        assert source.join(source.split(sentence)) == sentence and UNK_ID not in source.encode(source.split(sentence))
    # Separate vocabularies: the French side never saw the letter y, so it cannot spell these words.
    separate, _ = build_vocabs(tmp_path / "train.tsv", tmp_path / "s", "bpe", size=80)
    assert separate.unknown_words("you are ready") == ["you", "ready"]
    assert source.unknown_words("you are ready") == []


def test_bpe_dropout_samples_other_segmentations_of_the_same_words_and_repeats_by_seed():
    v = Vocab.build_pieces(FRENCH, 60)
    sentences = sorted(set(FRENCH))
    model = v.pieces
    # Dropout 0 skips no merge: the pieces of ordinary segmentation.
    assert model.sample(sentences, 0.0, 7) == [v.split(s) for s in sentences]
    sampled = model.sample(sentences * 20, 0.3, 7)
    # Every sample spells its sentence and uses only the vocabulary's pieces (no <unk>).
    assert [model.join(p) for p in sampled] == [s for s in sentences * 20]
    assert all(UNK_ID not in v.encode(p) for p in sampled)
    # Skipped merges leave smaller pieces: more of them than the ordinary cut, and not always alike.
    ordinary = sum(len(v.split(s)) for s in sentences) * 20
    assert sum(len(p) for p in sampled) > ordinary
    assert len({tuple(p) for p in sampled[::len(sentences)]}) > 1  # one sentence, 20 cuts
    # The seed fixes the sample, whatever was sampled before in this process; another seed differs.
    model.sample(sentences, 0.5, 99)
    assert model.sample(sentences * 20, 0.3, 7) == sampled
    assert model.sample(sentences * 20, 0.3, 8) != sampled
