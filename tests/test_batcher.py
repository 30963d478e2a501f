"""The server's batching across requests (`seq2seq.serve.batcher`): a line's result does not depend
on what it was batched with; a full queue refuses at once; lines past their deadline or of a client
that has gone are never decoded."""

from __future__ import annotations

import time
from concurrent.futures import CancelledError

import pytest

from seq2seq.checkpoint import load_checkpoint
from seq2seq.inference.translate import prepare_lines, translate_sentences
from seq2seq.serve.batcher import Batcher, BatcherStats, Busy, Expired, Job

LINES = ["Je suis froid.", "Tu es grand !", "Il est heureux.", "Je suis ornithorynque.", "", "...",
         "je suis medecin et je suis froid et ami .", "elle est ma soeur .", "nous sommes amis ."]


class Recorded(BatcherStats):
    """Every batch size and every drop the worker reports."""

    def __init__(self):
        self.batches, self.drops = [], []
        super().__init__(batch=self.batches.append, dropped=lambda reason, lines: self.drops.append((reason, lines)))


def batcher(loaded, **overrides) -> tuple[Batcher, Recorded]:
    stats = Recorded()
    # arrival_gap as long as max_wait: the worker waits the full max_wait for a batch to fill
    settings = {"max_queue": 64, "max_wait": 0.0, "batch_lines": 64, "max_output_length": 10,
                "length_penalty": 1.0, **overrides}
    settings.setdefault("arrival_gap", settings["max_wait"])
    return Batcher(loaded, "fp32", stats=stats, **settings), stats


def job(loaded, lines, beam=1, n_best=1, attention=False, deadline=60.0) -> Job:
    return Job(prepare_lines(loaded, lines), beam, n_best, attention, deadline=time.monotonic() + deadline)


@pytest.mark.parametrize("beam, n_best", [(1, 1), (3, 1), (4, 3)])
def test_a_line_decodes_batched_as_it_does_alone(served_checkpoint, beam, n_best):
    loaded = load_checkpoint(served_checkpoint)
    # The worker waits for the batch to fill, so the nine requests (one line each, every other
    # with attention) decode together, sorted by length, beside lines that need no decoding.
    work, stats = batcher(loaded, max_wait=30.0, batch_lines=8)
    jobs = [job(loaded, [line], beam, n_best, attention=i % 2 == 0) for i, line in enumerate(LINES)]
    for j in jobs:
        work.submit(j)
    results = [j.future.result(timeout=60)[0] for j in jobs]
    work.stop()
    assert stats.batches == [8]  # every line but the empty one, in one batch
    for i, (line, batched) in enumerate(zip(LINES, results)):
        alone = translate_sentences(loaded, [line], 10, beam, 1.0, n_best, attention=i % 2 == 0)[0]
        assert batched.translation == alone.translation and batched.source == alone.source
        assert [t for t, _ in batched.alternatives] == [t for t, _ in alone.alternatives]
        assert [s for _, s in batched.alternatives] == pytest.approx([s for _, s in alone.alternatives], abs=1e-5)
        assert (batched.attention is None) == (alone.attention is None)
        if alone.attention is not None:
            assert batched.attention.output_tokens == alone.attention.output_tokens
            for row, alone_row in zip(batched.attention.weights, alone.attention.weights, strict=True):
                assert row == pytest.approx(alone_row, abs=2e-4)  # rounded to 4 decimals
        assert (batched.unknown_words, batched.too_long) == (alone.unknown_words, alone.too_long)


def test_requests_that_must_decode_differently_are_batched_apart(served_checkpoint):
    loaded = load_checkpoint(served_checkpoint)
    work, stats = batcher(loaded, max_wait=30.0, batch_lines=6)
    jobs = [job(loaded, LINES[:2]), job(loaded, LINES[2:4], beam=3), job(loaded, LINES[6:8])]
    for j in jobs:
        work.submit(j)
    for j in jobs:
        j.future.result(timeout=60)
    work.stop()
    assert sorted(stats.batches) == [2, 4]  # greedy's four lines together, beam 3's two apart


def test_a_full_queue_refuses_a_request_at_once(served_checkpoint):
    loaded = load_checkpoint(served_checkpoint)
    work, _ = batcher(loaded, max_queue=4, max_wait=30.0, batch_lines=64)  # the worker waits for more
    first = job(loaded, LINES[:3])
    work.submit(first)
    assert work.queued_lines == 3
    with pytest.raises(Busy, match="the queue holds at most 4"):
        work.submit(job(loaded, LINES[6:8]))
    work.submit(job(loaded, [""]))  # a line with nothing to decode takes no room
    work.submit(job(loaded, LINES[8:9]))  # one more line fits
    assert work.queued_lines == 4
    work.stop()
    with pytest.raises(Busy):
        first.future.result(timeout=5)


def test_lines_past_their_deadline_or_of_a_client_gone_are_not_decoded(served_checkpoint):
    loaded = load_checkpoint(served_checkpoint)
    work, stats = batcher(loaded, max_wait=1.0, batch_lines=64)
    late, gone, kept = job(loaded, LINES[:2], deadline=0.0), job(loaded, LINES[2:4]), job(loaded, LINES[6:7])
    gone.gone.set()
    for j in (late, gone, kept):
        work.submit(j)
    assert kept.future.result(timeout=60)[0].translation
    work.stop()
    with pytest.raises(Expired):
        late.future.result(timeout=5)
    with pytest.raises(CancelledError):
        gone.future.result(timeout=5)
    assert sorted(stats.drops) == [("expired", 2), ("gone", 2)] and stats.batches == [1]
