"""LSTM decoder: optional attention and input feeding, an output layer over the target vocabulary."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from seq2seq.data.vocab import PAD_ID
from seq2seq.model.attention import Attention, Memory
from seq2seq.model.lstm import lstm_cell, run_lstm
from seq2seq.model.precision import cast_once, in_padded_rows


@dataclass
class DecoderState:
    """What the decoder carries from one step to the next."""

    h: torch.Tensor  # (layers, batch, hidden)
    c: torch.Tensor  # (layers, batch, hidden)
    feed: torch.Tensor | None  # (batch, hidden): the previous attentional vector (input feeding only)

    def select(self, index: torch.Tensor) -> DecoderState:
        """The rows `index` (n,) of the batch: beam search reorders hypotheses with it."""
        return DecoderState(self.h.index_select(1, index), self.c.index_select(1, index),
                            None if self.feed is None else self.feed.index_select(0, index))


class Decoder(nn.Module):
    """Embedding, LSTM, optional attention over the encoder outputs, linear layer to vocabulary logits.

    With attention, each step's output is the attentional vector `tanh(W [h; context])` (Luong et
    al. 2015). Input feeding gives that vector to the LSTM at the next step, beside the embedding,
    so the decoder knows what it attended to; it makes the steps sequential.

    Two ways through it: `step`, one token per sentence (search, and every step the
    word-by-word reference `seq2seq.model.reference` takes), and `teacher_forced`, training's fast
    path over whole targets at once. Both compute what the reference computes (tests/test_reference.py).

    Tied embeddings: the output layer reuses the target embedding matrix (needs embedding size ==
    hidden size), a third fewer decoder parameters and a regulariser on small data.

    Dropout always drops the embedding (and between stacked layers). `dropout_placement` "output"
    also drops the attentional vector (the LSTM output without attention), one mask for both the
    output layer and the next step's input; "inputs" (Joey NMT's) drops the fed vector where the
    LSTM reads it and [h; context] where the attentional layer reads it, and nothing before the
    output layer.
    """

    def __init__(self, vocab_size: int, embedding_size: int, hidden_size: int, num_layers: int,
                 dropout: float, encoder_output_size: int, attention: str, input_feeding: bool = False,
                 tie_embeddings: bool = False, dropout_placement: str = "output", output_bias: bool = True,
                 attentional_bias: bool = False):
        super().__init__()
        self.drop_output = dropout_placement == "output"
        self.embedding = nn.Embedding(vocab_size, embedding_size, padding_idx=PAD_ID)
        self.dropout = nn.Dropout(dropout)
        self.attention = (Attention(attention, hidden_size, encoder_output_size) if attention != "none"
                          else None)
        # Without attention the LSTM's own output is what it would be fed: nothing to add.
        self.input_feeding = input_feeding and self.attention is not None
        self.hidden_size = hidden_size
        self.rnn = nn.LSTM(embedding_size + (hidden_size if self.input_feeding else 0), hidden_size,
                           num_layers, batch_first=True, dropout=dropout if num_layers > 1 else 0.0)
        if self.attention is not None:
            self.combine = nn.Linear(hidden_size + encoder_output_size, hidden_size, bias=attentional_bias)
        self.out = nn.Linear(hidden_size, vocab_size, bias=output_bias)
        if tie_embeddings:
            if embedding_size != hidden_size:
                # Params are checked when they load (seq2seq.config.check_model); this guards direct use.
                raise ValueError(f"tied embeddings need embedding_size == hidden_size, got {embedding_size} "
                                 f"and {hidden_size}")
            self.out.weight = self.embedding.weight

    def memory(self, enc_out: torch.Tensor, src_mask: torch.Tensor) -> Memory | None:
        """What the decoder reads of the encoder outputs at every step (None without attention)."""
        return self.attention.memory(enc_out, src_mask) if self.attention is not None else None

    def initial_state(self, h: torch.Tensor, c: torch.Tensor) -> DecoderState:
        """The state before the first step, from the bridged encoder state (each (layers, batch, hidden))."""
        feed = h.new_zeros(h.size(1), self.hidden_size) if self.input_feeding else None
        return DecoderState(h, c, feed)

    def step(self, token: torch.Tensor, state: DecoderState, memory: Memory | None
             ) -> tuple[torch.Tensor, DecoderState, torch.Tensor | None]:
        """One step from the previous tokens `token` (batch,): what search calls, and training below
        teacher forcing 1. Returns the vectors the output layer reads (batch, hidden), after dropout;
        the new state; and the attention weights (batch, src_len), or None without attention.
        `project` turns the vectors into logits."""
        embedded = self.dropout(self.embedding(token))  # (batch, emb)
        if self.input_feeding:
            outputs, state, weights = self._feed_steps(embedded, [token.size(0)], state, memory)
            return outputs[0], state, weights[0][:, 0]
        outputs, (h, c) = run_lstm(self.rnn, embedded.unsqueeze(1), (state.h, state.c))  # (batch, 1, hidden)
        features, weights = self._top(outputs, memory)
        return features[:, 0], DecoderState(h, c, None), None if weights is None else weights[:, 0]

    def teacher_forced(self, tgt_in: torch.Tensor, state: DecoderState, memory: Memory | None,
                       scored: torch.Tensor, weights: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Training's fast path: every step of `tgt_in` (batch, steps), the true previous tokens, at
        once. Returns the vectors the output layer reads at the true positions of `scored` (batch,
        steps), row by row (n, hidden), after dropout, and, when `weights` asks (alignments; training
        does not), the attention weights there (n, src_len), else None. Each row's true positions
        must come first (its target's tokens, then its padding).

        Without input feeding the whole target runs through the LSTM in one call. With it, each
        step needs the vector of the step before: the steps take the rows longest target first,
        and each step runs only the rows whose target reaches it, so a batch of mixed target lengths
        spends no step, and no embedding, on padding. Either way the arithmetic is `step`'s, up to
        the rounding of differently shaped products and the draws of dropout (tests/test_model.py)."""
        if not self.input_feeding:
            outputs, _ = run_lstm(self.rnn, self.dropout(self.embedding(tgt_in)), (state.h, state.c))
            features, attention = self._top(outputs, memory)  # (batch, steps, hidden), (batch, steps, src_len)
            return features[scored], attention[scored] if weights and attention is not None else None
        lengths = scored.sum(dim=1)
        order = torch.argsort(lengths, descending=True, stable=True)
        steps = torch.arange(tgt_in.size(1), device=tgt_in.device)
        if not torch.equal(scored, steps < lengths.unsqueeze(1)):
            raise ValueError("teacher_forced needs each row's scored positions first, then its padding")
        inside = scored[order].t()  # (steps, batch): the ordered rows inside their target
        rows = [n for n in inside.sum(dim=1).tolist() if n > 0]  # per step: the first n ordered rows run
        embedded = self.dropout(self.embedding(tgt_in[order].t()[inside]))  # (n, emb), step by step
        outputs, _, attention = self._feed_steps(embedded, rows, state.select(order), memory.select(order))
        # Each vector's place in the batch, row by row: row order[r] at step t is order[r] * steps + t.
        back = (order.unsqueeze(0) * len(steps) + steps.unsqueeze(1))[inside].argsort()
        features = torch.cat(outputs).index_select(0, back)
        return features, torch.cat(attention)[:, 0].index_select(0, back) if weights else None

    def _feed_steps(self, embedded: torch.Tensor, rows: list[int], state: DecoderState, memory: Memory
                    ) -> tuple[list[torch.Tensor], DecoderState, list[torch.Tensor]]:
        """Input feeding, one step at a time, with the LSTM's own weights but not its call: one
        `nn.LSTM` call per step costs more in set-up than its arithmetic at these sizes. The
        embedding's share of the first layer's input projection (and both biases) is one matrix
        multiply over all steps; each step adds the fed vector's and the previous state's share in
        one more, then the gates by hand (PyTorch's order: input, forget, cell, output).

        Step t runs the first `rows[t]` rows of the batch (never more than at the step before),
        reading the next `rows[t]` rows of `embedded` (sum(rows), emb). Returns each step's vectors
        (rows[t], hidden) and attention weights (rows[t], 1, src_len), and the state after the last
        step of the rows that ran it (every row when `rows` never falls)."""
        rnn, emb_size = self.rnn, embedded.size(-1)
        weights = [(getattr(rnn, f"weight_ih_l{k}"), getattr(rnn, f"weight_hh_l{k}"),
                    getattr(rnn, f"bias_ih_l{k}") + getattr(rnn, f"bias_hh_l{k}")) for k in range(rnn.num_layers)]
        w_ih, w_hh, bias = weights[0]
        # One view per step: the backward pass joins their gradients once, where indexing one
        # full-size result per step would add a zero-filled full-size gradient per step.
        ahead = in_padded_rows(lambda x: torch.addmm(bias, x, w_ih[:, :emb_size].t()), embedded).split(rows)
        # The rest of each layer's input and its recurrence, side by side: one product per layer and step.
        recurrent = [torch.cat([w_ih[:, emb_size:], w_hh], dim=1).t()]
        recurrent += [torch.cat([w_i, w_h], dim=1).t() for w_i, w_h, _ in weights[1:]]
        recurrent = cast_once(recurrent)  # in bf16 (seq2seq.model.precision)
        h, c, feed = list(state.h.unbind(0)), list(state.c.unbind(0)), state.feed
        outputs, all_weights = [], []
        for t, n in enumerate(rows):
            if n < feed.size(0):  # the rows from n on have stopped
                h, c, feed, memory = [s[:n] for s in h], [s[:n] for s in c], feed[:n], memory.head(n)
            x = feed if self.drop_output else self.dropout(feed)  # "output" dropped it already
            for k in range(rnn.num_layers):
                if k == 0:
                    gates = torch.addmm(ahead[t], torch.cat([x, h[0]], dim=-1), recurrent[0])
                else:  # nn.LSTM's dropout between layers
                    x = nn.functional.dropout(x, rnn.dropout, self.training)
                    gates = torch.addmm(weights[k][2], torch.cat([x, h[k]], dim=-1), recurrent[k])
                h[k], c[k] = lstm_cell(gates, c[k])
                x = h[k]
            features, step_weights = self._attend(x.unsqueeze(1), memory)  # (n, 1, hidden), (n, 1, src)
            feed = features[:, 0]
            outputs.append(feed)
            all_weights.append(step_weights)
        return outputs, DecoderState(torch.stack(h), torch.stack(c), feed), all_weights

    def _top(self, outputs: torch.Tensor, memory: Memory | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """LSTM outputs (batch, steps, hidden) -> what the output layer reads and the attention
        weights (None without attention)."""
        if self.attention is None:
            return self._output_dropout(outputs), None
        return self._attend(outputs, memory)

    def _attend(self, outputs: torch.Tensor, memory: Memory) -> tuple[torch.Tensor, torch.Tensor]:
        """LSTM outputs (batch, steps, hidden) -> attentional vectors (after dropout when it is placed
        there), and the weights."""
        context, weights = self.attention(outputs, memory)  # (batch, steps, enc), (batch, steps, src_len)
        joined = torch.cat([outputs, context], dim=-1)  # (batch, steps, hidden + enc)
        features = torch.tanh(self.combine(joined if self.drop_output else self.dropout(joined)))
        return self._output_dropout(features), weights

    def _output_dropout(self, features: torch.Tensor) -> torch.Tensor:
        """Dropout on what the output layer reads, when `dropout_placement` is "output"."""
        return self.dropout(features) if self.drop_output else features

    def project(self, features: torch.Tensor) -> torch.Tensor:
        """Logits (..., vocab) of decoder vectors (..., hidden)."""
        if features.dim() == 2:  # rows of a whole batch's tokens (training), or of a step's sentences
            return in_padded_rows(self.out, features)
        return self.out(features)

