"""Translate raw sentences with a trained checkpoint, normalised exactly as in training."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator

from seq2seq.data.batching import encode_source
from seq2seq.data.text import TextOptions, normalize, tokenize
from seq2seq.decoding import greedy_translate
from seq2seq.model.seq2seq import LoadedModel

log = logging.getLogger("seq2seq.translate")


def translate_lines(loaded: LoadedModel, lines: Iterable[str], max_output_length: int,
                    batch_size: int) -> Iterator[str]:
    """Yield exactly one translation per input line, in order, `batch_size` lines at a time.

    Lines that normalise to nothing (empty, or no letters) give empty output lines; unknown words
    become `<unk>`; inputs longer than the training limit are truncated with a warning.
    """
    options = TextOptions(keep_accents=bool(loaded.text.get("keep_accents", False)),
                          keep_apostrophes=bool(loaded.text.get("keep_apostrophes", False)))
    max_tokens = int(loaded.text.get("max_length", 10)) - 1
    device = next(loaded.model.parameters()).device
    chunk: list[str] = []
    for number, line in enumerate(lines, start=1):
        words = tokenize(normalize(line, options))
        if len(words) > max_tokens:
            log.warning("line %d has %d words; the model was trained on at most %d: truncated", number,
                        len(words), max_tokens)
        chunk.append(" ".join(words[:max_tokens]))
        if len(chunk) >= batch_size:
            yield from _translate_chunk(loaded, chunk, max_output_length, device)
            chunk = []
    yield from _translate_chunk(loaded, chunk, max_output_length, device)


def _translate_chunk(loaded: LoadedModel, sentences: list[str], max_output_length: int,
                     device) -> list[str]:
    todo = [i for i, s in enumerate(sentences) if s]
    sources = [encode_source(sentences[i], loaded.source) for i in todo]
    outputs = [""] * len(sentences)
    if sources:
        for i, tokens in zip(todo, greedy_translate(loaded.model, sources, loaded.target, len(sources),
                                                    max_output_length, device)):
            outputs[i] = " ".join(tokens)
    return outputs
