"""Batching across requests: one worker thread owns the model, requests put their prepared lines on
a bounded queue, and the worker decodes what is waiting together.

A request's lines wait in the queue as one job. The worker takes jobs in arrival order until it
holds `batch_lines` lines, or until requests stop arriving (none for `arrival_gap`), or `max_wait`
seconds after the first job, whichever comes first; it drops the jobs
whose client has gone or whose deadline has passed, groups the rest by what must decode alike
(beam size and n-best), sorts each group's lines by length, cuts them into batches of
`batch_lines`, and answers each job when its lines are done. A line's result does not depend on
what it was batched with (tests/test_batcher.py). The queue is bounded in lines: a job that would
overflow it is refused at once (`Busy`), so memory and waiting stay bounded under any load.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

import torch

from seq2seq.checkpoint import LoadedModel
from seq2seq.device import autocast
from seq2seq.inference.translate import Translation, decode_prepared

log = logging.getLogger("seq2seq.serve")


class Busy(Exception):
    """The queue cannot take a job's lines now."""


class Expired(Exception):
    """A job's deadline passed before its lines were decoded."""


@dataclass
class Job:
    """One request's prepared lines (`seq2seq.inference.translate.prepare_lines`) and how to decode them."""

    results: list[Translation]
    beam: int
    n_best: int
    attention: bool
    deadline: float  # time.monotonic() past which its lines are not decoded
    future: Future = field(default_factory=Future)  # set to `results` when done, or to an exception
    gone: threading.Event = field(default_factory=threading.Event)  # set when its client has disconnected
    queued_at: float = field(default_factory=time.monotonic)

    @property
    def lines(self) -> int:
        """Lines to decode (those that normalise to nothing need none)."""
        return sum(1 for r in self.results if r.source)


@dataclass
class BatcherStats:
    """What the worker reports as it goes: each hook is called from the worker thread."""

    batch: Callable[[int], None] = lambda lines: None  # a batch of that many lines was decoded
    waited: Callable[[float], None] = lambda seconds: None  # a job waited that long in the queue
    decoded: Callable[[float], None] = lambda seconds: None  # a batch took that long to decode
    dropped: Callable[[str, int], None] = lambda reason, lines: None  # a job's lines dropped: gone or expired


class Batcher:
    """The worker thread and its queue."""

    def __init__(self, loaded: LoadedModel, precision: str, *, max_queue: int, max_wait: float, arrival_gap: float,
                 batch_lines: int, max_output_length: int, length_penalty: float, stats: BatcherStats | None = None):
        self.loaded, self.precision = loaded, precision
        self.max_queue, self.batch_lines = max_queue, batch_lines
        self.max_wait, self.arrival_gap = max_wait, arrival_gap
        self.max_output_length, self.length_penalty = max_output_length, length_penalty
        self.stats = stats or BatcherStats()
        self._jobs: deque[Job] = deque()
        self._queued = 0  # lines in self._jobs
        self._arrivals = 0  # jobs queued so far
        self._cond = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="seq2seq-decoder", daemon=True)
        self._thread.start()

    @property
    def queued_lines(self) -> int:
        """Lines waiting to be decoded."""
        return self._queued

    def submit(self, job: Job) -> None:
        """Queue `job`, or raise Busy when its lines would overflow the queue."""
        with self._cond:
            if self._queued + job.lines > self.max_queue:
                raise Busy(f"{self._queued} lines are waiting and this request has {job.lines}; the queue holds "
                           f"at most {self.max_queue} (--max-queue)")
            if job.lines == 0:  # nothing to decode: answered at once
                job.future.set_result(job.results)
                return
            self._jobs.append(job)
            self._queued += job.lines
            self._arrivals += 1
            self._cond.notify()

    def withdraw(self, job: Job) -> None:
        """Take back a job whose client has gone: its lines leave the queue at once, never decoded
        (one the worker has taken already is dropped there, if it has not started decoding)."""
        job.gone.set()
        with self._cond:
            if job in self._jobs:
                self._jobs.remove(job)
                self._queued -= job.lines
                self.stats.dropped("gone", job.lines)
                job.future.cancel()

    def stop(self) -> None:
        """Stop the worker after its current batch; jobs still queued are refused."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self._thread.join(timeout=10)
        for job in self._jobs:
            job.future.set_exception(Busy("the server is stopping"))

    def _take(self) -> list[Job] | None:
        """The next jobs to decode (at least one, about `batch_lines` lines), or None when stopping."""
        with self._cond:
            while not self._jobs and not self._stopping:
                self._cond.wait()
            if self._stopping:
                return None
            # Wait for more while requests keep arriving (one at least every arrival_gap), up to
            # max_wait after the first: a burst of clients fills a batch, a lone request goes at once.
            ready_at = self._jobs[0].queued_at + self.max_wait
            while self._queued < self.batch_lines and not self._stopping:
                left = ready_at - time.monotonic()
                arrivals = self._arrivals
                if left <= 0 or not self._cond.wait(min(left, self.arrival_gap)) and self._arrivals == arrivals:
                    break
            if self._stopping:
                return None
            taken, lines = [], 0
            while self._jobs and (not taken or lines + self._jobs[0].lines <= self.batch_lines):
                job = self._jobs.popleft()
                taken.append(job)
                lines += job.lines
            self._queued -= lines
            return taken

    def _run(self) -> None:
        device = next(self.loaded.model.parameters()).device
        while (jobs := self._take()) is not None:
            now = time.monotonic()
            live = []
            for job in jobs:
                self.stats.waited(now - job.queued_at)
                if job.gone.is_set():
                    self.stats.dropped("gone", job.lines)
                    job.future.cancel()
                elif now > job.deadline:
                    self.stats.dropped("expired", job.lines)
                    job.future.set_exception(Expired())
                else:
                    live.append(job)
            groups: dict[tuple[int, int], list[Job]] = {}
            for job in live:
                groups.setdefault((job.beam, job.n_best), []).append(job)
            for (beam, n_best), group in groups.items():
                try:
                    with torch.inference_mode(), autocast(device, self.precision):
                        self._decode(group, beam, n_best)
                except Exception as err:  # noqa: BLE001 - the client gets a 500, the log the traceback
                    log.exception("decoding failed")
                    for job in group:
                        job.future.set_exception(err)
                    continue
                for job in group:
                    job.future.set_result(job.results)

    def _decode(self, jobs: Sequence[Job], beam: int, n_best: int) -> None:
        """Decode the lines of `jobs` (one beam size and n-best) in batches of alike lengths."""
        rows = [(r, job.attention) for job in jobs for r in job.results if r.source]
        rows.sort(key=lambda row: len(row[0].source_ids))
        for start in range(0, len(rows), self.batch_lines):
            batch = rows[start:start + self.batch_lines]
            began = time.perf_counter()
            decode_prepared(self.loaded, [r for r, _ in batch], self.max_output_length, beam, self.length_penalty,
                            n_best, [wants for _, wants in batch])
            self.stats.decoded(time.perf_counter() - began)
            self.stats.batch(len(batch))
