"""Subword pieces with sentencepiece (BPE): rare and unseen words are spelled from frequent pieces."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterable, Sequence

import sentencepiece as spm

from seq2seq.errors import UserError

WORD_START = "\u2581"  # sentencepiece's "▁", marking a piece that begins a word


def train_pieces(sentences: Iterable[str], size: int) -> bytes:
    """Train a BPE model of about `size` pieces on normalised sentences; its serialised bytes.

    The text is already normalised by `prepare`, so sentencepiece's own normalisation is off
    ("identity"), and every character seen is kept (coverage 1.0). One thread and no sampling or
    shuffling: the same sentences give the same model bytes. The size is a ceiling: small data may
    run out of merges first.
    """
    sentences = [s for s in sentences if s.strip()]
    if not sentences:
        raise UserError("no training sentences to learn subword pieces from: check the split stage's output.")
    model = io.BytesIO()
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(sentences), model_writer=model, vocab_size=size, model_type="bpe",
            character_coverage=1.0, normalization_rule_name="identity", hard_vocab_limit=False,
            bos_id=-1, eos_id=-1, pad_id=-1, unk_id=0, num_threads=1, shuffle_input_sentence=False,
            input_sentence_size=0, minloglevel=2)
    except RuntimeError as err:
        raise UserError(f"sentencepiece could not learn {size} pieces ({err}): choose another "
                        "vocab.pieces.") from None
    return model.getvalue()


class PieceModel:
    """A trained sentencepiece model: sentence <-> pieces."""

    def __init__(self, model: bytes):
        self.bytes = model
        self.processor = spm.SentencePieceProcessor(model_proto=model)

    def pieces(self) -> list[str]:
        """Every piece but sentencepiece's own `<unk>`, in the model's id order."""
        sp = self.processor
        return [sp.id_to_piece(i) for i in range(sp.get_piece_size()) if not (sp.is_unknown(i) or sp.is_control(i))]

    def split(self, sentence: str) -> list[str]:
        """Pieces of a normalised sentence, e.g. "je suis ornithorynque" -> ▁je ▁suis ▁or ni tho ..."""
        return self.processor.encode(sentence, out_type=str)

    def sample(self, sentences: Sequence[str], dropout: float, seed: int) -> list[list[str]]:
        """BPE-dropout (Provilkov et al., 2020): the pieces of each sentence, with each merge skipped
        with probability `dropout`, so that one word comes in several segmentations. The same
        `seed` gives the same pieces: sentencepiece seeds a thread's generator when the thread
        first samples, so every call samples in a new thread, seeded just before."""
        out: list[list[str]] = []
        failed: list[BaseException] = []

        def cut() -> None:
            try:
                out.extend(self.processor.encode(s, out_type=str, enable_sampling=True, alpha=dropout)
                           for s in sentences)
            except BaseException as err:  # handed to the caller below, not lost in the thread
                failed.append(err)

        spm.set_random_generator_seed(seed)
        worker = threading.Thread(target=cut, name="seq2seq-bpe-dropout")
        worker.start()
        worker.join()
        if failed:
            raise failed[0]
        return out

    def join(self, pieces: list[str]) -> str:
        """Words again: pieces concatenated, `▁` read as a space."""
        return "".join(pieces).replace(WORD_START, " ").strip()
