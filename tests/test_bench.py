"""`seq2seq bench` runs and reports; its numbers are measurements, never asserted as speeds."""

import itertools
import json

import torch
import yaml

from seq2seq.bench.throughput import BENCH_KEYS, precision_ratios, run_bench, synthetic_examples
from seq2seq.config import DecoderConfig, EncoderConfig, TrainConfig
from seq2seq.fileio import write_pairs
from seq2seq.model.factory import build_model
from seq2seq.model.seq2seq import count_parameters
from tests.conftest import PLAIN_DEC, PLAIN_ENC, REPO, seq2seq_cli

TINY_ENC = EncoderConfig(embedding_size=8, hidden_size=8, dropout=0.0, **PLAIN_ENC)
TINY_DEC = DecoderConfig(embedding_size=8, hidden_size=8, dropout=0.0, **PLAIN_DEC)


def test_synthetic_examples_have_the_drawn_lengths():
    examples = synthetic_examples([(3, 5), (8, 2)], 20, 30, torch.Generator().manual_seed(0))
    assert [(len(s), len(t)) for s, t in examples] == [(3, 5), (8, 2)]
    assert all(s[-1] == t[-1] == 2 and min(s[:-1] + t[:-1]) >= 4 for s, t in examples)


def test_run_bench_reports_every_key_for_the_model_it_was_given():
    result = run_bench(TINY_ENC, TINY_DEC, TrainConfig(batch_size=4), 30, 30, [(4, 5), (6, 3)], 2, 8,
                       torch.device("cpu"), per_word_seconds=0.05)
    assert set(result) == {*BENCH_KEYS, "parameters"}
    assert result["parameters"] == count_parameters(build_model(TINY_ENC, TINY_DEC, 30, 30))
    # A tiny model's mfu and achieved GFLOP/s (rounded to 0.001 and 0.1) can round to 0 on a busy machine.
    assert all(result[k] > 0 for k in BENCH_KEYS if k not in ("mfu", "achieved_gflops"))
    # mfu = achieved / peak, up to the rounding of each (achieved to 0.1, mfu to 0.001).
    tolerance = 0.05 + 0.0005 * result["peak_gflops"]
    assert abs(result["mfu"] * result["peak_gflops"] - result["achieved_gflops"]) <= tolerance


def test_precision_ratios_time_both_precisions_each_round_and_take_the_median_ratio():
    result = precision_ratios(TINY_ENC, TINY_DEC, TrainConfig(batch_size=4), 30, 30, [(4, 5), (6, 3)], 2,
                              torch.device("cpu"), rounds=3)
    assert result["rounds"] == 3 and result["pairs_per_round"] == 8  # 2 batches of 4 pairs
    fp32, bf16, ratios = result["fp32_pairs_per_s"], result["bf16_pairs_per_s"], result["bf16_over_fp32"]
    assert len(fp32) == len(bf16) == len(ratios) == 3 and min(fp32 + bf16) > 0
    # Each round's ratio is its bf16 pairs/s over its fp32 pairs/s (those rounded to 0.1), the
    # median the middle one of three.
    for f, b, r in zip(fp32, bf16, ratios):
        assert abs(r - b / f) <= 0.001 + 0.1 * r / min(f, b)
    assert result["median_bf16_over_fp32"] == sorted(ratios)[1]


def test_cli_bench_json_with_tiny_params(tmp_path):
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["encoder"].update(embedding_size=8, hidden_size=8)
    params["decoder"].update(embedding_size=8, hidden_size=8)
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(params))
    write_pairs(tmp_path / "pairs.tsv", [("je suis la .", "i am here ."), ("va !", "go !")])
    result = seq2seq_cli("bench", "--params", str(tmp_path / "p.yaml"), "--pairs", str(tmp_path / "pairs.tsv"),
                         "--vocab", str(tmp_path / "none"), "--steps", "2", "--vocab-size", "50",
                         "--per-word-seconds", "0.05", "--device", "cpu", "--json", text=True)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    report = json.loads(lines[0])
    assert set(report) == {*BENCH_KEYS, "config", "device"} and report["device"] == "cpu"
    assert report["config"]["source_vocab"] == 50 and report["config"]["lengths_from"].endswith("pairs.tsv, in words")
    bad = seq2seq_cli("bench", "--steps", "0", text=True)
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    ratio = seq2seq_cli("bench", "--params", str(tmp_path / "p.yaml"), "--pairs", str(tmp_path / "pairs.tsv"),
                        "--vocab", str(tmp_path / "none"), "--steps", "1", "--vocab-size", "50", "--device", "cpu",
                        "--precision-ratio", "--rounds", "2", text=True)
    assert ratio.returncode == 0, ratio.stderr
    assert "round 2: fp32 " in ratio.stdout and "median bf16 / fp32: " in ratio.stdout
    for wrong in (["--rounds", "2"], ["--precision-ratio", "--rounds", "0"],
                  ["--precision-ratio", "--precision", "bf16"]):
        refused = seq2seq_cli("bench", *wrong, text=True)
        assert refused.returncode == 1 and "--" in refused.stderr and "Traceback" not in refused.stderr
    write_pairs(tmp_path / "empty.tsv", [])
    empty = seq2seq_cli("bench", "--params", str(tmp_path / "p.yaml"), "--pairs", str(tmp_path / "empty.tsv"),
                        text=True)
    assert empty.returncode == 1 and "holds no pairs" in empty.stderr and "Traceback" not in empty.stderr




def test_the_serve_bench_drives_a_real_server_and_counts_what_it_answered(served_checkpoint):
    from seq2seq.bench.serving import as_table, batching_ratios, drive, hang_up, start

    proc, base, _ = start(["--model", str(served_checkpoint), "--max-lines", "8", "--max-queue", "8"])
    try:
        load = drive(base, [[["Je suis froid."], ["Tu es grand !"]]] * 3, "3 clients", beam=1)
        assert load.statuses == {"200": 6} and load.sentences_per_s > 0 and 0 < load.p50_ms <= load.p99_ms
        hang_up(base, 2, {"text": ["Il est heureux."] * 8, "beam": 2})
        crowd = drive(base, [[["Nous sommes amis."] * 8]] * 4, "crowd", beam=2)
        assert sum(crowd.statuses.values()) == 4 and set(crowd.statuses) <= {"200", "503"}
        ratios = batching_ratios(base, itertools.repeat("Je suis froid."), beam=1, clients=4, rounds=2)
        assert len(ratios) == 2 and all(ratio > 0 for ratio in ratios)
        batching = [{"beam": 5, "clients": 32, "ratios": [0.9, 0.7, 0.8], "median": 0.8}]
        table = as_table({"loads": [vars(load), vars(crowd)], "resident_mb": {"start": 1.0, "peak": 2.0, "end": 2.0},
                          "batching": batching})
        assert "| 3 clients | 1 |" in table and "6 x 200" in table and "2.0 MB at the peak" in table
        assert "beam 5: 80% of its sentences/s, the median of 3 alternated rounds (0.90, 0.70, 0.80)" in table
    finally:
        proc.terminate()
        proc.wait(timeout=30)
