"""The model built from the encoder and decoder params sections."""

from __future__ import annotations

from torch import nn

from seq2seq.config import DecoderConfig, EncoderConfig
from seq2seq.errors import UserError
from seq2seq.model.seq2seq import ModelSettings, Seq2Seq


def build_model(enc: EncoderConfig, dec: DecoderConfig, source_size: int, target_size: int) -> Seq2Seq:
    """A fresh model from the encoder and decoder params sections and the vocabulary sizes."""
    if enc.tie_embeddings and source_size != target_size:
        raise UserError(f"encoder.tie_embeddings reads the source with the target embedding, but the vocabularies "
                        f"have {source_size} source and {target_size} target tokens: run the vocab stage with "
                        "vocab.joint=true (one vocabulary for both sides) or set encoder.tie_embeddings=false.")
    model = Seq2Seq(ModelSettings(
        source_vocab_size=source_size, target_vocab_size=target_size,
        enc_embedding_size=enc.embedding_size, enc_hidden_size=enc.hidden_size,
        enc_num_layers=enc.num_layers, enc_dropout=enc.dropout, bidirectional=enc.bidirectional,
        dec_embedding_size=dec.embedding_size, dec_hidden_size=dec.hidden_size,
        dec_num_layers=dec.num_layers, dec_dropout=dec.dropout, attention=dec.attention,
        input_feeding=dec.input_feeding, tie_embeddings=dec.tie_embeddings,
        tie_source_embedding=enc.tie_embeddings,
        # A bidirectional encoder reads both ways already: encoder.reverse is for a unidirectional one.
        reverse_source=enc.reverse and not enc.bidirectional,
        dropout_placement=dec.dropout_placement, output_bias=dec.output_bias,
        attentional_bias=dec.attentional_bias, initial_cell=dec.initial_cell))
    if dec.attentional_init and dec.attention != "none":
        # Drawn after every default initialisation, so the other weights are those of the default.
        for param in model.decoder.combine.parameters():
            nn.init.uniform_(param, -dec.attentional_init, dec.attentional_init)
    return model
