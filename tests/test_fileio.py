import os

import pytest

from seq2seq.errors import UserError
from seq2seq.fileio import atomic_open, read_json, read_pairs, write_json, write_pairs


def test_pairs_round_trip_with_header(tmp_path):
    pairs = [("je suis la .", "i m here ."), ("qu est ce ?", "what ?")]
    assert write_pairs(tmp_path / "p.tsv", pairs) == 2
    assert (tmp_path / "p.tsv").read_text().splitlines()[0] == "source\ttarget"
    assert read_pairs(tmp_path / "p.tsv") == pairs


def test_a_failed_write_keeps_the_previous_file_and_leaves_no_temporary(tmp_path):
    write_json(tmp_path / "m.json", {"bleu": 1.0})
    with pytest.raises(RuntimeError), atomic_open(tmp_path / "m.json") as handle:
        handle.write('{"bleu": ')
        raise RuntimeError("crash in the middle of writing")
    assert read_json(tmp_path / "m.json") == {"bleu": 1.0}
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]


def test_outputs_get_the_usual_file_mode(tmp_path):
    umask = os.umask(0o022)
    try:
        write_pairs(tmp_path / "pairs.tsv", [("a", "b")])
    finally:
        os.umask(umask)
    assert (tmp_path / "pairs.tsv").stat().st_mode & 0o777 == 0o644


def test_bad_inputs_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        read_pairs(tmp_path / "absent.tsv")
    (tmp_path / "no_header.tsv").write_text("a\tb\n")
    with pytest.raises(UserError, match="header"):
        read_pairs(tmp_path / "no_header.tsv")
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(UserError, match="not valid JSON"):
        read_json(tmp_path / "broken.json")
