"""The training loop: batched teacher forcing, validation each epoch, early stopping and the best
epoch's weights; in one process, or in several with DistributedDataParallel
(`seq2seq.training.distributed`)."""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass

import torch
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from seq2seq.config import TrainConfig
from seq2seq.data.batching import Batch, Example, TrainingPairs, collate, training_chunks
from seq2seq.data.vocab import EOS_ID, PAD_ID, UNK_ID, Vocab
from seq2seq.device import autocast
from seq2seq.errors import UserError
from seq2seq.evaluation.scoring import ScoringSet, evaluate_model
from seq2seq.model.seq2seq import Seq2Seq
from seq2seq.runner import interactive
from seq2seq.training.averaging import WeightAverage
from seq2seq.training.distributed import SINGLE, Workers, all_sum, from_main, shard
from seq2seq.training.objective import sequence_loss
from seq2seq.training.optim import UpdateRate, make_optimizer, make_scheduler, make_update_rate, step_scheduler

log = logging.getLogger("seq2seq.train")
VALID_BATCH_SIZE = 256  # validation only decodes: larger batches than training are fine
EpochLog = Callable[[dict], None]  # called with each epoch's history row, e.g. to log it with dvclive


def drop_words(src: torch.Tensor, rate: float, generator: torch.Generator) -> torch.Tensor:
    """Source word dropout: each real token of `src` (batch, src_len), never `<eos>` or padding,
    becomes `<unk>` with probability `rate` (one draw per position from `generator`), so the model
    learns what `<unk>` means and leans less on any single word."""
    if rate == 0.0:
        return src
    drop = torch.rand(src.shape, generator=generator) < rate
    return src.masked_fill(drop & (src != PAD_ID) & (src != EOS_ID), UNK_ID)


def shard_batch(examples: Sequence[Example], chunk: list[int], word_dropout: float, generator: torch.Generator,
                workers: Workers = SINGLE) -> tuple[Batch, int, float]:
    """The batch of `examples[chunk]` with source word dropout, cut to this process's rows; the
    number of scored target tokens in the whole batch; this process's loss weight.

    Every process collates the whole batch and draws its word dropout from the same `generator`,
    so they all stay in step with one process; each then keeps its rows (`distributed.shard`),
    still padded to the whole batch's width, as one process would run them.
    """
    batch = collate([examples[i] for i in chunk], chunk)
    batch.src = drop_words(batch.src, word_dropout, generator)
    tokens = int((batch.tgt_out != PAD_ID).sum())
    if workers.world_size == 1:
        return batch, tokens, 1.0
    rows, weight = shard(len(chunk), workers)
    return Batch(batch.src[rows], batch.src_lengths[rows], batch.tgt_in[rows], batch.tgt_out[rows],
                 batch.indices[rows]), tokens, weight


def train_epoch(model: torch.nn.Module, examples: Sequence[Example], cfg: TrainConfig,
                optimizer: torch.optim.Optimizer, *, generator: torch.Generator, device: torch.device,
                desc: str = "", progress: bool = True, workers: Workers = SINGLE,
                forcing: torch.Generator | None = None, rate: UpdateRate | None = None,
                average: WeightAverage | None = None) -> float:
    """One pass over shuffled `examples`; returns the mean per-token training loss (label-smoothed
    when `cfg.label_smoothing` is set: the objective being minimised). `progress` shows a bar with
    the loss and pairs/s on a terminal. With several `workers`, `model` is wrapped in DDP and every process walks
    the same batches, each training on its share of every batch. `forcing` draws teacher forcing
    (default: `generator`); `rate` scales the learning rate of each update (warm-up, cosine); `average`, if
    given, is updated after every step. The forward pass and the loss run in `cfg.precision`."""
    model.train()
    total, tokens, pairs, start = 0.0, 0, 0, time.perf_counter()
    chunks = training_chunks(examples, cfg.batch_size, generator, cfg.batching, cfg.bucket_width)
    if rate is not None:
        rate.begin_epoch(len(chunks))
    bar = tqdm(chunks, desc=desc, unit="batch", leave=False, mininterval=2.0, disable=not (progress and interactive()))
    with bar:
        for step, chunk in enumerate(bar, start=1):
            batch, n, weight = shard_batch(examples, chunk, cfg.word_dropout, generator, workers)
            batch = batch.to(device)
            scored = batch.tgt_out != PAD_ID  # (batch, tgt_len)
            with autocast(device, cfg.precision):
                logits = model(batch.src, batch.src_lengths, batch.tgt_in, cfg.teacher_forcing_ratio,
                               generator if forcing is None else forcing, scored)  # (tokens, vocab)
                loss = sequence_loss(logits, batch.tgt_out[scored], cfg.label_smoothing, cfg.smooth_over)[0] * weight
            value = all_sum(loss, workers)  # the whole batch's summed loss: the one host sync of the step
            if not math.isfinite(value):
                raise UserError(f"the training loss became {value} ({desc}, batch {step}); no model "
                                f"was written. Lower train.learning_rate (now {cfg.learning_rate}) or set "
                                "train.clip_grad_norm (e.g. 1.0).")
            optimizer.zero_grad()
            # DDP averages the processes' gradients: scaled by their number, the average is the
            # gradient of the whole batch's loss over its n tokens, exactly what one process takes.
            (loss * workers.world_size / n).backward()
            if cfg.clip_grad_norm > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_grad_norm)
            if rate is not None:
                rate.step()
            optimizer.step()
            if average is not None:
                average.update()
            total, tokens, pairs = total + value, tokens + n, pairs + len(chunk)
            bar.set_postfix(loss=f"{total / tokens:.3f}", pairs_s=f"{pairs / (time.perf_counter() - start):.0f}",
                            refresh=False)
    return total / max(tokens, 1)


@dataclass
class FitResult:
    history: list[dict]
    best_epoch: int
    best_state: dict


def replicate(model: Seq2Seq, seed: int, device: torch.device,
              workers: Workers) -> tuple[torch.nn.Module, torch.Generator | None]:
    """What to train and what draws teacher forcing: `model` and None (the shared generator) alone;
    with several processes, `model` in DDP and a generator of this process's own."""
    if workers.world_size == 1:
        return model, None
    # Dropout and teacher forcing draw per sentence of a process's own rows, so each process gets
    # its own streams; the shared generator keeps batches and word dropout alike in every process.
    own_seed = seed * workers.world_size + workers.rank
    torch.manual_seed(own_seed)
    net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    return net, torch.Generator().manual_seed(own_seed)


def validate(model: Seq2Seq, valid: ScoringSet, target: Vocab, max_len: int, device: torch.device,
             workers: Workers = SINGLE, precision: str = "fp32") -> dict[str, float]:
    """Validation loss and BLEU, in the training's `precision`; with several processes rank 0 scores
    and tells the others, so that all of them schedule and stop alike."""
    scores = None
    if workers.is_main:
        with autocast(device, precision):
            metrics = evaluate_model(model, valid, target, VALID_BATCH_SIZE, max_len, device).metrics
        scores = {"loss": metrics["loss"], "bleu": metrics["bleu"]}
    return from_main(scores, workers)


def fit(model: Seq2Seq, train: Sequence[Example] | TrainingPairs, valid: ScoringSet, target: Vocab, cfg: TrainConfig,
        device: torch.device, max_len: int, on_epoch: EpochLog | None = None,
        workers: Workers = SINGLE) -> FitResult:
    """Train for up to `cfg.epochs`, scoring the validation slice each epoch; keep the epoch with the
    best validation BLEU (ties: lower validation loss). With `cfg.patience`, stop once that many
    epochs in a row have not improved on the best. `on_epoch` gets each epoch's history row. With
    several `workers`, only rank 0 keeps the best weights and calls `on_epoch`. `train` is fixed
    examples, or TrainingPairs that may cut each epoch's pieces anew. With `cfg.ema_decay`, the
    moving average of the weights is what is validated and kept. A history row's `learning_rate`
    is the rate of the epoch's first update before any warm-up (with the cosine's factor)."""
    generator = torch.Generator().manual_seed(cfg.seed)
    net, forcing = replicate(model, cfg.seed, device, workers)
    optimizer = make_optimizer(model, cfg)
    scheduler = make_scheduler(optimizer, cfg)
    rate = make_update_rate(optimizer, cfg)
    average = WeightAverage(model, cfg.ema_decay) if cfg.ema_decay else None
    history, best, best_key = [], None, None
    for epoch in range(1, cfg.epochs + 1):
        start = time.perf_counter()
        examples = train.epoch(epoch) if isinstance(train, TrainingPairs) else train
        lr = optimizer.param_groups[0]["lr"] * rate.cosine_at(epoch - 1)  # its first update's, before warm-up
        train_loss = train_epoch(net, examples, cfg, optimizer, generator=generator, device=device,
                                 desc=f"epoch {epoch}/{cfg.epochs}", progress=workers.is_main, workers=workers,
                                 forcing=forcing, rate=rate, average=average)
        trained = time.perf_counter() - start
        with average.swapped_in() if average is not None else nullcontext():
            scores = validate(model, valid, target, max_len, device, workers, cfg.precision)
            key = (scores["bleu"], -scores["loss"])
            if best_key is None or key > best_key:
                best_key, best = key, (epoch, copy.deepcopy(model.state_dict()) if workers.is_main else {})
        rate.settle()
        step_scheduler(scheduler, scores["bleu"])
        row = {"epoch": epoch, "train_loss": round(train_loss, 4), "valid_loss": scores["loss"],
               "valid_bleu": scores["bleu"], "learning_rate": lr}
        history.append(row)
        # Wall-clock time goes to the log only: git-tracked outputs must repeat byte for byte.
        log.info("epoch %d/%d: train loss %.4f, valid loss %.4f, valid BLEU %.2f, %.1fs (training %.1fs)", epoch,
                 cfg.epochs, train_loss, scores["loss"], scores["bleu"], time.perf_counter() - start, trained)
        if on_epoch is not None and workers.is_main:
            on_epoch(row)
        if cfg.patience and epoch - best[0] >= cfg.patience:
            log.info("no better validation BLEU for %d epochs: stopping early after epoch %d", cfg.patience, epoch)
            break
    return FitResult(history, best[0], best[1])
