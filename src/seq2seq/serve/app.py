"""The translation server: FastAPI routes over the same code path as `seq2seq translate`
(`seq2seq.inference.translate`: preparing lines, searching, building results), so the page, the API
and the CLI never disagree.

- `POST /translate`: one result per input line (translation, score, n-best, unknown words, too
  long, attention when asked); requests beyond the server's `Limits` get a 413 or 422 naming the
  limit, malformed ones FastAPI's 422 naming the field; 503 with `Retry-After` when the queue is
  full, 504 past the deadline (`--timeout`).
- `GET /health` (liveness), `GET /ready` (readiness: 503 while the queue is full), `GET /metrics`
  (Prometheus), `GET /model` (settings, domain, vocabulary, metrics), `GET /` (the page), `/docs`.

The model is loaded once, before the server listens. One worker thread owns it
(`seq2seq.serve.batcher`): the lines of concurrent requests wait in a bounded queue and are decoded
together. A request whose client disconnects, or whose deadline passes, while its lines wait is
dropped before decoding. Errors never reach a client as a traceback: they are logged, and the
client gets a JSON 500.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import asdict
from importlib import resources
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

from seq2seq.checkpoint import LoadedModel
from seq2seq.config import EvaluateConfig
from seq2seq.inference.translate import describe_domain, prepare_lines
from seq2seq.serve.batcher import Batcher, BatcherStats, Busy, Expired, Job
from seq2seq.serve.limits import Limits

log = logging.getLogger("seq2seq.serve")
EVALUATE = EvaluateConfig()
CHECK_GONE_ABOVE_CHARS = 2000  # a request this large takes about 0.1 ms to prepare
ROUTES = ("/", "/translate", "/health", "/ready", "/metrics", "/model", "/docs", "/openapi.json")
class TranslateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: list[StrictStr] = Field(min_length=1, description="the lines to translate, one result each")
    beam: StrictInt = Field(EVALUATE.beam_size, ge=1, description="hypotheses kept per line; 1 is greedy")
    n_best: StrictInt = Field(1, ge=1, description="alternatives returned per line (at most beam)")
    attention: StrictBool = Field(False, description="return the attention weights of each translation")


class Alternative(BaseModel):
    translation: str
    score: float


class AttentionOut(BaseModel):
    source_tokens: list[str]
    output_tokens: list[str]
    weights: list[list[float]] = Field(description="one row per output token, one column per source token")


class Result(BaseModel):
    source: str = Field(description="the line as the model read it: normalised, truncated to the training limit")
    translation: str
    score: float | None = Field(description="log-probability / length ** length_penalty; null for an empty line")
    alternatives: list[Alternative] = Field(description="the n_best translations, best first")
    unknown_words: list[str] = Field(description="words of the line never seen in training")
    too_long: bool = Field(description="longer than any training sentence (then truncated)")
    attention: AttentionOut | None = None


class TranslateResponse(BaseModel):
    results: list[Result]


class Metrics:
    """The server's Prometheus metrics, in a registry of its own (one per app)."""

    def __init__(self):
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("seq2seq_requests", "HTTP requests answered, by route and status",
                                ["route", "status"], registry=r)
        self.lines = Counter("seq2seq_lines_translated", "lines decoded and answered", registry=r)
        self.dropped = Counter("seq2seq_lines_dropped", "lines not decoded: refused (queue full), gone (client "
                               "disconnected) or expired (past the deadline)", ["reason"], registry=r)
        self.queue = Gauge("seq2seq_queue_lines", "lines waiting to be decoded", registry=r)
        self.batch = Histogram("seq2seq_batch_lines", "lines per decoded batch", registry=r,
                               buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256))
        self.waiting = Histogram("seq2seq_queue_wait_seconds", "time a request's lines waited in the queue",
                                 registry=r)
        self.decoding = Histogram("seq2seq_decode_seconds", "time to decode one batch", registry=r)

    def batcher_stats(self) -> BatcherStats:
        return BatcherStats(batch=self.batch.observe, waited=self.waiting.observe, decoded=self.decoding.observe,
                            dropped=lambda reason, lines: self.dropped.labels(reason).inc(lines))


class _Observe:
    """ASGI middleware: one log line and one request count per request (a plain ASGI wrapper, so the
    routes still see the client's disconnect)."""

    def __init__(self, app, metrics: Metrics):
        self.app, self.metrics = app, metrics

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, status = time.perf_counter(), 500

        async def observed(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, observed)
        finally:
            path = scope["path"]
            log.info("%s %s %d %.0f ms", scope["method"], path, status, (time.perf_counter() - start) * 1000)
            self.metrics.requests.labels(path if path in ROUTES else "other", str(status)).inc()


def create_app(loaded: LoadedModel, limits: Limits, info: dict[str, Any], precision: str = "fp32") -> FastAPI:
    """The server's app for a loaded model (or ensemble); `info` is what `/model` adds about it
    (its paths, its metrics). It starts the decoding worker."""
    app = FastAPI(title="seq2seq", description="French-English LSTM translation (" + describe_domain(loaded.text)
                  + ")", version="1")
    device = next(loaded.model.parameters()).device
    page = resources.files("seq2seq.serve").joinpath("page.html").read_text(encoding="utf-8")
    metrics = Metrics()
    batcher = Batcher(loaded, precision, max_queue=limits.max_queue, max_wait=limits.max_wait,
                      arrival_gap=limits.arrival_gap, batch_lines=limits.batch_lines,
                      max_output_length=limits.max_output_length, length_penalty=limits.length_penalty,
                      stats=metrics.batcher_stats())
    metrics.queue.set_function(lambda: batcher.queued_lines)
    app.state.batcher = batcher
    app.add_middleware(_Observe, metrics=metrics)
    app.router.add_event_handler("shutdown", batcher.stop)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, err: Exception) -> JSONResponse:
        log.exception("%s %s failed", request.method, request.url.path)
        return JSONResponse({"detail": f"internal error ({type(err).__name__}); the server log has the details"},
                            status_code=500)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> str:
        return page

    @app.get("/health")
    def health() -> dict[str, str]:
        """Liveness: the server answers."""
        return {"status": "alive"}

    @app.get("/ready")
    def ready() -> JSONResponse:
        """Readiness: whether the queue takes work now (503 while it is full)."""
        queued = batcher.queued_lines
        full = queued >= limits.max_queue
        return JSONResponse({"status": "busy" if full else "ready", "queued_lines": queued,
                             "max_queue": limits.max_queue}, status_code=503 if full else 200)

    @app.get("/metrics", include_in_schema=False)
    def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/model")
    def model() -> dict[str, Any]:
        return {**info, "settings": asdict(loaded.model.settings), "domain": describe_domain(loaded.text),
                "text": loaded.text, "vocabulary": {"type": loaded.source.kind, "source_size": len(loaded.source),
                                                    "target_size": len(loaded.target)},
                "precision": precision, "device": str(device), "limits": asdict(limits)}

    @app.post("/translate", response_model=TranslateResponse,
              responses={503: {"description": "the queue is full: retry after Retry-After seconds"},
                         504: {"description": "not translated within the server's --timeout"}})
    async def translate(request: TranslateRequest, http: Request):
        _check(request, limits)
        # Asking whether the client has gone costs about as much as preparing a short line: worth it
        # only before preparing a large request.
        if sum(map(len, request.text)) > CHECK_GONE_ABOVE_CHARS and await http.is_disconnected():
            return JSONResponse({"detail": "the client closed the connection"}, status_code=499)
        job = Job(prepare_lines(loaded, request.text), request.beam, request.n_best, request.attention,
                  deadline=time.monotonic() + limits.timeout)
        try:
            await _submit(batcher, job)
        except Busy as err:
            metrics.dropped.labels("refused").inc(job.lines)
            # A full queue drains in well under a second at this model's size: retry after the minimum.
            return JSONResponse({"detail": f"busy: {err}. Retry after 1 s."}, status_code=503,
                                headers={"Retry-After": "1"})
        answer = asyncio.wrap_future(job.future)
        gone = asyncio.ensure_future(_disconnect(http))
        await _first_of(answer, gone, limits.timeout)
        gone.cancel()
        if gone.done() and not answer.done():
            batcher.withdraw(job)  # its lines leave the queue, or are dropped before decoding
            return JSONResponse({"detail": "the client closed the connection"}, status_code=499)
        if not answer.done():  # past the deadline: the worker drops it as expired if it has not started
            return _late(limits)
        if isinstance(answer.exception(), Expired):
            return _late(limits)
        metrics.lines.inc(job.lines)
        # Serialised here: the answer is built from typed results already, and FastAPI's second
        # validation of it against the response model would cost as much again per request.
        return Response(TranslateResponse(results=[_result(r) for r in answer.result()]).model_dump_json(),
                        media_type="application/json")

    return app


async def _submit(batcher: Batcher, job: Job, tries: int = 3) -> None:
    """Queue `job`; when the queue is full, first let the event loop handle the disconnects it has
    received (each withdraws its request's lines), then try again, before giving up with Busy."""
    for attempt in range(tries):
        try:
            batcher.submit(job)
            return
        except Busy:
            if attempt == tries - 1:
                raise
            await asyncio.sleep(0.005)


async def _first_of(answer: asyncio.Future, gone: asyncio.Future, timeout: float) -> None:
    """Return when `answer` or `gone` is done, or after `timeout` seconds: `asyncio.wait(...,
    return_when=FIRST_COMPLETED)` without the checks of its arguments, which showed in the profile
    of a busy server."""
    loop = asyncio.get_running_loop()
    woken = loop.create_future()

    def wake(_=None) -> None:
        if not woken.done():
            woken.set_result(None)

    answer.add_done_callback(wake)
    gone.add_done_callback(wake)
    timer = loop.call_later(timeout, wake)
    try:
        await woken
    finally:
        timer.cancel()
        answer.remove_done_callback(wake)
        gone.remove_done_callback(wake)


async def _disconnect(request: Request) -> None:
    """Return when the client disconnects (the request's body has been read already)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


def _late(limits: Limits) -> JSONResponse:
    return JSONResponse({"detail": f"not translated within this server's {limits.timeout:g} s (--timeout): "
                                   "send fewer lines, or retry later."}, status_code=504)


def _check(request: TranslateRequest, limits: Limits) -> None:
    """413 for a request larger than the limits, 422 for a search it may not ask for."""
    if len(request.text) > limits.max_lines:
        raise HTTPException(413, f"{len(request.text)} lines in one request; this server takes at most "
                                 f"{limits.max_lines} (--max-lines): send them in several requests.")
    longest = max(range(len(request.text)), key=lambda i: len(request.text[i]))
    if len(request.text[longest]) > limits.max_chars:
        raise HTTPException(413, f"line {longest + 1} has {len(request.text[longest])} characters; this server "
                                 f"takes at most {limits.max_chars} per line (--max-chars).")
    if request.beam > limits.max_beam:
        raise HTTPException(422, f"beam {request.beam} is above this server's limit of {limits.max_beam} "
                                 "(--max-beam).")
    if request.n_best > request.beam:
        raise HTTPException(422, f"n_best {request.n_best} is above beam {request.beam}: beam search keeps only "
                                 "beam hypotheses per line.")


def _result(r) -> Result:
    attention = AttentionOut(**asdict(r.attention)) if r.attention is not None else None
    return Result(source=r.source, translation=r.translation, score=r.score,
                  alternatives=[Alternative(translation=t, score=s) for t, s in r.alternatives],
                  unknown_words=r.unknown_words, too_long=r.too_long, attention=attention)
