"""The encoder-decoder model, its settings, and the checkpoint that rebuilds it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch
from torch import nn

from seq2seq.data.vocab import EOS_ID, PAD_ID, SOS_ID, Vocab
from seq2seq.errors import UserError
from seq2seq.fileio import atomic_path
from seq2seq.model.attention import Memory
from seq2seq.model.bridge import Bridge
from seq2seq.model.decoder import Decoder
from seq2seq.model.encoder import Encoder, State

CHECKPOINT_FORMAT = 1


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
    attention: bool


class Seq2Seq(nn.Module):
    """Encoder -> bridge -> decoder."""

    def __init__(self, s: ModelSettings):
        super().__init__()
        self.settings = s
        self.encoder = Encoder(s.source_vocab_size, s.enc_embedding_size, s.enc_hidden_size,
                               s.enc_num_layers, s.enc_dropout, s.bidirectional)
        self.bridge = Bridge(s.enc_num_layers, self.encoder.output_size, s.dec_num_layers, s.dec_hidden_size)
        self.decoder = Decoder(s.target_vocab_size, s.dec_embedding_size, s.dec_hidden_size,
                               s.dec_num_layers, s.dec_dropout, self.encoder.output_size, s.attention)

    def encode(self, src: torch.Tensor, src_lengths: torch.Tensor) -> tuple[State, Memory | None]:
        """Encode `src` (batch, src_len): the decoder's initial state and what it attends to."""
        enc_out, state = self.encoder(src, src_lengths)
        return self.bridge(state), self.decoder.memory(enc_out, src != PAD_ID)

    def forward(self, src: torch.Tensor, src_lengths: torch.Tensor, tgt_in: torch.Tensor,
                teacher_forcing_ratio: float = 1.0, generator: torch.Generator | None = None,
                scored: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (batch, tgt_len, vocab) for `tgt_in` (batch, tgt_len), which starts with `<sos>`;
        with a boolean `scored` (batch, tgt_len), only the logits at its true positions (n, vocab).
        With ratio 1 the output layer then runs on those positions only, never on padding; below 1
        every step needs all its logits for the argmax, so they are selected afterwards.

        With ratio 1 the whole target runs in one decoder call. Below 1, each step feeds, per
        sentence, the gold token with probability `teacher_forcing_ratio`, else the model's own
        previous prediction (drawn from `generator`, on the CPU, so runs repeat).
        """
        state, memory = self.encode(src, src_lengths)
        if teacher_forcing_ratio >= 1.0:
            features = self.decoder(tgt_in, state, memory)[0]  # (batch, tgt_len, hidden)
            return self.decoder.project(features if scored is None else features[scored])
        steps, token, logits = [], tgt_in[:, :1], None
        for t in range(tgt_in.size(1)):
            if t > 0:
                gold = torch.rand(tgt_in.size(0), generator=generator) < teacher_forcing_ratio
                token = torch.where(gold.to(tgt_in.device), tgt_in[:, t], logits.argmax(-1)).unsqueeze(1)
            features, state = self.decoder(token, state, memory)
            logits = self.decoder.project(features[:, 0])  # (batch, vocab)
            steps.append(logits)
        logits = torch.stack(steps, dim=1)
        return logits if scored is None else logits[scored]

    @torch.no_grad()
    def greedy(self, src: torch.Tensor, src_lengths: torch.Tensor, max_len: int, min_len: int = 0) -> torch.Tensor:
        """Greedy decoding: ids (batch, <= max_len), each row ending at its `<eos>` or at max_len.

        `<eos>` is not allowed before step `min_len` (the benchmark uses it to decode full lengths).
        """
        state, memory = self.encode(src, src_lengths)
        token = torch.full((src.size(0), 1), SOS_ID, dtype=torch.long, device=src.device)
        done = torch.zeros(src.size(0), dtype=torch.bool, device=src.device)
        out = []
        for step in range(max_len):
            features, state = self.decoder(token, state, memory)
            logits = self.decoder.project(features)  # (batch, 1, vocab)
            if step < min_len:
                logits[..., EOS_ID] = float("-inf")
            token = logits.argmax(-1)  # (batch, 1)
            token = token.masked_fill(done.unsqueeze(1), PAD_ID)
            out.append(token)
            done |= token.squeeze(1) == EOS_ID
            if bool(done.all()):
                break
        return torch.cat(out, dim=1)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def save_checkpoint(path: Path, model: Seq2Seq, source: Vocab, target: Vocab, text: dict[str, Any]) -> None:
    """Save weights with the settings, vocabularies and text options needed to use them, atomically."""
    payload = {"format": CHECKPOINT_FORMAT, "settings": asdict(model.settings),
               "state_dict": model.state_dict(), "source_vocab": source.itos,
               "target_vocab": target.itos, "text": text}
    # Through an open handle: given a path, torch.save records the (random) temporary file name in
    # the archive, and the checkpoint's bytes, hence dvc.lock, would differ on every run.
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        torch.save(payload, handle)


@dataclass
class LoadedModel:
    model: Seq2Seq
    source: Vocab
    target: Vocab
    text: dict[str, Any]


def load_checkpoint(path: Path, device: torch.device | str = "cpu") -> LoadedModel:
    """Rebuild the model from a checkpoint, with a clear error when it is missing or incompatible."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"no model at {path}: train one first (dvc repro train) or pass --model PATH.")
    try:
        payload = torch.load(path, map_location=device, weights_only=True)
    except Exception as err:  # torch raises many types for a bad file; all mean the same to a user
        raise UserError(f"{path} is not a readable seq2seq checkpoint ({type(err).__name__}): "
                        "retrain it with dvc repro train.") from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise UserError(f"{path} is not a seq2seq checkpoint of format {CHECKPOINT_FORMAT}: retrain it "
                        "with this version (dvc repro train).")
    try:
        names = {f.name for f in fields(ModelSettings)}
        settings = ModelSettings(**{k: v for k, v in payload["settings"].items() if k in names})
        model = Seq2Seq(settings).to(device)
        model.load_state_dict(payload["state_dict"])
        source, target = Vocab(payload["source_vocab"]), Vocab(payload["target_vocab"])
        text = dict(payload["text"])
    except (KeyError, TypeError, ValueError, AttributeError, RuntimeError) as err:
        raise UserError(f"{path} does not match this version's model ({err}): retrain it with "
                        "dvc repro train.") from None
    model.eval()
    return LoadedModel(model, source, target, text)
