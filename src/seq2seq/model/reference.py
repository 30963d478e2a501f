"""The encoder-decoder written as the original tutorial taught it: one sentence at a time, one word
at a time, in plain Python loops. Read this first; `seq2seq.model.seq2seq` computes the same thing
for whole batches at once, and tests/test_reference.py proves that the two agree.

It owns no weights. Every function reads the parameters of a trained `Seq2Seq`, so the reference
runs on the very model that `seq2seq translate` uses. Vectors are 1-D tensors: `h` is (hidden,),
a sentence is a list of vectors, one per word. Dropout is left out: it only acts in training.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn

from seq2seq.data.vocab import EOS_ID, SOS_ID
from seq2seq.model.seq2seq import Seq2Seq

Vector = torch.Tensor  # (size,)
State = tuple[Vector, Vector]  # an LSTM cell's (h, c)


def lstm_cell(x: Vector, state: State, rnn: nn.LSTM, layer: int, backward: bool = False) -> State:
    """One step of one LSTM layer: read the word vector `x`, update the memory `c`, output `h`.

    The four gates look at the input and at the previous output. The forget gate `f` keeps part of
    the old memory, the input gate `i` adds part of a new candidate `g`, and the output gate `o`
    decides how much of the memory to show. `rnn` holds the weights (PyTorch stores the four gates
    stacked in the order i, f, g, o); a backward direction has weights of its own."""
    suffix = f"_l{layer}" + ("_reverse" if backward else "")
    h, c = state
    gates = (getattr(rnn, "weight_ih" + suffix) @ x + getattr(rnn, "bias_ih" + suffix)
             + getattr(rnn, "weight_hh" + suffix) @ h + getattr(rnn, "bias_hh" + suffix))
    i, f, g, o = gates.chunk(4)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    h = torch.sigmoid(o) * torch.tanh(c)
    return h, c


def read(words: list[Vector], rnn: nn.LSTM, layer: int, backward: bool = False) -> tuple[list[Vector], State]:
    """Run one direction of one layer over a sentence, word by word, from a zero state: every
    sentence starts afresh, nothing carries over from the sentence before. Returns one output per
    word (in the sentence's order) and the final state."""
    zero = torch.zeros(rnn.hidden_size, dtype=words[0].dtype, device=words[0].device)
    state, outputs = (zero, zero), []
    for x in (reversed(words) if backward else words):
        state = lstm_cell(x, state, rnn, layer, backward)
        outputs.append(state[0])
    return (outputs[::-1] if backward else outputs), state


def encode(model: Seq2Seq, source: list[int]) -> tuple[list[Vector], list[State]]:
    """The encoder: look up each source word's embedding, then read the sentence with each LSTM
    layer in turn, the next layer reading the outputs of the one below.

    A bidirectional encoder reads each layer twice, left to right and right to left, with separate
    weights, and joins the two outputs of each word (so they are twice as long). `encoder.reverse`
    makes a unidirectional encoder read the sentence last word first. Returns the top layer's
    output per source word (what attention looks at) and each layer's final (h, c)."""
    encoder = model.encoder
    words = [encoder.embedding.weight[i] for i in source]
    if encoder.reverse:
        words = words[::-1]
    finals = []
    for layer in range(encoder.num_layers):
        outputs, (h, c) = read(words, encoder.rnn, layer)
        if encoder.num_directions == 2:
            back, (hb, cb) = read(words, encoder.rnn, layer, backward=True)
            outputs = [torch.cat([f, b]) for f, b in zip(outputs, back)]
            h, c = torch.cat([h, hb]), torch.cat([c, cb])
        finals.append((h, c))
        words = outputs
    if encoder.reverse:
        words = words[::-1]  # outputs back in the source's order, as attention reads them
    return words, finals


def bridge(model: Seq2Seq, finals: list[State]) -> list[State]:
    """The decoder's first state, one (h, c) per decoder layer, from the encoder's final states.

    When the encoder and decoder have the same number of layers and sizes, it is the encoder's
    state itself. Otherwise (a bidirectional encoder's states are twice as long, or the layer
    counts differ) a learned map reads all encoder layers at once: `tanh(W [h_1; h_2; ...] + b)`,
    one map for h and one for c, cut into one vector per decoder layer."""
    b = model.bridge
    if b.is_identity:
        states = finals
    else:
        h = torch.tanh(b.map_h(torch.cat([h for h, _ in finals]))).view(b.dec_layers, b.dec_size)
        c = torch.tanh(b.map_c(torch.cat([c for _, c in finals]))).view(b.dec_layers, b.dec_size)
        states = list(zip(h, c))
    if model.settings.initial_cell == "hidden":  # decoder.initial_cell: the cell starts from h too
        states = [(h, h) for h, _ in states]
    return states


def attend(model: Seq2Seq, h: Vector, memory: list[Vector]) -> tuple[Vector, Vector]:
    """Attention: score every source word's encoder output against the decoder's output `h`, turn
    the scores into weights that sum to one (softmax), and average the encoder outputs with them
    (the context). Returns the context and the weights (src_len,).

    dot: `h . m`; general: `h . (W m)`; bahdanau: `v . tanh(W_q h + W_k m)`."""
    attention = model.decoder.attention
    if attention.kind == "dot":
        scores = torch.stack([h @ m for m in memory])
    elif attention.kind == "general":
        scores = torch.stack([h @ attention.key(m) for m in memory])
    else:
        query = attention.query(h)
        scores = torch.stack([attention.energy(torch.tanh(query + attention.key(m)))[0] for m in memory])
    weights = torch.softmax(scores, dim=0)
    context = sum(w * m for w, m in zip(weights, memory))
    return context, weights


@dataclass
class DecoderState:
    """What the decoder carries from one word to the next."""

    layers: list[State]  # one (h, c) per decoder layer
    feed: Vector | None  # the previous attentional vector, with input feeding; else None


@dataclass
class Step:
    """One decoder step: the log-probability of every target token (vocab,), and the attention
    weights over the source words (src_len,), or None without attention."""

    log_probs: Vector
    weights: Vector | None


def decoder_step(model: Seq2Seq, token: int, state: DecoderState, memory: list[Vector]) -> tuple[Step, DecoderState]:
    """The decoder reads one target word (the previous one: `<sos>` at first) and scores every
    candidate for the next.

    Its input is the word's embedding, and with input feeding also the attentional vector of the
    step before, so it knows what it looked at last. Each LSTM layer reads the output of the layer
    below. With attention, the top output `h` and the context make the attentional vector
    `tanh(W [h; context])`; the output layer turns it (or `h`, without attention) into one score
    per target word, and log_softmax into log-probabilities."""
    decoder = model.decoder
    x = decoder.embedding.weight[token]
    if state.feed is not None:
        x = torch.cat([x, state.feed])
    layers = []
    for layer, previous in enumerate(state.layers):
        h, c = lstm_cell(x, previous, decoder.rnn, layer)
        layers.append((h, c))
        x = h
    weights, feed = None, None
    if decoder.attention is not None:
        context, weights = attend(model, x, memory)
        x = torch.tanh(decoder.combine(torch.cat([x, context])))
        feed = x if decoder.input_feeding else None
    log_probs = torch.log_softmax(decoder.out(x), dim=0)
    return Step(log_probs, weights), DecoderState(layers, feed)


def start(model: Seq2Seq, source: list[int]) -> tuple[DecoderState, list[Vector]]:
    """Encode `source` (token ids ending in `<eos>`): the decoder's first state and the encoder
    outputs it attends to."""
    memory, finals = encode(model, source)
    layers = bridge(model, finals)
    # Input feeding's first input: a zero attentional vector, the size of the decoder's h.
    feed = torch.zeros_like(layers[0][0]) if model.decoder.input_feeding else None
    return DecoderState(layers, feed), memory


def teacher_forced(model: Seq2Seq, source: list[int], target: list[int]) -> list[Step]:
    """Teacher forcing, as training reads a pair: at every step the decoder is given the true
    previous word (`<sos>`, then the target's own words), never its own guess. Returns one step per
    target token (`target` ends in `<eos>`): `steps[t].log_probs[target[t]]` is the log-probability
    the model gives the t-th true word, and minus their sum is the pair's loss."""
    state, memory = start(model, source)
    steps = []
    for token in [SOS_ID, *target[:-1]]:
        step, state = decoder_step(model, token, state, memory)
        steps.append(step)
    return steps


def loss(model: Seq2Seq, source: list[int], target: list[int]) -> torch.Tensor:
    """The pair's loss, as the tutorial trained: minus the summed log-probability of its true words
    under teacher forcing (cross-entropy; the pipeline also smooths the labels, which this leaves out).
    Differentiable: `loss(...).backward()` gives the model's gradients for this one pair."""
    return -sum(step.log_probs[word] for step, word in zip(teacher_forced(model, source, target), target))


@torch.no_grad()
def greedy_steps(model: Seq2Seq, source: list[int], max_len: int) -> Iterator[tuple[int, Step]]:
    """Greedy decoding: start from `<sos>`, pick the most likely word, feed it back, and stop after
    `<eos>` or `max_len` words. Yields each chosen word with the step it was chosen from."""
    state, memory = start(model, source)
    token = SOS_ID
    for _ in range(max_len):
        step, state = decoder_step(model, token, state, memory)
        token = int(step.log_probs.argmax())
        yield token, step
        if token == EOS_ID:
            return


def translate(model: Seq2Seq, source: list[int], max_len: int) -> list[int]:
    """The greedy translation of `source` (ids ending in `<eos>`): target ids, its `<eos>` included
    when it ended within `max_len`."""
    return [token for token, _ in greedy_steps(model, source, max_len)]
