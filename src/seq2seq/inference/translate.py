"""Translate with a trained checkpoint (or an ensemble). Raw sentences, normalised exactly as in
training: each line's translation, its score, the n-best alternatives, the words the model never
saw, whether the line was longer than the training data and, when asked, the attention weights;
`seq2seq translate` goes through `translate_sentences`, `seq2seq serve` through its two halves,
`prepare_lines` and `decode_prepared`, with the lines of several requests in one batch. Whole lists of
encoded sources, in batches of similar length: `translate_ids`, for scoring (validation, the
evaluate stage) and the benchmark."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import torch

from seq2seq.checkpoint import LoadedModel
from seq2seq.data.batching import encode_source, pad_sources
from seq2seq.data.text import TextOptions, normalize, tokenize
from seq2seq.data.vocab import Vocab
from seq2seq.inference.alignment import Attention, align
from seq2seq.inference.search import search
from seq2seq.model.seq2seq import Seq2Seq

log = logging.getLogger("seq2seq.translate")


def describe_domain(text: dict) -> str:
    """One sentence on what the model was trained on, from the checkpoint's text settings."""
    limit = int(text.get("max_length", 10))
    prefixes = text.get("eng_prefixes") or []
    domain = f"sentences of fewer than {limit} words"
    if prefixes:
        domain += " whose English starts with " + ", ".join(f"'{p.strip()}'" for p in prefixes)
    return domain


@dataclass
class Translation:
    """One input line's result."""

    source: str  # the line as the model read it: normalised, truncated to the training limit
    translation: str  # the best translation ('' when the line normalises to nothing)
    score: float | None  # its log-probability / length ** length_penalty (None for an empty line)
    alternatives: list[tuple[str, float]] = field(default_factory=list)  # the n best, best first
    unknown_words: list[str] = field(default_factory=list)  # words never seen in training
    too_long: bool = False  # longer than any training sentence (then truncated)
    words: int = 0  # words of the normalised line, before truncation
    attention: Attention | None = None  # when asked for, and the model has attention
    source_ids: list[int] = field(default_factory=list, repr=False)  # `source` encoded, `<eos>` ended


def translate_sentences(loaded: LoadedModel, lines: Sequence[str], max_output_length: int, beam_size: int = 1,
                        length_penalty: float = 1.0, n_best: int = 1, attention: bool = False,
                        reference: bool = False) -> list[Translation]:
    """Translate `lines` together (one batch): exactly one result per line, in order. Greedy with
    `beam_size` 1, else beam search; `n_best` (at most `beam_size`) alternatives per line. Lines that
    normalise to nothing (empty, or no letters) give an empty translation. `reference` decodes
    greedily with the word-by-word reference model instead, one line at a time (beam 1 only)."""
    results = prepare_lines(loaded, lines)
    todo = [r for r in results if r.source]
    if todo:
        decode_prepared(loaded, todo, max_output_length, beam_size, length_penalty, n_best, attention, reference)
    return results


def prepare_lines(loaded: LoadedModel, lines: Sequence[str]) -> list[Translation]:
    """Each line normalised as in training, truncated to the training limit and encoded (`source`,
    `source_ids`), with the words the model never saw and whether it was too long; its translation
    still empty. A line that normalises to nothing has an empty `source` and needs no decoding."""
    options = TextOptions(keep_accents=bool(loaded.text.get("keep_accents", False)),
                          keep_apostrophes=bool(loaded.text.get("keep_apostrophes", False)))
    max_tokens = int(loaded.text.get("max_length", 10)) - 1
    results = []
    for line in lines:
        words = tokenize(normalize(line, options))
        source = " ".join(words[:max_tokens])
        results.append(Translation(source, "", None,
                                   unknown_words=list(dict.fromkeys(loaded.unseen_words(" ".join(words)))),
                                   too_long=len(words) > max_tokens, words=len(words),
                                   source_ids=encode_source(source, loaded.source) if source else []))
    return results


def decode_prepared(loaded: LoadedModel, todo: Sequence[Translation], max_output_length: int, beam_size: int,
                    length_penalty: float, n_best: int, attention: bool | Sequence[bool] = False,
                    reference: bool = False) -> None:
    """Decode prepared lines with a `source` (`prepare_lines`) as one batch and fill in each one's
    translation, score, alternatives and, where `attention` (one flag, or one per line) asks, its
    attention weights."""
    model, target = loaded.model, loaded.target
    device = next(model.parameters()).device
    model.eval()
    sources = [r.source_ids for r in todo]
    src, lengths = pad_sources(sources)
    src = src.to(device)
    if reference:
        if beam_size != 1 or n_best != 1:
            raise ValueError(f"the reference decodes greedily: beam size 1 and one best, not {beam_size} and {n_best}")
        tokens, scores = _word_by_word(model, sources, max_output_length, length_penalty)
    else:
        with torch.no_grad():
            found = search(model, src, lengths, max_output_length, beam_size, length_penalty, n_best=n_best)
        tokens, scores = found.tokens.tolist(), found.scores.tolist()
    wanted = [attention] * len(todo) if isinstance(attention, bool) else attention
    for row, (result, ids, row_scores) in enumerate(zip(todo, tokens, scores)):
        result.alternatives = [(target.join(target.decode(out)), score) for out, score in zip(ids, row_scores)
                               if score != float("-inf")]
        result.translation, result.score = result.alternatives[0]
        if wanted[row]:
            result.attention = align(loaded, src[row:row + 1, :int(lengths[row])], lengths[row:row + 1],
                                     result.source, ids[0])
            if result.attention is not None:  # four decimals are plenty for an answer to read or draw
                result.attention.weights = [[round(w, 4) for w in r] for r in result.attention.weights]


def _word_by_word(model: Seq2Seq, sources: Sequence[list[int]], max_len: int, length_penalty: float
                  ) -> tuple[list[list[list[int]]], list[list[float]]]:
    """What `search` gives for beam size 1 (each source's one translation and its score), from the
    word-by-word reference model, one source at a time."""
    # Imported here: the train and evaluate stages import this module but never decode with the
    # reference, so it is not their dependency, and editing it reruns neither.
    from seq2seq.model import reference as reference_model

    tokens, scores = [], []
    for source in sources:
        steps = list(reference_model.greedy_steps(model, source, max_len))
        total = sum(float(step.log_probs[token]) for token, step in steps)
        tokens.append([[token for token, _ in steps]])
        scores.append([total / max(len(steps), 1) ** length_penalty])
    return tokens, scores


def translate_ids(model: Seq2Seq, sources: Sequence[list[int]], target: Vocab, batch_size: int,
                  max_len: int, device: torch.device, beam_size: int = 1, length_penalty: float = 1.0, *,
                  min_len: int = 0) -> list[str]:
    """Translate source id lists (each ending in `<eos>`), `batch_size` at a time, through `search`
    (`min_len` as there); each translation as a normalised sentence (pieces joined back into
    words), in the order of `sources`.

    The batches hold sources of similar length (sorted, stably): less padding for the encoder and
    for attention at every step, and a batch's search ends when its last sentence settles, which
    comes sooner when its sentences are alike. A batch's shape (how many sentences, padded to what
    length) changes the rounding of the products in either precision: in float32 that changed none
    of the default's test translations measured on a CPU, in bfloat16 a percent or two
    (docs/speed.md)."""
    model.eval()
    order = sorted(range(len(sources)), key=lambda i: len(sources[i]))
    out = [""] * len(sources)
    for start in range(0, len(order), batch_size):
        chunk = order[start:start + batch_size]
        src, lengths = pad_sources([sources[i] for i in chunk])
        ids = search(model, src.to(device), lengths, max_len, beam_size, length_penalty, min_len=min_len).tokens[:, 0]
        for i, row in zip(chunk, ids.tolist()):
            out[i] = target.join(target.decode(row))
    return out


def translate_lines(loaded: LoadedModel, lines: Iterable[str], max_output_length: int, batch_size: int,
                    beam_size: int = 1, length_penalty: float = 1.0, n_best: int = 1,
                    reference: bool = False) -> Iterator[Translation]:
    """Yield exactly one result per input line, in order, `batch_size` lines at a time (a stream:
    stdin, a file). One warning per line, when needed, names its unknown words and says when it is
    longer than the training limit (it is truncated to it)."""
    number, warned = 0, False
    for chunk in _chunks(lines, batch_size):
        for result in translate_sentences(loaded, chunk, max_output_length, beam_size, length_penalty, n_best,
                                          reference=reference):
            number += 1
            warned = _warn(loaded, result, number, warned)
            yield result


def _chunks(lines: Iterable[str], size: int) -> Iterator[list[str]]:
    """`lines` in lists of `size` (the last may be shorter), each as soon as it is full."""
    chunk: list[str] = []
    for line in lines:
        chunk.append(line)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _warn(loaded: LoadedModel, result: Translation, number: int, warned: bool) -> bool:
    """Log what the model cannot know about line `number`; whether the domain has been named."""
    notes = []
    if result.unknown_words:
        how = "spelled from pieces" if loaded.source.kind == "bpe" else "read as <unk>"
        notes.append(f"never seen in training ({how}): " + ", ".join(result.unknown_words))
    if result.too_long:
        limit = int(loaded.text.get("max_length", 10)) - 1
        notes.append(f"{result.words} words, longer than any training sentence ({limit}): truncated")
    if not notes:
        return warned
    if not warned:
        log.warning("this model knows only %s; expect poor output elsewhere", describe_domain(loaded.text))
    log.warning("line %d: %s", number, "; ".join(notes))
    return True
