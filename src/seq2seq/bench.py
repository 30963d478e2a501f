"""Throughput of training and greedy decoding for a model configuration: `seq2seq bench`.

Synthetic sentences of a fixed length over synthetic vocabularies, so the numbers measure the model
and the loop, not the data; the real pipeline's rate is in the training bar and results/history.tsv.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from seq2seq.config import DecoderConfig, EncoderConfig, TrainConfig
from seq2seq.data.batching import Example
from seq2seq.data.vocab import EOS_ID, SPECIALS, Vocab
from seq2seq.decoding import greedy_translate
from seq2seq.model.seq2seq import count_parameters
from seq2seq.training import build_model, make_optimizer, train_epoch


@dataclass
class BenchResult:
    device: str
    parameters: int
    train_pairs_per_s: float
    decode_sentences_per_s: float


def synthetic_examples(n: int, source_size: int, target_size: int, length: int,
                       generator: torch.Generator) -> list[Example]:
    """`n` random (source, target) id lists of `length` words plus `<eos>`."""
    first = len(SPECIALS)
    src = torch.randint(first, source_size, (n, length), generator=generator).tolist()
    tgt = torch.randint(first, target_size, (n, length), generator=generator).tolist()
    return [(s + [EOS_ID], t + [EOS_ID]) for s, t in zip(src, tgt)]


def _timed(fn, device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def run_bench(enc: EncoderConfig, dec: DecoderConfig, cfg: TrainConfig, source_size: int, target_size: int,
              length: int, steps: int, device: torch.device) -> BenchResult:
    """Time `steps` training batches and the greedy decoding of as many sentences, after a warm-up."""
    torch.manual_seed(cfg.seed)
    generator = torch.Generator().manual_seed(cfg.seed)
    model = build_model(enc, dec, source_size, target_size).to(device)
    optimizer = make_optimizer(model, cfg)
    examples = synthetic_examples(cfg.batch_size * steps, source_size, target_size, length, generator)
    target = Vocab([*SPECIALS, *(f"w{i}" for i in range(target_size - len(SPECIALS)))])
    sources = [s for s, _ in examples]
    train_epoch(model, examples[:cfg.batch_size], cfg, optimizer, generator, device, "warm-up")
    train_s = _timed(lambda: train_epoch(model, examples, cfg, optimizer, generator, device, "bench"), device)
    # An untrained model may say <eos> at once; forbid it so every sentence decodes `length` + 1 steps.
    decode_s = _timed(lambda: greedy_translate(model, sources, target, cfg.batch_size, length + 1, device,
                                               min_len=length), device)
    return BenchResult(str(device), count_parameters(model), len(examples) / train_s, len(sources) / decode_s)
