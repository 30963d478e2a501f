"""Search strategies over a trained model, apart from the network: greedy decoding and batched beam
search, both behind one entry point, `search`. The model exposes what they need: `encode`, one
decoder `step`, and `select` on its state and memory to reorder hypotheses."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from seq2seq.data.vocab import EOS_ID, PAD_ID, SOS_ID
from seq2seq.model.seq2seq import Seq2Seq

NEG_INF = float("-inf")


@dataclass
class Hypotheses:
    """Per sentence, its `n` best translations, best first: ids (batch, n, length), each row ended
    by `<eos>` and padded after it (or cut at max_len, unfinished), and their scores (batch, n), the
    sum of the tokens' log-probabilities / length ** length_penalty (-inf in a slot a sentence could
    not fill)."""

    tokens: torch.Tensor
    scores: torch.Tensor


def search(model: Seq2Seq, src: torch.Tensor, src_lengths: torch.Tensor, max_len: int, beam_size: int = 1,
           length_penalty: float = 1.0, n_best: int = 1, *, min_len: int = 0) -> Hypotheses:
    """The `n_best` best translations of one padded batch, src (batch, src_len), with their scores:
    greedy search for beam size 1 and one translation (what beam search of one gives, a test
    checks), beam search above. The best translations alone are `search(...).tokens[:, 0]`, ids
    (batch, <= max_len). `<eos>` is not allowed before step `min_len` (the benchmark uses it to
    decode full lengths). Raises ValueError unless beam_size >= 1, 1 <= n_best <= beam_size and
    length_penalty >= 0 (checked when the beam search runs)."""
    if beam_size == 1 and n_best == 1:
        return _greedy(model, src, src_lengths, max_len, length_penalty, min_len)
    return _beam(model, src, src_lengths, max_len, beam_size, length_penalty, n_best, min_len)


@torch.no_grad()
def _greedy(model: Seq2Seq, src: torch.Tensor, src_lengths: torch.Tensor, max_len: int,
            length_penalty: float, min_len: int) -> Hypotheses:
    """The most likely next token at every step, one hypothesis per sentence, scored as beam search
    scores (its log-probability / length ** `length_penalty`, the `<eos>` counted), so the penalty
    changes its score, never its tokens. `<eos>` is not allowed before step `min_len`."""
    state, memory = model.encode(src, src_lengths)
    token = torch.full((src.size(0),), SOS_ID, dtype=torch.long, device=src.device)
    done = torch.zeros(src.size(0), dtype=torch.bool, device=src.device)
    total = torch.zeros(src.size(0), device=src.device)
    length = torch.zeros(src.size(0), dtype=torch.long, device=src.device)
    out = []
    for step in range(max_len):
        logits, state, _ = model.step(token, state, memory)  # (batch, vocab)
        if step < min_len:
            logits[:, EOS_ID] = float("-inf")
        token = logits.argmax(-1)  # (batch,)
        chosen = torch.log_softmax(logits.float(), dim=-1).gather(1, token.unsqueeze(1)).squeeze(1)
        total += chosen.masked_fill(done, 0.0)
        length += ~done
        token = token.masked_fill(done, PAD_ID)
        out.append(token)
        done |= token == EOS_ID
        if bool(done.all()):
            break
    scores = total / length.clamp(min=1).float() ** length_penalty
    return Hypotheses(torch.stack(out, dim=1).unsqueeze(1), scores.unsqueeze(1))


@dataclass
class _Finished:
    """Per sentence, the `n` best hypotheses that have ended with `<eos>`, best first."""

    score: torch.Tensor  # (batch, n) their normalised scores, -inf in slots not yet filled
    tokens: torch.Tensor  # (batch, n, max_len) their ids, `<eos>` included, PAD after
    length: torch.Tensor  # (batch, n) their lengths, `<eos>` included; 0 in slots not yet filled

    @classmethod
    def empty(cls, batch: int, n: int, max_len: int, device: torch.device) -> _Finished:
        tokens = torch.full((batch, n, max_len), PAD_ID, dtype=torch.long, device=device)
        return cls(torch.full((batch, n), NEG_INF, device=device), tokens,
                   torch.zeros(batch, n, dtype=torch.long, device=device))

    def add(self, history: torch.Tensor, raw: torch.Tensor, ended: torch.Tensor,
            length_penalty: float) -> None:
        """Keep the `n` best of those kept and the hypotheses `ended` (batch, beam) of `history`
        (batch, beam, length), whose summed log-probabilities are `raw` (batch, beam)."""
        batch, beam, length = history.shape
        n, max_len = self.score.size(1), self.tokens.size(2)
        normalised = (raw / length ** length_penalty).masked_fill(~ended, NEG_INF)
        new = torch.full((batch, beam, max_len), PAD_ID, dtype=torch.long, device=history.device)
        new[:, :, :length] = history
        score = torch.cat([self.score, normalised], dim=1)  # (batch, n + beam)
        # Stable: of equal scores the one kept earlier (shorter, or higher-ranked) stays first.
        order = score.argsort(dim=1, descending=True, stable=True)[:, :n]  # (batch, n)
        lengths = torch.cat([self.length, ended.long() * length], dim=1)
        self.tokens = torch.cat([self.tokens, new], dim=1).gather(1, order.unsqueeze(2).expand(-1, -1, max_len))
        self.score, self.length = score.gather(1, order), lengths.gather(1, order)


def _settled(finished: _Finished, live: torch.Tensor, max_len: int, length_penalty: float) -> torch.Tensor:
    """(batch,) true where no live hypothesis, raw scores `live` (batch, beam), can still beat the
    worst of the kept finished ones (the n-th best; -inf until n have ended), so that stopping now
    gives what decoding on to max_len would.

    Log-probabilities are <= 0, so a raw score only falls as its hypothesis grows, and any ending
    has at most max_len tokens: `live / max_len ** length_penalty` bounds every normalised score a
    live hypothesis can still reach. With penalty 0 the bound is its current score, so a sentence
    stops as soon as its n-th best ending beats every live hypothesis. Above 0 the bound is looser
    and sentences run longer, often to max_len. Rejected: stopping once `beam_size` hypotheses have
    ended (fairseq), which on a tiny trained model returned worse translations than greedy search,
    and stopping as if a live hypothesis's mean log-probability could not rise (a guess, not a bound).
    """
    return finished.score[:, -1] >= live.max(dim=1).values / max_len ** length_penalty


@torch.no_grad()
def _beam(model: Seq2Seq, src: torch.Tensor, src_lengths: torch.Tensor, max_len: int, beam_size: int,
          length_penalty: float, n_best: int, min_len: int) -> Hypotheses:
    """The `n_best` best of `beam_size` hypotheses per sentence, all sentences decoded together:
    ended ones first (best first), then, if fewer than `n_best` ended within max_len, the best
    unfinished ones. `<eos>` is not allowed before step `min_len`.

    A hypothesis scores the sum of its tokens' log-probabilities divided by length ** length_penalty,
    its length counting the `<eos>`: fairseq's `--lenpen` (not Joey NMT's ((5 + len) / 6) ** alpha).
    0 ranks by the plain sum (short outputs win), 1 by the mean log-probability per token. An ended
    hypothesis leaves the beam and is never extended; a sentence stops once no live hypothesis can
    beat its n-th best ending (`_settled`), the batch once every sentence has.
    """
    if beam_size < 1 or not 1 <= n_best <= beam_size or not 0 <= length_penalty < float("inf"):
        raise ValueError(f"beam_size must be >= 1, n_best in [1, beam_size] and length_penalty >= 0, got "
                         f"{beam_size}, {n_best}, {length_penalty}")
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
    finished = _Finished.empty(batch, n_best, max_len, device)
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
    return _fill(finished, history, scores, length_penalty)


def _fill(finished: _Finished, history: torch.Tensor, live: torch.Tensor, length_penalty: float) -> Hypotheses:
    """Per sentence its finished hypotheses, then, in slots none filled, its best live ones (history
    (batch, beam, steps), raw scores `live` (batch, beam)), cut to the longest row kept."""
    batch, n = finished.score.shape
    steps = history.size(2)
    missing = finished.length == 0  # (batch, n); unfilled slots come last, finished ones sort first
    ranked = live.argsort(dim=1, descending=True, stable=True)  # (batch, beam)
    # The j-th unfilled slot of a sentence takes its j-th best live hypothesis.
    slot = (missing.cumsum(dim=1) - 1).clamp(min=0).clamp(max=ranked.size(1) - 1)  # (batch, n)
    pick = ranked.gather(1, slot)
    live_rows = history.gather(1, pick.unsqueeze(2).expand(-1, -1, steps))  # (batch, n, steps)
    tokens = finished.tokens.clone()
    tokens[:, :, :steps] = torch.where(missing.unsqueeze(2), live_rows, tokens[:, :, :steps])
    live_scores = live.gather(1, pick) / max(steps, 1) ** length_penalty
    scores = torch.where(missing, live_scores, finished.score)
    length = finished.length.masked_fill(missing, steps)
    return Hypotheses(tokens[:, :, :int(length.max())] if length.numel() else tokens, scores)

