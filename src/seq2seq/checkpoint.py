"""Checkpoints: weights with the model settings, vocabularies (and their piece models) and text
options needed to translate, saved atomically and byte-identically, loaded with clear errors."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch

from seq2seq.data.subword import PieceModel
from seq2seq.data.text import tokenize
from seq2seq.data.vocab import Vocab
from seq2seq.device import move
from seq2seq.errors import UserError
from seq2seq.fileio import atomic_path
from seq2seq.model.seq2seq import ModelSettings, Seq2Seq

CHECKPOINT_FORMAT = 2  # 2: attention kinds, input feeding, tied embeddings, subword vocabularies


def save_checkpoint(path: Path, model: Seq2Seq, source: Vocab, target: Vocab, text: dict[str, Any],
                    source_words: list[str] | None = None, precision: str = "fp32") -> None:
    """Save weights with the settings, vocabularies and text options needed to use them, atomically;
    `source_words`, the sorted words of the training sources, let translation name unseen words
    even when a piece vocabulary can spell them; `precision` is the one it was trained in, which
    decoding follows unless told otherwise."""
    payload = {"format": CHECKPOINT_FORMAT, "settings": asdict(model.settings),
               "state_dict": model.state_dict(), "source_vocab": source.itos,
               "target_vocab": target.itos, "text": text,
               "source_pieces": source.pieces.bytes if source.pieces is not None else None,
               "target_pieces": target.pieces.bytes if target.pieces is not None else None,
               "source_words": source_words, "precision": precision}
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
    source_words: frozenset[str] | None = None  # training source words, when the checkpoint has them
    precision: str = "fp32"  # the precision it was trained in (train.precision)

    def unseen_words(self, sentence: str) -> list[str]:
        """Words of a normalised sentence that the model never saw in training: judged by the
        checkpoint's training words (the train stage stores them, so a piece vocabulary that can
        spell a word does not hide that it is new), else by what the vocabulary reads as `<unk>`."""
        if self.source_words is not None:
            return [w for w in tokenize(sentence) if w not in self.source_words]
        return self.source.unknown_words(sentence)


def load_checkpoint(path: Path, device: torch.device | str = "cpu") -> LoadedModel:
    """Rebuild the model from a checkpoint, with a clear error when it is missing or incompatible."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"no model at {path}: fetch the team's with dvc pull (from the DVC remote that "
                        "dvc remote list shows; add one with dvc remote add -d NAME URL), train one with "
                        "dvc repro train, or pass --model PATH.")
    try:
        # Onto the CPU first: a problem with the device (out of memory, no GPU) is then reported as
        # what it is, after the file has been read (seq2seq.device.move).
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for a bad file; all mean the same to a user
        raise UserError(f"{path} is not a readable seq2seq checkpoint ({type(err).__name__}): "
                        "retrain it with dvc repro train.") from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise UserError(f"{path} is not a seq2seq checkpoint of format {CHECKPOINT_FORMAT}: retrain it "
                        "with this version (dvc repro train).")
    try:
        names = {f.name for f in fields(ModelSettings)}
        settings = ModelSettings(**{k: v for k, v in payload["settings"].items() if k in names})
        model = Seq2Seq(settings)
        model.load_state_dict(payload["state_dict"])
        source, target = (Vocab(payload[f"{side}_vocab"], PieceModel(payload[f"{side}_pieces"])
                                if payload[f"{side}_pieces"] is not None else None)
                          for side in ("source", "target"))
        text = dict(payload["text"])
    except (KeyError, TypeError, ValueError, AttributeError, RuntimeError) as err:
        raise UserError(f"{path} does not match this version's model ({err}): retrain it with "
                        "dvc repro train.") from None
    model = move(model, torch.device(device)).eval()
    words = payload.get("source_words")
    return LoadedModel(model, source, target, text, frozenset(words) if words is not None else None,
                       payload.get("precision", "fp32"))
