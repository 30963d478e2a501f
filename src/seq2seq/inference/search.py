"""Search strategies over a trained model, apart from the network: greedy decoding and batched beam
search. The model exposes what they need: `encode`, one decoder `step`, and `select` on its state
and memory to reorder hypotheses."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from seq2seq.data.batching import pad_sources
from seq2seq.data.vocab import EOS_ID, PAD_ID, SOS_ID, Vocab
from seq2seq.model.seq2seq import Seq2Seq

NEG_INF = float("-inf")


@torch.no_grad()
def greedy_search(model: Seq2Seq, src: torch.Tensor, src_lengths: torch.Tensor, max_len: int,
                  min_len: int = 0) -> torch.Tensor:
    """The most likely next token at every step: ids (batch, <= max_len), each row ending at its
    `<eos>` (padded after it) or at max_len. `<eos>` is not allowed before step `min_len` (the
    benchmark uses it to decode full lengths)."""
    state, memory = model.encode(src, src_lengths)
    token = torch.full((src.size(0),), SOS_ID, dtype=torch.long, device=src.device)
    done = torch.zeros(src.size(0), dtype=torch.bool, device=src.device)
    out = []
    for step in range(max_len):
        logits, state, _ = model.step(token, state, memory)  # (batch, vocab)
        if step < min_len:
            logits[:, EOS_ID] = float("-inf")
        token = logits.argmax(-1).masked_fill(done, PAD_ID)  # (batch,)
        out.append(token)
        done |= token == EOS_ID
        if bool(done.all()):
            break
    return torch.stack(out, dim=1)


@dataclass
class _Finished:
    """Per sentence, the best hypothesis that has ended with `<eos>`. Only the best is kept: the
    search returns one translation per sentence."""

    score: torch.Tensor  # (batch,) its normalised score, -inf while none has ended
    tokens: torch.Tensor  # (batch, max_len) its ids, `<eos>` included, PAD after
    length: torch.Tensor  # (batch,) its length, `<eos>` included; 0 while none has ended

    @classmethod
    def empty(cls, batch: int, max_len: int, device: torch.device) -> _Finished:
        tokens = torch.full((batch, max_len), PAD_ID, dtype=torch.long, device=device)
        return cls(torch.full((batch,), NEG_INF, device=device), tokens,
                   torch.zeros(batch, dtype=torch.long, device=device))

    def add(self, history: torch.Tensor, raw: torch.Tensor, ended: torch.Tensor,
            length_penalty: float) -> None:
        """Keep the best of the hypotheses `ended` (batch, beam) of `history` (batch, beam, length),
        whose summed log-probabilities are `raw` (batch, beam), if it beats the best so far."""
        length = history.size(2)
        normalised = (raw / length ** length_penalty).masked_fill(~ended, NEG_INF)
        best, which = normalised.max(dim=1)  # (batch,)
        # Strictly better only: of equal scores the earlier (shorter, or higher-ranked) one stays.
        better = best > self.score
        rows = history[torch.arange(history.size(0), device=history.device), which]  # (batch, length)
        # Later hypotheses are never shorter, so what lies past `length` is still PAD.
        self.tokens[better, :length] = rows[better]
        self.score = torch.where(better, best, self.score)
        self.length = self.length.masked_fill(better, length)


def _settled(finished: _Finished, live: torch.Tensor, max_len: int, length_penalty: float) -> torch.Tensor:
    """(batch,) true where no live hypothesis, raw scores `live` (batch, beam), can still beat the
    best finished one, so that stopping now gives what decoding on to max_len would.

    Log-probabilities are <= 0, so a raw score only falls as its hypothesis grows, and any ending
    has at most max_len tokens: `live / max_len ** length_penalty` bounds every normalised score a
    live hypothesis can still reach. With penalty 0 the bound is its current score, so a sentence
    stops as soon as its best ending beats every live hypothesis. Above 0 the bound is looser and
    sentences run longer, often to max_len. Rejected: stopping once `beam_size` hypotheses have
    ended (fairseq), which on a tiny trained model returned worse translations than greedy search,
    and stopping as if a live hypothesis's mean log-probability could not rise (a guess, not a bound).
    """
    return finished.score >= live.max(dim=1).values / max_len ** length_penalty


@torch.no_grad()
def beam_search(model: Seq2Seq, src: torch.Tensor, src_lengths: torch.Tensor, max_len: int, beam_size: int,
                length_penalty: float = 1.0, min_len: int = 0) -> torch.Tensor:
    """The best of `beam_size` hypotheses per sentence, all sentences decoded together: ids
    (batch, <= max_len), each row its best hypothesis ended by `<eos>` and padded after it or, if
    none ended within max_len, its best unfinished one. `<eos>` is not allowed before step `min_len`.

    A hypothesis scores the sum of its tokens' log-probabilities divided by length ** length_penalty,
    its length counting the `<eos>`: fairseq's `--lenpen` (not Joey NMT's ((5 + len) / 6) ** alpha).
    0 ranks by the plain sum (short outputs win), 1 by the mean log-probability per token. An ended
    hypothesis leaves the beam and is never extended; a sentence stops once no live hypothesis can
    beat its best ending (`_settled`), the batch once every sentence has. Beam size 1 is greedy search.
    """
    if beam_size < 1 or not 0 <= length_penalty < float("inf"):
        raise ValueError(f"beam_size must be >= 1 and length_penalty >= 0, got {beam_size}, {length_penalty}")
    batch, k, device = src.size(0), beam_size, src.device
    state, memory = model.encode(src, src_lengths)
    # Hypothesis j of sentence b sits in row b * k + j. Hypotheses never leave their sentence, so
    # the memory is repeated once and never reordered; only the state follows the beams.
    rows = torch.arange(batch, device=device).repeat_interleave(k)  # (batch * k,)
    state, memory = state.select(rows), None if memory is None else memory.select(rows)
    offsets = torch.arange(batch, device=device).unsqueeze(1) * k  # (batch, 1)
    scores = torch.full((batch, k), NEG_INF, device=device)
    scores[:, 0] = 0.0  # one live hypothesis per sentence at first, else the beams would be copies
    token = torch.full((batch * k,), SOS_ID, dtype=torch.long, device=device)
    history = token.new_empty(batch, k, 0)  # (batch, k, step): each hypothesis' tokens so far
    finished = _Finished.empty(batch, max_len, device)
    done = torch.zeros(batch, dtype=torch.bool, device=device)  # (batch,) settled sentences
    for step in range(max_len):
        logits, state, _ = model.step(token, state, memory)  # (batch * k, vocab)
        logp = torch.log_softmax(logits.float(), dim=-1)
        if step < min_len:
            logp[:, EOS_ID] = NEG_INF
        vocab = logp.size(1)
        # Every candidate has length step + 1, so raw scores rank them as normalised ones would.
        top, index = (scores.view(-1, 1) + logp).view(batch, k * vocab).topk(k, dim=1)  # (batch, k)
        origin, token = index // vocab, (index % vocab).view(-1)  # the hypothesis each extends, its token
        history = torch.cat([history.gather(1, origin.unsqueeze(2).expand(-1, -1, step)),
                             token.view(batch, k, 1)], dim=2)
        ended = token.view(batch, k) == EOS_ID  # (-inf ones too: they never become the best)
        finished.add(history, top, ended, length_penalty)
        scores = top.masked_fill(ended, NEG_INF)  # an ended hypothesis is never extended
        # A settled sentence decodes on with the rest, but by the bound nothing it adds can win.
        done |= _settled(finished, scores, max_len, length_penalty)
        if bool(done.all()):
            break
        state = state.select((origin + offsets).view(-1))
    return _best_rows(finished, history, scores)


def _best_rows(finished: _Finished, history: torch.Tensor, live: torch.Tensor) -> torch.Tensor:
    """Per sentence its best finished hypothesis, else its best live one (history (batch, beam,
    steps), raw scores `live` (batch, beam)): ids (batch, longest row)."""
    none = finished.length == 0
    best_live = history[torch.arange(history.size(0), device=history.device), live.argmax(dim=1)]
    tokens = finished.tokens.clone()
    tokens[none, :history.size(2)] = best_live[none]
    length = finished.length.masked_fill(none, history.size(2))
    return tokens[:, :int(length.max())] if length.numel() else tokens


def decode_batch(model: Seq2Seq, src: torch.Tensor, src_lengths: torch.Tensor, max_len: int, beam_size: int = 1,
                 length_penalty: float = 1.0, min_len: int = 0) -> torch.Tensor:
    """Ids (batch, <= max_len) of one padded batch: greedy search for beam size 1 (the length
    penalty cannot change its result), `beam_search` above."""
    if beam_size == 1:
        return greedy_search(model, src, src_lengths, max_len, min_len)
    return beam_search(model, src, src_lengths, max_len, beam_size, length_penalty, min_len)


def translate_ids(model: Seq2Seq, sources: Sequence[list[int]], target: Vocab, batch_size: int,
                  max_len: int, device: torch.device, min_len: int = 0, beam_size: int = 1,
                  length_penalty: float = 1.0) -> list[str]:
    """Translate source id lists (each ending in `<eos>`), `batch_size` at a time, in order; each
    translation as a normalised sentence (pieces joined back into words)."""
    model.eval()
    out: list[str] = []
    for start in range(0, len(sources), batch_size):
        src, lengths = pad_sources(sources[start:start + batch_size])
        ids = decode_batch(model, src.to(device), lengths, max_len, beam_size, length_penalty, min_len)
        out.extend(target.join(target.decode(row)) for row in ids.tolist())
    return out
