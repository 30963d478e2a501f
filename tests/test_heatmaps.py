"""Heatmaps: a PNG sized by its tokens, the same bytes for the same weights, nothing half-written."""

import struct

import pytest

from seq2seq.evaluation.heatmaps import save_heatmap


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])  # width, height from the IHDR chunk


def test_one_column_per_source_token_and_one_row_per_output_token(tmp_path):
    save_heatmap(tmp_path / "small.png", ["a", "."], ["x"], [[0.5, 0.5]], "t")
    save_heatmap(tmp_path / "wide.png", list("abcdefghij") + ["."], ["x", "y", "z", "w", "v", "u", "."],
                 [[1 / 11] * 11] * 7, "t")
    small, wide = png_size((tmp_path / "small.png").read_bytes()), png_size((tmp_path / "wide.png").read_bytes())
    # Sizes follow the token counts (0.55 in per source token, 0.35 per output token, 100 dpi),
    # with a floor of 4 x 2.5 inches.
    assert small == (400, 250)
    assert wide == (round((1.8 + 0.55 * 11) * 100), round((1.2 + 0.35 * 7) * 100))


def test_the_same_weights_give_the_same_bytes_and_no_leftovers(tmp_path):
    for name in ("a.png", "b.png"):
        save_heatmap(tmp_path / name, ["je", "."], ["i", "."], [[0.9, 0.1], [0.2, 0.8]], "je . -> i .")
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
    assert b"Software" not in (tmp_path / "a.png").read_bytes()
    with pytest.raises(ValueError):
        save_heatmap(tmp_path / "bad.png", ["a"], ["x"], [[0.1, 0.2, 0.3], [0.4]], "ragged")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "b.png"]
