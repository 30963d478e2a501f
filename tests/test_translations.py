"""The kept test translations: what evaluate writes, compare reads back, and broken files named."""

import pytest

from seq2seq.errors import UserError
from seq2seq.evaluation.translations import parse, write_rows


def test_round_trip_with_several_references_and_an_empty_translation(tmp_path):
    write_rows(tmp_path / "t.tsv", ["je suis la .", "oui ."], [["i am here .", "i m here ."], ["yes ."]], ["", "yes ."])
    assert (tmp_path / "t.tsv").read_text() == (
        "source\treferences\tprediction\nje suis la .\ti am here . | i m here .\t\noui .\tyes .\tyes .\n")
    table = parse((tmp_path / "t.tsv").read_text(), "t.tsv")
    assert table.sources == ["je suis la .", "oui ."]
    assert table.references == [["i am here .", "i m here ."], ["yes ."]]
    assert table.hypotheses == ["", "yes ."]


@pytest.mark.parametrize("text, message", [
    ("", "lacks the header"),
    ("source\ttarget\nje\ti\n", "lacks the header"),
    ("source\treferences\tprediction\n", "holds no translations"),
    ("source\treferences\tprediction\nje\ti\n", "line 2 does not have a source, its references and a prediction"),
    ("source\treferences\tprediction\nje\t\ti\n", "line 2 does not have"),
])
def test_broken_files_are_named(text, message):
    with pytest.raises(UserError, match=f"at HEAD {message}"):
        parse(text, "results/translations.tsv at HEAD")
