"""`seq2seq bench`: how close training runs to the machine's arithmetic limit, in one sitting.

Synthetic batches shaped like the configuration (its vocabulary sizes, hidden sizes, layers,
attention, batch size, and sentence lengths drawn from the prepared data's), so the numbers measure
the model and the loop, not the data. Reported:

- `peak_gflops`: the best matrix-multiply rate torch reaches here (square GEMMs) in the precision
  trained in (`train.precision`: float32, or bfloat16 for bf16);
- `train_pairs_per_s`, `achieved_gflops` (see `seq2seq.bench.flops` for what is counted) and
  `mfu` = achieved / peak, for the real training step (`seq2seq.training.loop.train_epoch`);
- `per_word_pairs_per_s`: the original's loop (one sentence at a time, one LSTM step per word, the
  same sizes), and `speedup` = train_pairs_per_s / per_word_pairs_per_s;
- `translate_sentences_per_s`: batched greedy decoding as `evaluate` runs it;
- `beam_sentences_per_s`: batched beam search with `BENCH_BEAM` hypotheses per sentence.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from seq2seq.bench.flops import training_flops
from seq2seq.config import DecoderConfig, EncoderConfig, TrainConfig
from seq2seq.data.batching import Example
from seq2seq.data.vocab import EOS_ID, SOS_ID, SPECIALS, Vocab
from seq2seq.device import autocast
from seq2seq.inference.search import translate_ids
from seq2seq.model.attention import Attention
from seq2seq.model.bridge import Bridge
from seq2seq.model.factory import build_model
from seq2seq.model.seq2seq import ModelSettings, count_parameters
from seq2seq.training.loop import train_epoch
from seq2seq.training.optim import make_optimizer

BENCH_KEYS = ("peak_gflops", "train_pairs_per_s", "achieved_gflops", "mfu", "per_word_pairs_per_s",
              "speedup", "translate_sentences_per_s", "beam_sentences_per_s")
BENCH_BEAM = 5


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


class PerWordReference(nn.Module):
    """The original tutorial's training step at the same sizes: one sentence at a time, every LSTM
    layer and direction stepped one word at a time with LSTM cells, attention (with input feeding
    when set) and the output layer one target word at a time, then backward and an optimizer step
    per sentence."""

    def __init__(self, s: ModelSettings):
        super().__init__()
        self.dirs = 2 if s.bidirectional else 1
        enc_out = s.enc_hidden_size * self.dirs
        self.src_embedding = nn.Embedding(s.source_vocab_size, s.enc_embedding_size)
        self.enc_cells = nn.ModuleList(
            nn.LSTMCell(s.enc_embedding_size if layer == 0 else enc_out, s.enc_hidden_size)
            for layer in range(s.enc_num_layers) for _ in range(self.dirs))
        self.bridge = Bridge(s.enc_num_layers, enc_out, s.dec_num_layers, s.dec_hidden_size)
        self.tgt_embedding = nn.Embedding(s.target_vocab_size, s.dec_embedding_size)
        self.feeding = s.input_feeding and s.attention != "none"
        first_input = s.dec_embedding_size + (s.dec_hidden_size if self.feeding else 0)
        self.dec_cells = nn.ModuleList(
            nn.LSTMCell(first_input if layer == 0 else s.dec_hidden_size, s.dec_hidden_size)
            for layer in range(s.dec_num_layers))
        self.attention = Attention(s.attention, s.dec_hidden_size, enc_out) if s.attention != "none" else None
        if self.attention is not None:
            self.combine = nn.Linear(s.dec_hidden_size + enc_out, s.dec_hidden_size, bias=False)
        self.out = nn.Linear(s.dec_hidden_size, s.target_vocab_size)
        if s.tie_embeddings:
            self.out.weight = self.tgt_embedding.weight
        if s.tie_source_embedding:
            self.src_embedding.weight = self.tgt_embedding.weight

    def _run_cell(self, cell: nn.LSTMCell, inputs: list[torch.Tensor]) -> tuple[list[torch.Tensor], tuple]:
        h = c = torch.zeros(1, cell.hidden_size, device=inputs[0].device)
        outputs = []
        for x in inputs:  # one word at a time
            h, c = cell(x, (h, c))
            outputs.append(h)
        return outputs, (h, c)

    def loss(self, src: list[int], tgt: list[int]) -> torch.Tensor:
        """Summed cross-entropy of one pair, computed word by word."""
        device = self.out.weight.device
        inputs = [self.src_embedding(torch.tensor([i], device=device)) for i in src]  # each (1, emb)
        finals_h, finals_c = [], []
        for layer in range(len(self.enc_cells) // self.dirs):
            fwd, (h, c) = self._run_cell(self.enc_cells[layer * self.dirs], inputs)
            states_h, states_c, outs = [h], [c], fwd
            if self.dirs == 2:
                bwd, (hb, cb) = self._run_cell(self.enc_cells[layer * 2 + 1], inputs[::-1])
                outs = [torch.cat([f, b], dim=-1) for f, b in zip(fwd, bwd[::-1])]
                states_h, states_c = [h, hb], [c, cb]
            finals_h.append(torch.cat(states_h, dim=-1))
            finals_c.append(torch.cat(states_c, dim=-1))
            inputs = outs
        h0, c0 = self.bridge((torch.stack(finals_h), torch.stack(finals_c)))  # (layers, 1, dec)
        states = [(h0[k], c0[k]) for k in range(h0.size(0))]
        memory = None
        if self.attention is not None:
            values = torch.stack(inputs, dim=1)  # (1, src_len, enc)
            memory = self.attention.memory(values, torch.ones(values.shape[:2], dtype=torch.bool, device=device))
        total = torch.zeros((), device=device)
        feed = torch.zeros(1, self.out.in_features, device=device)
        for prev, gold in zip([SOS_ID] + tgt[:-1], tgt):
            x = self.tgt_embedding(torch.tensor([prev], device=device))
            if self.feeding:
                x = torch.cat([x, feed], dim=-1)
            for k, cell in enumerate(self.dec_cells):
                states[k] = cell(x, states[k])
                x = states[k][0]
            if memory is not None:
                context = self.attention(x.unsqueeze(1), memory)[0].squeeze(1)
                x = feed = torch.tanh(self.combine(torch.cat([x, context], dim=-1)))
            total = total + F.cross_entropy(self.out(x), torch.tensor([gold], device=device), reduction="sum")
        return total


def per_word_pairs_per_s(settings: ModelSettings, cfg: TrainConfig, examples: Sequence[Example],
                         device: torch.device, seconds: float) -> float:
    """Pairs per second of the per-word reference loop, run for about `seconds`."""
    model = PerWordReference(settings).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.learning_rate)
    done, start = 0, time.perf_counter()
    while done < 2 or time.perf_counter() - start < seconds:
        src, tgt = examples[done % len(examples)]
        optimizer.zero_grad()
        (model.loss(src, tgt) / len(tgt)).backward()
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
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    rng = random.Random(seed)
    drawn = [rng.choice(lengths) for _ in range(cfg.batch_size * steps)]
    examples = synthetic_examples(drawn, source_size, target_size, generator)
    model = build_model(enc, dec, source_size, target_size).to(device)
    optimizer = make_optimizer(model, cfg)
    peak = matmul_peak_gflops(device, dtype=torch.bfloat16 if cfg.precision == "bf16" else torch.float32)
    train_epoch(model, examples[:cfg.batch_size * 2], cfg, optimizer, generator, device, "warm-up", False)
    train_s = _timed(lambda: train_epoch(model, examples, cfg, optimizer, generator, device, "bench", False),
                     device)
    achieved = training_flops(model.settings, [(len(s), len(t)) for s, t in examples]) / train_s / 1e9
    train_rate = len(examples) / train_s
    # An untrained model rarely says <eos>: decode every sentence for the data's mean target length.
    steps_out = round(sum(t for _, t in drawn) / len(drawn))
    target = Vocab([*SPECIALS, *(f"w{i}" for i in range(target_size - len(SPECIALS)))])
    sources = [s for s, _ in examples]

    def decode(beam: int = 1) -> None:
        with autocast(device, cfg.precision):  # decoding follows the training precision, as evaluate does
            translate_ids(model, sources, target, decode_batch_size, steps_out, device, min_len=steps_out,
                          beam_size=beam)

    decode()  # warm-up
    translate_rate = len(sources) / _timed(decode, device)
    beam_rate = len(sources) / _timed(lambda: decode(BENCH_BEAM), device)
    per_word = per_word_pairs_per_s(model.settings, cfg, examples, device, per_word_seconds)
    return {"peak_gflops": round(peak, 1), "train_pairs_per_s": round(train_rate, 1),
            "achieved_gflops": round(achieved, 1), "mfu": round(achieved / peak, 3),
            "per_word_pairs_per_s": round(per_word, 1), "speedup": round(train_rate / per_word, 1),
            "translate_sentences_per_s": round(translate_rate, 1),
            "beam_sentences_per_s": round(beam_rate, 1),
            "parameters": count_parameters(model)}
