"""The translation server: FastAPI routes over `seq2seq.inference.translate.translate_sentences`,
the same code path as `seq2seq translate`, so the page, the API and the CLI never disagree.

- `POST /translate`: one result per input line (translation, score, n-best, unknown words, too
  long, attention when asked); requests beyond the server's `Limits` get a 413 or 422 naming the
  limit, malformed ones FastAPI's 422 naming the field.
- `GET /health`, `GET /model` (settings, domain, vocabulary, metrics), `GET /` (the page), `/docs`.

The model is loaded once, before the server listens; requests take turns on it (one lock), each
request's lines decoded as one batch. Errors never reach a client as a traceback: they are logged,
and the client gets a JSON 500.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import asdict
from importlib import resources
from typing import Any

import torch
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

from seq2seq.checkpoint import LoadedModel
from seq2seq.config import EvaluateConfig
from seq2seq.device import autocast
from seq2seq.inference.translate import describe_domain, translate_sentences
from seq2seq.serve.limits import Limits

log = logging.getLogger("seq2seq.serve")
EVALUATE = EvaluateConfig()


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


def create_app(loaded: LoadedModel, limits: Limits, info: dict[str, Any], precision: str = "fp32") -> FastAPI:
    """The server's app for a loaded model (or ensemble); `info` is what `/model` adds about it
    (its paths, its metrics)."""
    app = FastAPI(title="seq2seq", description="French-English LSTM translation (" + describe_domain(loaded.text)
                  + ")", version="1")
    lock = threading.Lock()  # one decoding at a time: torch uses every core for one batch anyway
    device = next(loaded.model.parameters()).device
    page = resources.files("seq2seq.serve").joinpath("page.html").read_text(encoding="utf-8")

    @app.middleware("http")
    async def log_request(request: Request, call_next):
        start = time.perf_counter()
        response = await call_next(request)
        log.info("%s %s %d %.0f ms", request.method, request.url.path, response.status_code,
                 (time.perf_counter() - start) * 1000)
        return response

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
        return {"status": "ready"}

    @app.get("/model")
    def model() -> dict[str, Any]:
        return {**info, "settings": asdict(loaded.model.settings), "domain": describe_domain(loaded.text),
                "text": loaded.text, "vocabulary": {"type": loaded.source.kind, "source_size": len(loaded.source),
                                                    "target_size": len(loaded.target)},
                "precision": precision, "device": str(device), "limits": asdict(limits)}

    @app.post("/translate", response_model=TranslateResponse)
    def translate(request: TranslateRequest) -> TranslateResponse:
        _check(request, limits)
        with lock, torch.inference_mode(), autocast(device, precision):
            results = translate_sentences(loaded, request.text, limits.max_output_length, request.beam,
                                          limits.length_penalty, request.n_best, request.attention)
        return TranslateResponse(results=[_result(r) for r in results])

    return app


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
