"""The encoder-decoder model and the settings that rebuild it."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from seq2seq.data.vocab import PAD_ID
from seq2seq.model.attention import Memory
from seq2seq.model.bridge import Bridge
from seq2seq.model.decoder import Decoder, DecoderState
from seq2seq.model.encoder import Encoder


@dataclass(frozen=True)
class ModelSettings:
    """Everything needed to rebuild the network: stored in the checkpoint, not read from params."""

    source_vocab_size: int
    target_vocab_size: int
    enc_embedding_size: int
    enc_hidden_size: int
    enc_num_layers: int
    enc_dropout: float
    bidirectional: bool
    dec_embedding_size: int
    dec_hidden_size: int
    dec_num_layers: int
    dec_dropout: float
    attention: str  # none, dot, general or bahdanau
    input_feeding: bool = False
    tie_embeddings: bool = False
    tie_source_embedding: bool = False  # the encoder reads with the target embedding (one joint vocabulary)
    reverse_source: bool = False  # a unidirectional encoder reads each sentence last token first
    dropout_placement: str = "output"  # output or inputs (seq2seq.model.decoder.Decoder)
    output_bias: bool = True
    attentional_bias: bool = False
    initial_cell: str = "cell"  # the decoder's first cell state: the bridged cell, or the bridged hidden state


class Seq2Seq(nn.Module):
    """Encoder -> bridge -> decoder. Search strategies (`seq2seq.inference.search`) drive it through `encode`,
    `step` and the state's `select`."""

    def __init__(self, s: ModelSettings):
        super().__init__()
        self.settings = s
        self.encoder = Encoder(s.source_vocab_size, s.enc_embedding_size, s.enc_hidden_size,
                               s.enc_num_layers, s.enc_dropout, s.bidirectional, s.reverse_source)
        self.bridge = Bridge(s.enc_num_layers, self.encoder.output_size, s.dec_num_layers, s.dec_hidden_size)
        self.decoder = Decoder(s.target_vocab_size, s.dec_embedding_size, s.dec_hidden_size,
                               s.dec_num_layers, s.dec_dropout, self.encoder.output_size, s.attention,
                               s.input_feeding, s.tie_embeddings, s.dropout_placement, s.output_bias,
                               s.attentional_bias)
        if s.tie_source_embedding:
            if (s.source_vocab_size, s.enc_embedding_size) != (s.target_vocab_size, s.dec_embedding_size):
                # The train stage checks the vocabularies and params the embedding sizes; this guards direct use.
                raise ValueError("a tied source embedding needs one vocabulary and one embedding size, got "
                                 f"{s.source_vocab_size} x {s.enc_embedding_size} and "
                                 f"{s.target_vocab_size} x {s.dec_embedding_size}")
            self.encoder.embedding.weight = self.decoder.embedding.weight

    def encode(self, src: torch.Tensor, src_lengths: torch.Tensor) -> tuple[DecoderState, Memory | None]:
        """Encode `src` (batch, src_len): the decoder's initial state and what it attends to."""
        enc_out, state = self.encoder(src, src_lengths)
        h, c = self.bridge(state)
        if self.settings.initial_cell == "hidden":  # Joey NMT starts the cell from the hidden state
            c = h
        return self.decoder.initial_state(h, c), self.decoder.memory(enc_out, src != PAD_ID)

    def step(self, token: torch.Tensor, state: DecoderState, memory: Memory | None
             ) -> tuple[torch.Tensor, DecoderState, torch.Tensor | None]:
        """One decoder step from `token` (batch,): logits (batch, vocab), the new state, and the
        attention weights (batch, src_len) or None."""
        features, state, weights = self.decoder.step(token, state, memory)
        return self.decoder.project(features), state, weights

    @torch.no_grad()
    def alignments(self, src: torch.Tensor, src_lengths: torch.Tensor, tgt_in: torch.Tensor) -> torch.Tensor | None:
        """Attention weights (batch, tgt_len, src_len) while reading `tgt_in` (starting with `<sos>`),
        e.g. a translation the model produced: the weights each output token was chosen with.
        None without attention."""
        state, memory = self.encode(src, src_lengths)
        every = torch.ones_like(tgt_in, dtype=torch.bool)
        weights = self.decoder.teacher_forced(tgt_in, state, memory, every, weights=True)[1]
        return None if weights is None else weights.view(*tgt_in.shape, -1)

    def forward(self, src: torch.Tensor, src_lengths: torch.Tensor, tgt_in: torch.Tensor,
                teacher_forcing_ratio: float = 1.0, generator: torch.Generator | None = None,
                scored: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (batch, tgt_len, vocab) for `tgt_in` (batch, tgt_len), which starts with `<sos>`;
        with a boolean `scored` (batch, tgt_len), true at each row's first positions (its target's
        tokens), only the logits at those positions (n, vocab), row by row.

        With ratio 1 (teacher forcing: the gold previous token at every step) the decoder's fast
        path runs, and the output layer only on the scored positions, never on padding. Below 1,
        each step feeds, per sentence, the gold token with probability `teacher_forcing_ratio`, else
        the model's own previous prediction (drawn from `generator`, on the CPU, so runs repeat):
        the steps run one by one, and the scored logits are selected afterwards.
        """
        state, memory = self.encode(src, src_lengths)
        if teacher_forcing_ratio >= 1.0:
            every = torch.ones_like(tgt_in, dtype=torch.bool) if scored is None else scored
            logits = self.decoder.project(self.decoder.teacher_forced(tgt_in, state, memory, every)[0])
            return logits if scored is not None else logits.view(*tgt_in.shape, -1)
        steps, token, logits = [], tgt_in[:, 0], None
        for t in range(tgt_in.size(1)):
            if t > 0:
                gold = torch.rand(tgt_in.size(0), generator=generator) < teacher_forcing_ratio
                token = torch.where(gold.to(tgt_in.device), tgt_in[:, t], logits.argmax(-1))
            logits, state, _ = self.step(token, state, memory)  # (batch, vocab)
            steps.append(logits)
        logits = torch.stack(steps, dim=1)
        return logits if scored is None else logits[scored]


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
