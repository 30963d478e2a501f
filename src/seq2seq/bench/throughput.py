"""`seq2seq bench`: how close training runs to the machine's arithmetic limit, in one sitting.

Synthetic batches shaped like the configuration (its vocabulary sizes, hidden sizes, layers,
attention, batch size, and sentence lengths drawn from the prepared data's), so the numbers measure
the model and the loop, not the data. Reported:

- `peak_gflops`: the best matrix-multiply rate torch reaches here (square GEMMs) in the precision
  trained in (`train.precision`: float32, or bfloat16 for bf16);
- `train_pairs_per_s`, `achieved_gflops` (see `seq2seq.bench.flops` for what is counted) and
  `mfu` = achieved / peak, for the real training step (`seq2seq.training.loop.train_epoch`);
- `per_word_pairs_per_s`: the original tutorial's loop, the word-by-word reference model
  (`seq2seq.model.reference`) on the same weights, one sentence at a time, and `speedup` =
  train_pairs_per_s / per_word_pairs_per_s;
- `translate_sentences_per_s`: batched greedy decoding as `evaluate` runs it;
- `beam_sentences_per_s`: batched beam search with `BENCH_BEAM` hypotheses per sentence.

`precision_ratios` (`seq2seq bench --precision-ratio`) times the training step alone in fp32 and in
bf16, alternated round by round in one process, and reports the median of the rounds' bf16 / fp32:
single timings on a shared machine drift by more than the difference between the precisions.
"""

from __future__ import annotations

import copy
import dataclasses
import random
import statistics
import time
from collections.abc import Callable, Sequence
from functools import partial

import torch

from seq2seq.bench.flops import training_flops
from seq2seq.config import PRECISIONS, DecoderConfig, EncoderConfig, TrainConfig
from seq2seq.data.batching import Example
from seq2seq.data.vocab import EOS_ID, SPECIALS, Vocab
from seq2seq.device import autocast
from seq2seq.inference.translate import translate_ids
from seq2seq.model import reference
from seq2seq.model.factory import build_model
from seq2seq.model.seq2seq import Seq2Seq, count_parameters
from seq2seq.training.loop import train_epoch
from seq2seq.training.optim import make_optimizer

BENCH_KEYS = ("peak_gflops", "train_pairs_per_s", "achieved_gflops", "mfu", "per_word_pairs_per_s",
              "speedup", "translate_sentences_per_s", "beam_sentences_per_s")
BENCH_BEAM = 5
PRECISION_ROUNDS = 5  # rounds of `precision_ratios`, each timing both precisions


def _timed(fn: Callable[[], object], device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def matmul_peak_gflops(device: torch.device, sizes: Sequence[int] = (512, 1024, 2048),
                       seconds: float = 0.5, dtype: torch.dtype = torch.float32) -> float:
    """The best GEMM rate in `dtype` over a few square sizes, each run for about `seconds`."""
    best = 0.0
    for n in sizes:
        a, b = (torch.randn(n, n, device=device, dtype=dtype) for _ in range(2))
        torch.mm(a, b)  # warm-up: thread pool, caches, CUDA context
        # The lambdas run at once, inside this iteration: binding the loop variables late is safe.
        reps = max(1, int(seconds / max(_timed(lambda: torch.mm(a, b), device), 1e-6)))  # noqa: B023
        elapsed = _timed(lambda: [torch.mm(a, b) for _ in range(reps)], device)  # noqa: B023
        best = max(best, 2 * n ** 3 * reps / elapsed / 1e9)
    return best


def synthetic_examples(lengths: Sequence[tuple[int, int]], source_size: int, target_size: int,
                       generator: torch.Generator) -> list[Example]:
    """Random (source, target) id lists with these token counts (each ending in `<eos>`)."""
    first = len(SPECIALS)
    out = []
    for src_len, tgt_len in lengths:
        src = torch.randint(first, source_size, (src_len - 1,), generator=generator).tolist()
        tgt = torch.randint(first, target_size, (tgt_len - 1,), generator=generator).tolist()
        out.append((src + [EOS_ID], tgt + [EOS_ID]))
    return out


def _batches(lengths: Sequence[tuple[int, int]], count: int, source_size: int, target_size: int,
             seed: int) -> tuple[list[Example], torch.Generator]:
    """`count` synthetic pairs with (source, target) token counts drawn from `lengths`, and the
    seeded generator training draws from next (torch's global seed set too, for the weights)."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    rng = random.Random(seed)
    drawn = [rng.choice(lengths) for _ in range(count)]
    return synthetic_examples(drawn, source_size, target_size, generator), generator


def _epoch_seconds(model: Seq2Seq, examples: Sequence[Example], cfg: TrainConfig, optimizer: torch.optim.Optimizer,
                   generator: torch.Generator, device: torch.device, desc: str) -> float:
    """Seconds of one real training pass (`train_epoch`) over `examples`."""
    return _timed(partial(train_epoch, model, examples, cfg, optimizer, generator=generator, device=device,
                          desc=desc, progress=False), device)


def per_word_pairs_per_s(model: Seq2Seq, cfg: TrainConfig, examples: Sequence[Example],
                         device: torch.device, seconds: float) -> float:
    """Pairs per second of the original tutorial's training step, run for about `seconds`: the
    word-by-word reference (`seq2seq.model.reference`) on a copy of `model`, one sentence at a
    time, then backward and an optimizer step per sentence."""
    model = copy.deepcopy(model).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.learning_rate)
    done, start = 0, time.perf_counter()
    while done < 2 or time.perf_counter() - start < seconds:
        src, tgt = examples[done % len(examples)]
        optimizer.zero_grad()
        (reference.loss(model, src, tgt) / len(tgt)).backward()
        optimizer.step()
        done += 1
    if device.type == "cuda":
        torch.cuda.synchronize()
    return done / (time.perf_counter() - start)


def run_bench(enc: EncoderConfig, dec: DecoderConfig, cfg: TrainConfig, source_size: int, target_size: int,
              lengths: Sequence[tuple[int, int]], steps: int, decode_batch_size: int, device: torch.device,
              per_word_seconds: float = 3.0, seed: int = 0) -> dict:
    """Measure everything `seq2seq bench` reports, in one process. `lengths` are (source, target)
    token counts to draw sentence shapes from."""
    examples, generator = _batches(lengths, cfg.batch_size * steps, source_size, target_size, seed)
    model = build_model(enc, dec, source_size, target_size).to(device)
    optimizer = make_optimizer(model, cfg)
    peak = matmul_peak_gflops(device, dtype=torch.bfloat16 if cfg.precision == "bf16" else torch.float32)
    epoch = partial(_epoch_seconds, model, examples, cfg, optimizer, generator, device)
    # Warm-up: one untimed pass over the same batches, so every product shape's kernel exists, as
    # it does after a real run's first batches (in bf16 oneDNN builds one per shape: docs/precision.md).
    epoch("warm-up")
    train_s = epoch("bench")
    achieved = training_flops(model.settings, [(len(s), len(t)) for s, t in examples]) / train_s / 1e9
    train_rate = len(examples) / train_s
    # An untrained model rarely says <eos>: decode every sentence for the data's mean target length.
    steps_out = round(sum(len(t) for _, t in examples) / len(examples))
    target = Vocab([*SPECIALS, *(f"w{i}" for i in range(target_size - len(SPECIALS)))])
    sources = [s for s, _ in examples]

    def decode(beam: int = 1) -> None:
        with autocast(device, cfg.precision):  # decoding follows the training precision, as evaluate does
            translate_ids(model, sources, target, decode_batch_size, steps_out, device, min_len=steps_out,
                          beam_size=beam)

    decode()  # warm-up, as training's
    decode(BENCH_BEAM)
    translate_rate = len(sources) / _timed(decode, device)
    beam_rate = len(sources) / _timed(lambda: decode(BENCH_BEAM), device)
    per_word = per_word_pairs_per_s(model, cfg, examples, device, per_word_seconds)
    return {"peak_gflops": round(peak, 1), "train_pairs_per_s": round(train_rate, 1),
            "achieved_gflops": round(achieved, 1), "mfu": round(achieved / peak, 3),
            "per_word_pairs_per_s": round(per_word, 1), "speedup": round(train_rate / per_word, 1),
            "translate_sentences_per_s": round(translate_rate, 1),
            "beam_sentences_per_s": round(beam_rate, 1),
            "parameters": count_parameters(model)}


def precision_ratios(enc: EncoderConfig, dec: DecoderConfig, cfg: TrainConfig, source_size: int,
                     target_size: int, lengths: Sequence[tuple[int, int]], steps: int, device: torch.device,
                     rounds: int = PRECISION_ROUNDS, seed: int = 0) -> dict:
    """Training pairs/s of the same model and batches in each precision, alternated for `rounds`
    rounds (which goes first alternates too), each precision's model warmed up on the batches
    first; every round's bf16 / fp32 and their median, the figure to judge bf16 by."""
    examples, generator = _batches(lengths, cfg.batch_size * steps, source_size, target_size, seed)
    model = build_model(enc, dec, source_size, target_size).to(device)
    epochs = {}
    for precision in PRECISIONS:  # the same starting weights in each precision
        run_cfg = dataclasses.replace(cfg, precision=precision)
        run_model = copy.deepcopy(model)
        epochs[precision] = partial(_epoch_seconds, run_model, examples, run_cfg,
                                    make_optimizer(run_model, run_cfg), generator, device, precision)
    for precision in PRECISIONS[::-1]:  # warm-up, untimed
        epochs[precision]()
    seconds: dict[str, list[float]] = {precision: [] for precision in PRECISIONS}
    for n in range(rounds):
        for precision in (PRECISIONS[::-1] if n % 2 else PRECISIONS):
            seconds[precision].append(epochs[precision]())
    ratios = [fp32 / bf16 for fp32, bf16 in zip(seconds["fp32"], seconds["bf16"])]
    return {"rounds": rounds, "pairs_per_round": len(examples),
            **{f"{p}_pairs_per_s": [round(len(examples) / s, 1) for s in seconds[p]] for p in PRECISIONS},
            "bf16_over_fp32": [round(r, 3) for r in ratios],
            "median_bf16_over_fp32": round(statistics.median(ratios), 3)}
