"""Translate raw sentences with a trained checkpoint, normalised exactly as in training, and say
on stderr what the model cannot know: words it never saw, lines longer than its training data."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator

from seq2seq.checkpoint import LoadedModel
from seq2seq.data.batching import encode_source
from seq2seq.data.text import TextOptions, normalize, tokenize
from seq2seq.inference.search import translate_ids

log = logging.getLogger("seq2seq.translate")


def describe_domain(text: dict) -> str:
    """One sentence on what the model was trained on, from the checkpoint's text settings."""
    limit = int(text.get("max_length", 10))
    prefixes = text.get("eng_prefixes") or []
    domain = f"sentences of fewer than {limit} words"
    if prefixes:
        domain += " whose English starts with " + ", ".join(f"'{p.strip()}'" for p in prefixes)
    return domain


def translate_lines(loaded: LoadedModel, lines: Iterable[str], max_output_length: int,
                    batch_size: int, beam_size: int = 1, length_penalty: float = 1.0) -> Iterator[str]:
    """Yield exactly one translation per input line, in order, `batch_size` lines at a time: greedy
    with `beam_size` 1, else beam search scoring log-probability / length ** `length_penalty`.

    Lines that normalise to nothing (empty, or no letters) give empty output lines. One warning per
    line, when needed, names its unknown words (they become `<unk>`) and says when it is longer than
    the training limit (it is truncated to it).
    """
    options = TextOptions(keep_accents=bool(loaded.text.get("keep_accents", False)),
                          keep_apostrophes=bool(loaded.text.get("keep_apostrophes", False)))
    max_tokens = int(loaded.text.get("max_length", 10)) - 1
    device = next(loaded.model.parameters()).device
    chunk: list[str] = []
    warned = False
    for number, line in enumerate(lines, start=1):
        words = tokenize(normalize(line, options))
        notes = []
        unknown = loaded.unseen_words(" ".join(words))
        if unknown:
            how = "spelled from pieces" if loaded.source.kind == "bpe" else "read as <unk>"
            notes.append(f"never seen in training ({how}): " + ", ".join(dict.fromkeys(unknown)))
        if len(words) > max_tokens:
            notes.append(f"{len(words)} words, longer than any training sentence ({max_tokens}): truncated")
        if notes:
            if not warned:
                log.warning("this model knows only %s; expect poor output elsewhere", describe_domain(loaded.text))
                warned = True
            log.warning("line %d: %s", number, "; ".join(notes))
        chunk.append(" ".join(words[:max_tokens]))
        if len(chunk) >= batch_size:
            yield from _translate_chunk(loaded, chunk, max_output_length, device, beam_size, length_penalty)
            chunk = []
    yield from _translate_chunk(loaded, chunk, max_output_length, device, beam_size, length_penalty)


def _translate_chunk(loaded: LoadedModel, sentences: list[str], max_output_length: int, device,
                     beam_size: int, length_penalty: float) -> list[str]:
    todo = [i for i, s in enumerate(sentences) if s]
    sources = [encode_source(sentences[i], loaded.source) for i in todo]
    outputs = [""] * len(sentences)
    if sources:
        translations = translate_ids(loaded.model, sources, loaded.target, len(sources), max_output_length,
                                     device, beam_size=beam_size, length_penalty=length_penalty)
        for i, sentence in zip(todo, translations):
            outputs[i] = sentence
    return outputs
