"""What the train stage calls (`seq2seq.training.trainer`): extra training pairs that share a
sentence with validation are left out."""

from seq2seq.config import TrainConfig
from seq2seq.training.distributed import SINGLE
from seq2seq.training.trainer import usable_extra


def test_extra_pairs_sharing_a_validation_sentence_are_left_out(caplog):
    valid = [("il est ici .", "he is here .")]
    extra = [("il est ici .", "he s around ."), ("va !", "go ."), ("tu vas bien ?", "he is here .")]
    assert usable_extra(extra, valid, TrainConfig(extra_per_epoch=2), SINGLE) == [("va !", "go .")]
    assert "unused" not in caplog.text
    usable_extra(extra, valid, TrainConfig(extra_per_epoch=0), SINGLE)
    assert "3 extra training pairs (split.extra_fraction) go unused, as train.extra_per_epoch is 0" in caplog.text

