"""The GPU path: the tiny pipeline trained, evaluated, translated and benchmarked on CUDA, and
reruns that repeat there (seq2seq.device.make_deterministic). Skipped where no CUDA GPU is visible;
the device check in docs/speed.md runs them."""

from __future__ import annotations

import json

import pytest
import torch

from seq2seq.config import DecoderConfig, EncoderConfig, TrainConfig
from seq2seq.data.batching import encode_pairs
from seq2seq.device import make_deterministic
from seq2seq.model.factory import build_model
from seq2seq.training.loop import train_epoch
from seq2seq.training.optim import make_optimizer
from tests.conftest import PAIRS, PLAIN_TRAIN, SOURCE, TARGET, ran, set_params, sh

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU visible")
CUDA = torch.device("cuda")


def trained_weights(precision: str) -> dict[str, torch.Tensor]:
    """A tiny default-shaped model (input feeding, tied embeddings, dropout) after 20 epochs on CUDA."""
    make_deterministic(CUDA)
    torch.manual_seed(0)
    sizes = {"embedding_size": 16, "hidden_size": 16}
    model = build_model(EncoderConfig(**sizes), DecoderConfig(**sizes), len(SOURCE), len(TARGET)).to(CUDA)
    cfg = TrainConfig(batch_size=3, learning_rate=0.01, precision=precision, **PLAIN_TRAIN)
    optimizer, gen = make_optimizer(model, cfg), torch.Generator().manual_seed(0)
    examples = encode_pairs(PAIRS, SOURCE, TARGET)
    losses = [train_epoch(model, examples, cfg, optimizer, generator=gen, device=CUDA, desc="cuda", progress=False)
              for _ in range(20)]
    assert losses[-1] < losses[0]
    return {k: v.cpu() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_training_on_cuda_repeats_exactly(precision):
    first, second = trained_weights(precision), trained_weights(precision)
    assert all(torch.equal(first[k], second[k]) for k in first)


@pytest.mark.e2e
def test_the_tiny_pipeline_on_cuda_trains_evaluates_translates_and_benches(repo):
    repo, env = repo
    set_params(repo, {"train": {"device": "cuda"}, "evaluate": {"device": "cuda"}})
    first = sh(repo, env, "dvc", "repro")
    assert "training on cuda" in first.stderr + first.stdout
    model, metrics = (repo / "models/model.pt").read_bytes(), (repo / "results/metrics.json").read_text()
    again = sh(repo, env, "dvc", "repro", "-f", "train", "evaluate")
    assert ran(again) == {"train", "evaluate"}
    assert (repo / "models/model.pt").read_bytes() == model  # deterministic on the GPU too
    assert (repo / "results/metrics.json").read_text() == metrics
    out = sh(repo, env, "seq2seq", "translate", "--device", "cuda", "je suis froid .", "il est grand .")
    cpu = sh(repo, env, "seq2seq", "translate", "--device", "cpu", "je suis froid .", "il est grand .")
    assert len(out.stdout.splitlines()) == 2 and len(cpu.stdout.splitlines()) == 2
    bench = json.loads(sh(repo, env, "seq2seq", "bench", "--device", "cuda", "--json", "--steps", "3",
                          "--per-word-seconds", "0.5").stdout)
    assert bench["device"].startswith("cuda") and bench["train_pairs_per_s"] > 0
