import zipfile

import pytest

from seq2seq.data.download import archive_name, download
from seq2seq.errors import UserError
from tests.conftest import RAW_LINES, make_zip

URL = "https://www.manythings.org/anki/fra-eng.zip"


def test_archive_name():
    assert archive_name(URL) == "fra-eng.zip"


def test_mirror_is_used_and_checksum_verified(mirror, tmp_path):
    folder, sha = mirror
    out = tmp_path / "raw" / "pairs.txt"
    download(URL, sha, out, folder)
    assert out.read_text(encoding="utf-8").splitlines() == RAW_LINES
    assert sorted(p.name for p in out.parent.iterdir()) == ["pairs.txt"]  # no stray archive


def test_local_path_and_file_url_and_tutorial_layout(tmp_path):
    archive = tmp_path / "data.zip"
    make_zip(archive, member="data/eng-fra.txt")
    download(str(archive), "", tmp_path / "a.txt", None)
    download(archive.as_uri(), "", tmp_path / "b.txt", None)
    assert (tmp_path / "a.txt").read_bytes() == (tmp_path / "b.txt").read_bytes()


def test_checksum_mismatch_keeps_previous_output(mirror, tmp_path):
    folder, sha = mirror
    out = tmp_path / "pairs.txt"
    out.write_text("previous good result\n")
    with pytest.raises(UserError, match="checksum mismatch"):
        download(URL, "0" * 64, out, folder)
    assert out.read_text() == "previous good result\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize("content, message", [
    (b"<html>403 Forbidden</html>", "not a valid zip"),
    (None, "truncated|not a valid zip"),
])
def test_corrupt_or_truncated_archive(tmp_path, content, message):
    archive = tmp_path / "fra-eng.zip"
    make_zip(archive)
    data = archive.read_bytes()
    archive.write_bytes(content if content is not None else data[: len(data) // 2])
    with pytest.raises(UserError, match=message):
        download(URL, "", tmp_path / "out" / "pairs.txt", tmp_path)
    assert not (tmp_path / "out" / "pairs.txt").exists()


def test_archive_without_pairs_file(tmp_path):
    with zipfile.ZipFile(tmp_path / "fra-eng.zip", "w") as zf:
        zf.writestr("readme.txt", "nothing here")
    with pytest.raises(UserError, match="no pairs file"):
        download(URL, "", tmp_path / "pairs.txt", tmp_path)


def test_not_pairs_inside(tmp_path):
    make_zip(tmp_path / "fra-eng.zip", lines=["no tabs in this file"])
    with pytest.raises(UserError, match="does not look like"):
        download(URL, "", tmp_path / "pairs.txt", tmp_path)


def test_missing_local_file_names_the_mirror_variable(tmp_path):
    with pytest.raises(UserError, match="SEQ2SEQ_DATA_DIR"):
        download(str(tmp_path / "absent.zip"), "", tmp_path / "pairs.txt", None)


def test_unreachable_host_names_the_mirror_variable(tmp_path):
    # Port 9 on loopback refuses at once: no network traffic leaves the machine.
    with pytest.raises(UserError, match="SEQ2SEQ_DATA_DIR"):
        download("http://127.0.0.1:9/fra-eng.zip", "", tmp_path / "pairs.txt", tmp_path / "empty")
