"""The benchmark's FLOP count against counts worked out by hand."""

from dataclasses import replace

from seq2seq.bench.flops import forward_flops, training_flops
from seq2seq.model.seq2seq import ModelSettings

TINY = ModelSettings(source_vocab_size=10, target_vocab_size=12, enc_embedding_size=3, enc_hidden_size=4,
                     enc_num_layers=1, enc_dropout=0.0, bidirectional=False, dec_embedding_size=5,
                     dec_hidden_size=4, dec_num_layers=1, dec_dropout=0.0, attention="general")


def test_unidirectional_with_attention_by_hand():
    # 3 source tokens, 2 target tokens:
    # encoder  3 x 2*4*4*(3+4) = 672;  bridge: identity (sizes match) = 0
    # decoder  2 x 2*4*4*(5+4) = 576
    # attention keys 3 x 2*4*4 = 96; per target step 2*4*3 + 2*3*4 + 2*(4+4)*4 = 112, x 2 = 224
    # output   2 x 2*4*12 = 192                              -> 1760 forward, x 3 for training
    assert forward_flops(TINY, 3, 2) == 1760
    assert training_flops(TINY, [(3, 2), (3, 2)]) == 2 * 3 * 1760


def test_bidirectional_bridge_and_no_attention_by_hand():
    bi = replace(TINY, bidirectional=True)
    # encoder 2 directions x 672 = 1344; bridge h and c: 2 x 2*8*4 = 128; decoder 576;
    # attention keys 3 x 2*8*4 = 192, per step 24 + 2*3*8 + 2*(4+8)*4 = 168, x 2 = 336; output 192
    assert forward_flops(bi, 3, 2) == 1344 + 128 + 576 + 192 + 336 + 192
    # Without attention: encoder, decoder and output only.
    assert forward_flops(replace(TINY, attention="none"), 3, 2) == 672 + 576 + 192


def test_two_layers_by_hand():
    deep = replace(TINY, enc_num_layers=2, dec_num_layers=2, attention="none")
    # encoder layer 2 reads the 4-wide layer 1: 2*16*(4+4) = 256 per token; decoder layer 2 the same
    assert forward_flops(deep, 3, 2) == 3 * (224 + 256) + 2 * (288 + 256) + 192


def test_dot_bahdanau_and_input_feeding_by_hand():
    # Per target step every kind has the context 2*3*4 = 24 and the combination 2*(4+4)*4 = 64.
    # dot: scores 2*4*3 = 24, no keys -> 112 per step, x 2 = 224
    assert forward_flops(replace(TINY, attention="dot"), 3, 2) == 672 + 576 + 224 + 192
    # bahdanau: keys 3 x 2*4*4 = 96; per step query 2*4*4 = 32 and energy 2*4*3 = 24 -> 144, x 2 = 288
    assert forward_flops(replace(TINY, attention="bahdanau"), 3, 2) == 672 + 576 + 96 + 288 + 192
    # input feeding widens the decoder's input to 5 + 4: 2 x 2*4*4*(9+4) = 832 instead of 576
    assert forward_flops(replace(TINY, input_feeding=True), 3, 2) == 1760 - 576 + 832
    # ... and does nothing without attention
    assert forward_flops(replace(TINY, attention="none", input_feeding=True), 3, 2) == 672 + 576 + 192
