"""`seq2seq bench` runs and reports; its numbers are measurements, never asserted as speeds."""

import subprocess
import sys

import torch
import yaml

from seq2seq.bench import run_bench, synthetic_examples
from seq2seq.config import DecoderConfig, EncoderConfig, TrainConfig
from tests.conftest import REPO


def test_synthetic_examples_shape():
    examples = synthetic_examples(5, 20, 30, 7, torch.Generator().manual_seed(0))
    assert len(examples) == 5
    assert all(len(s) == len(t) == 8 and s[-1] == t[-1] == 2 and min(s[:-1]) >= 4 for s, t in examples)


def test_run_bench_reports_positive_rates():
    result = run_bench(EncoderConfig(embedding_size=8, hidden_size=8), DecoderConfig(embedding_size=8, hidden_size=8),
                       TrainConfig(batch_size=4), 30, 30, 5, 2, torch.device("cpu"))
    assert result.device == "cpu" and result.parameters > 0
    assert result.train_pairs_per_s > 0 and result.decode_sentences_per_s > 0


def test_cli_bench_with_tiny_params(tmp_path):
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["encoder"].update(embedding_size=8, hidden_size=8)
    params["decoder"].update(embedding_size=8, hidden_size=8)
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(params))
    result = subprocess.run([sys.executable, "-m", "seq2seq", "bench", "--params", str(tmp_path / "p.yaml"),
                             "--steps", "2", "--vocab-size", "50", "--device", "cpu"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "pairs/s" in result.stdout and "sentences/s" in result.stdout
    bad = subprocess.run([sys.executable, "-m", "seq2seq", "bench", "--steps", "0"], capture_output=True, text=True)
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
