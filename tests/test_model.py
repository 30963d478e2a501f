import pytest
import torch
from torch import nn

from seq2seq.config import DecoderConfig, EncoderConfig
from seq2seq.data.vocab import PAD_ID
from seq2seq.inference.search import search
from seq2seq.model.attention import Attention
from seq2seq.model.bridge import Bridge
from seq2seq.model.encoder import Encoder, reverse_rows
from seq2seq.model.factory import build_model
from seq2seq.model.seq2seq import ModelSettings, Seq2Seq


def settings(**overrides):
    base = dict(source_vocab_size=20, target_vocab_size=15, enc_embedding_size=6, enc_hidden_size=8,
                enc_num_layers=1, enc_dropout=0.0, bidirectional=False, dec_embedding_size=5,
                dec_hidden_size=8, dec_num_layers=1, dec_dropout=0.0, attention="none")
    return ModelSettings(**{**base, **overrides})


SRC = torch.tensor([[5, 6, 7, 2], [8, 2, PAD_ID, PAD_ID]])
LENGTHS = torch.tensor([4, 2])


@pytest.mark.parametrize("bidirectional, layers", [(False, 1), (True, 1), (False, 2), (True, 3)])
def test_encoder_outputs_and_final_state_agree(bidirectional, layers):
    enc = Encoder(20, 6, 8, layers, 0.0, bidirectional)
    out, (h, c) = enc(SRC, LENGTHS)
    size = 16 if bidirectional else 8
    assert enc.output_size == size and out.shape == (2, 4, size) and h.shape == c.shape == (layers, 2, size)
    assert torch.all(out[1, 2:] == 0)  # padding positions produce no output
    # The last layer's final state is what it output at the end of its reading: the forward half at
    # each sentence's last real token, the backward half at its first.
    last = LENGTHS - 1
    assert torch.allclose(h[-1, :, :8], out[torch.arange(2), last, :8], atol=1e-6)
    if bidirectional:
        assert torch.allclose(h[-1, :, 8:], out[:, 0, 8:], atol=1e-6)


def test_bidirectional_has_separate_backward_weights_and_state_ignores_padding():
    torch.manual_seed(0)
    enc = Encoder(20, 6, 8, 1, 0.0, True)
    assert not torch.equal(enc.rnn.weight_ih_l0, enc.rnn.weight_ih_l0_reverse)
    padded = torch.tensor([[8, 2, PAD_ID, PAD_ID]])
    _, (h_padded, _) = enc(padded, torch.tensor([2]))
    _, (h_short, _) = enc(torch.tensor([[8, 2]]), torch.tensor([2]))
    assert torch.allclose(h_padded, h_short, atol=1e-6)


def test_reverse_rows_reverses_each_rows_real_positions_and_leaves_padding():
    assert reverse_rows(SRC, LENGTHS).tolist() == [[2, 7, 6, 5], [2, 8, PAD_ID, PAD_ID]]
    assert reverse_rows(SRC[:1], LENGTHS[:1], padded=False).tolist() == [[2, 7, 6, 5]]
    x = torch.randn(2, 4, 3)
    assert torch.equal(reverse_rows(reverse_rows(x, LENGTHS), LENGTHS), x)
    assert torch.equal(reverse_rows(x, LENGTHS)[1, :2], x[1, :2].flip(0))


@pytest.mark.parametrize("layers", [1, 2])
def test_reversed_encoder_reads_each_sentence_last_token_first(layers):
    torch.manual_seed(0)
    rev = Encoder(20, 6, 8, layers, 0.0, False, reverse=True).eval()
    plain = Encoder(20, 6, 8, layers, 0.0, False).eval()
    plain.load_state_dict(rev.state_dict())  # the same weights: only the reading order differs
    out, (h, c) = rev(SRC, LENGTHS)
    assert torch.all(out[1, 2:] == 0)  # padding still produces no output
    for row, sentence in enumerate([[5, 6, 7, 2], [8, 2]]):
        backwards = torch.tensor([sentence[::-1]])
        ref_out, (ref_h, ref_c) = plain(backwards, torch.tensor([len(sentence)]))
        # Its outputs are in the source's order (position 0 is the first source token, read last)...
        assert torch.allclose(out[row, :len(sentence)], ref_out[0].flip(0), atol=1e-6)
        # ...and its final state is the state after reading the first source token.
        assert torch.allclose(h[:, row], ref_h[:, 0], atol=1e-6) and torch.allclose(c[:, row], ref_c[:, 0], atol=1e-6)
    # An unpadded batch (the plain flip) gives what the padded path gives each of its rows.
    alone, _ = rev(SRC[:1], LENGTHS[:1])
    assert torch.allclose(alone[0], out[0], atol=1e-6)
    with pytest.raises(ValueError, match="unidirectional"):
        Encoder(20, 6, 8, layers, 0.0, True, reverse=True)


@pytest.mark.parametrize("enc_layers, enc_size, dec_layers, dec_size, identity", [
    (1, 8, 1, 8, True),     # same sizes: identity, as the original
    (1, 16, 1, 8, False),   # bidirectional encoder
    (2, 8, 2, 12, False),   # different hidden sizes
    (3, 8, 1, 8, False),    # different layer counts
    (1, 8, 2, 8, False),
])
def test_bridge_cases(enc_layers, enc_size, dec_layers, dec_size, identity):
    bridge = Bridge(enc_layers, enc_size, dec_layers, dec_size)
    h, c = torch.randn(enc_layers, 3, enc_size), torch.randn(enc_layers, 3, enc_size)
    h2, c2 = bridge((h, c))
    assert bridge.is_identity == identity
    assert h2.shape == c2.shape == (dec_layers, 3, dec_size)
    assert (h2 is h) == identity
    assert len(list(bridge.parameters())) == (0 if identity else 4)
    if not identity:  # tanh(W s + b): in (-1, 1) however large the input
        big = bridge((h * 1000, c * 1000))
        assert all(bool((s.abs() <= 1).all()) for s in big)


@pytest.mark.parametrize("overrides", [
    {}, {"bidirectional": True}, {"attention": "general"}, {"bidirectional": True, "attention": "bahdanau"},
    {"attention": "dot", "input_feeding": True}, {"attention": "general", "input_feeding": True,
                                                  "dec_embedding_size": 8, "tie_embeddings": True},
    {"enc_num_layers": 2, "dec_num_layers": 3, "dec_hidden_size": 10},
])
def test_seq2seq_forward_shapes_and_greedy_is_the_argmax_chain(overrides):
    torch.manual_seed(0)
    model = Seq2Seq(settings(**overrides))
    tgt_in = torch.tensor([[1, 4, 5], [1, 6, PAD_ID]])
    assert model(SRC, LENGTHS, tgt_in).shape == (2, 3, 15)
    gen = torch.Generator().manual_seed(0)
    assert model(SRC, LENGTHS, tgt_in, teacher_forcing_ratio=0.5, generator=gen).shape == (2, 3, 15)
    out = search(model, SRC, LENGTHS, max_len=6).tokens[:, 0]
    assert out.shape[0] == 2 and 1 <= out.shape[1] <= 6
    # Greedy search is the argmax chain of single decoder steps.
    model.eval()
    with torch.no_grad():
        state, memory = model.encode(SRC, LENGTHS)
        token, chain = torch.full((2,), 1), []
        for _ in range(out.shape[1]):
            logits, state, _ = model.step(token, state, memory)
            token = logits.argmax(-1)
            chain.append(token)
    chain = torch.stack(chain, 1)
    for row, expected in zip(out.tolist(), chain.tolist()):
        end = row.index(2) + 1 if 2 in row else len(row)
        assert row[:end] == expected[:end]


@pytest.mark.parametrize("feeding", [False, True])
def test_teacher_forcing_one_equals_stepwise_with_gold_inputs(feeding):
    torch.manual_seed(0)
    model = Seq2Seq(settings(attention="general", input_feeding=feeding)).eval()
    tgt_in = torch.tensor([[1, 4, 5], [1, 6, 7]])
    full = model(SRC, LENGTHS, tgt_in, teacher_forcing_ratio=1.0)
    # Ratio just below 1 with a generator that always picks gold: rand() < 0.999999 almost surely.
    stepwise = model(SRC, LENGTHS, tgt_in, teacher_forcing_ratio=0.999999,
                     generator=torch.Generator().manual_seed(1))
    assert torch.allclose(full, stepwise, atol=1e-5)


def test_greedy_min_len_forbids_an_early_end():
    torch.manual_seed(0)
    model = Seq2Seq(settings()).eval()
    with torch.no_grad():
        model.decoder.out.bias[2] = 100.0  # <eos> wins every step unless forbidden
    assert search(model, SRC, LENGTHS, max_len=6).tokens.shape[2] == 1
    out = search(model, SRC, LENGTHS, max_len=6, min_len=4).tokens[:, 0]
    assert out.shape[1] == 5 and not (out[:, :4] == 2).any() and (out[:, 4] == 2).all()


@pytest.mark.parametrize("bidirectional", [False, True])
def test_unpadded_batch_skips_packing_with_the_same_result(bidirectional):
    torch.manual_seed(0)
    enc = Encoder(20, 6, 8, 2, 0.0, bidirectional).eval()
    src = torch.tensor([[5, 6, 7, 2], [8, 9, 3, 2]])
    plain_out, (plain_h, plain_c) = enc(src, torch.tensor([4, 4]))  # no padding: not packed
    packed = nn.utils.rnn.pack_padded_sequence(enc.embedding(src), torch.tensor([4, 4]), batch_first=True)
    ref_out, (ref_h, _) = enc.rnn(packed)
    ref_out, _ = nn.utils.rnn.pad_packed_sequence(ref_out, batch_first=True)
    assert torch.allclose(plain_out, ref_out, atol=1e-6)
    assert torch.allclose(plain_h, enc._merge_directions(ref_h), atol=1e-6)
    # And each row alone (no padding either) gives the same as the batch.
    alone, _ = enc(src[1:], torch.tensor([4]))
    assert torch.allclose(alone[0], plain_out[1], atol=1e-6)


VARIANTS = [(kind, feeding) for kind in ("none", "dot", "general", "bahdanau") for feeding in (False, True)]


@pytest.mark.parametrize("kind", ["dot", "general", "bahdanau"])
def test_attention_weights_sum_to_one_and_are_zero_at_padding(kind):
    torch.manual_seed(0)
    attention = Attention(kind, 8, 8)
    memory = attention.memory(torch.randn(2, 4, 8), SRC != PAD_ID)
    context, weights = attention(torch.randn(2, 3, 8), memory)
    assert context.shape == (2, 3, 8) and weights.shape == (2, 3, 4)
    assert torch.allclose(weights.sum(-1), torch.ones(2, 3))
    assert torch.all(weights[1, :, 2:] == 0)  # the second sentence has 2 real tokens


@pytest.mark.parametrize("kind, feeding", VARIANTS)
def test_a_sentence_alone_and_inside_a_padded_batch_gives_the_same_logits(kind, feeding):
    torch.manual_seed(0)
    model = Seq2Seq(settings(attention=kind, input_feeding=feeding, bidirectional=kind != "dot")).eval()
    tgt_in = torch.tensor([[1, 4, 5], [1, 6, 7]])
    batched = model(SRC, LENGTHS, tgt_in)
    alone = model(SRC[1:, :2], LENGTHS[1:], tgt_in[1:])
    assert torch.allclose(batched[1], alone[0], atol=1e-5)
    # Step by step, the attention weights of the padded sentence never touch its padding.
    state, memory = model.encode(SRC, LENGTHS)
    logits, state, weights = model.step(tgt_in[:, 0], state, memory)
    assert torch.allclose(logits[1], alone[0, 0], atol=1e-5)
    assert (weights is None) == (kind == "none")
    if weights is not None:
        assert torch.all(weights[1, 2:] == 0) and torch.allclose(weights.sum(-1), torch.ones(2))


def test_input_feeding_changes_the_decoder_only_with_attention():
    fed = Seq2Seq(settings(attention="general", input_feeding=True))
    assert fed.decoder.rnn.input_size == 5 + 8  # embedding + previous attentional vector
    assert Seq2Seq(settings(attention="none", input_feeding=True)).decoder.rnn.input_size == 5


def test_tied_embeddings_share_one_matrix_and_name_the_sizes_when_they_cannot():
    model = Seq2Seq(settings(dec_embedding_size=8, tie_embeddings=True))
    assert model.decoder.out.weight is model.decoder.embedding.weight
    untied = Seq2Seq(settings(dec_embedding_size=8))
    assert sum(p.numel() for p in untied.parameters()) - sum(p.numel() for p in model.parameters()) == 15 * 8
    with pytest.raises(ValueError, match="embedding_size == hidden_size, got 5 and 8"):
        Seq2Seq(settings(tie_embeddings=True))


def test_a_tied_source_embedding_is_the_target_embedding_and_learns_from_both_uses():
    model = Seq2Seq(settings(source_vocab_size=15, enc_embedding_size=8, dec_embedding_size=8,
                             tie_embeddings=True, tie_source_embedding=True, attention="general"))
    shared = model.decoder.embedding.weight
    assert model.encoder.embedding.weight is shared and model.decoder.out.weight is shared
    untied = Seq2Seq(settings(source_vocab_size=15, enc_embedding_size=8, dec_embedding_size=8,
                              tie_embeddings=True, attention="general"))
    assert sum(p.numel() for p in untied.parameters()) - sum(p.numel() for p in model.parameters()) == 15 * 8
    # Its gradient is the sum of what an untied source embedding and the (output-tied) target
    # embedding would each get from the same weights and batch.
    src, lengths, tgt_in, tgt_out = torch.tensor([[12, 6, 2]]), torch.tensor([3]), torch.tensor([[1, 5, 7]]), \
        torch.tensor([5, 7, 2])
    nn.functional.cross_entropy(model(src, lengths, tgt_in)[0], tgt_out).backward()
    untied.load_state_dict(model.state_dict())
    nn.functional.cross_entropy(untied(src, lengths, tgt_in)[0], tgt_out).backward()
    source_grad, target_grad = untied.encoder.embedding.weight.grad, untied.decoder.embedding.weight.grad
    assert source_grad[12].abs().sum() > 0 and source_grad[13].abs().sum() == 0  # only source tokens
    assert torch.allclose(shared.grad, source_grad + target_grad, atol=1e-7)
    with pytest.raises(ValueError, match="one vocabulary and one embedding size, got 20 x 8 and 15 x 8"):
        Seq2Seq(settings(enc_embedding_size=8, dec_embedding_size=8, tie_source_embedding=True))


def test_dot_attention_needs_equal_sizes():
    with pytest.raises(ValueError, match="queries of 8 and memory of 16"):
        Seq2Seq(settings(attention="dot", bidirectional=True))  # encoder outputs 16, decoder 8


def test_teacher_forcing_zero_feeds_the_model_its_own_predictions():
    torch.manual_seed(0)
    model = Seq2Seq(settings(attention="general", input_feeding=True)).eval()
    gold = torch.tensor([[1, 4, 5, 6], [1, 6, 7, 8]])
    own = model(SRC, LENGTHS, gold, teacher_forcing_ratio=0.0, generator=torch.Generator().manual_seed(0))
    # Rebuild the inputs it must have read: <sos>, then its own argmax at each earlier step.
    fed = torch.cat([gold[:, :1], own.argmax(-1)[:, :-1]], dim=1)
    assert not torch.equal(fed, gold)  # an untrained model does not predict the gold words
    assert torch.allclose(model(SRC, LENGTHS, fed, teacher_forcing_ratio=1.0), own, atol=1e-6)
    assert not torch.allclose(model(SRC, LENGTHS, gold, teacher_forcing_ratio=1.0), own, atol=1e-3)


@pytest.mark.parametrize("layers", [1, 2])
def test_input_feeding_steps_by_hand_equal_nn_lstm_calls_and_their_gradients(layers):
    # The reference: the fed vector concatenated to each embedding, one nn.LSTM call per step, as
    # Luong et al. describe input feeding; the decoder computes the same gates by hand.
    torch.manual_seed(0)
    model = Seq2Seq(settings(attention="general", input_feeding=True, dec_num_layers=layers,
                             dec_embedding_size=8, enc_num_layers=layers)).eval()
    dec, tgt_in = model.decoder, torch.tensor([[1, 4, 5, 9], [1, 6, 7, 3]])

    def reference(state, memory):
        h, c, feed, outputs = state.h, state.c, state.feed, []
        for t in range(tgt_in.size(1)):
            x = torch.cat([dec.embedding(tgt_in[:, t]), feed], dim=-1).unsqueeze(1)
            out, (h, c) = dec.rnn(x, (h, c))
            feed = dec._attend(out, memory)[0][:, 0]
            outputs.append(feed)
        return torch.stack(outputs, dim=1), h, c

    def by_hand(state, memory):
        outputs = []
        for t in range(tgt_in.size(1)):
            out, state, _ = dec.step(tgt_in[:, t], state, memory)
            outputs.append(out)
        return torch.stack(outputs, dim=1), state.h, state.c

    runs = []
    for decode in (reference, by_hand):
        model.zero_grad()
        outputs, h, c = decode(*model.encode(SRC, LENGTHS))
        (dec.project(outputs).logsumexp(-1).sum() + h.sum() + c.sum()).backward()
        runs.append((outputs, h, c, [p.grad.clone() for p in model.parameters() if p.grad is not None]))
    (out_a, h_a, c_a, grads_a), (out_b, h_b, c_b, grads_b) = runs
    assert len(grads_a) == len(grads_b) == len(list(model.parameters()))
    for a, b in [(out_a, out_b), (h_a, h_b), (c_a, c_b), *zip(grads_a, grads_b)]:
        assert torch.allclose(a, b, atol=1e-5)


@pytest.mark.parametrize("layers", [1, 2])
def test_scored_logits_of_mixed_target_lengths_equal_each_sentence_alone_and_their_gradients(layers):
    # Training scores only each target's own tokens, and with input feeding runs each step on the
    # sentences whose target reaches it: every sentence's logits, and the gradients of their sum,
    # must be those of that sentence decoded alone, unpadded.
    torch.manual_seed(0)
    model = Seq2Seq(settings(attention="general", input_feeding=True, dec_num_layers=layers,
                             enc_num_layers=layers)).eval()
    src = torch.tensor([[5, 6, 2], [8, 9, 2], [7, 3, 2], [4, 4, 2]])
    src_lengths = torch.tensor([3, 3, 3, 3])
    targets = [[1, 4, 5], [1, 6, 7, 8, 9], [1], [1, 6, 7, 8, 9]]  # the longest neither first nor alone
    tgt_in = torch.tensor([t + [PAD_ID] * (5 - len(t)) for t in targets])
    scored = tgt_in != PAD_ID

    def gradients(loss):
        model.zero_grad()
        loss.backward()
        return [p.grad.clone() for p in model.parameters() if p.grad is not None]

    logits = model(src, src_lengths, tgt_in, scored=scored)
    assert logits.shape == (sum(map(len, targets)), 15)
    grads = gradients(logits.logsumexp(-1).sum())
    alone = torch.cat([model(src[i:i + 1], src_lengths[i:i + 1], torch.tensor([t]))[0]
                       for i, t in enumerate(targets)])
    grads_alone = gradients(alone.logsumexp(-1).sum())
    assert torch.allclose(logits, alone, atol=1e-5)
    assert len(grads) == len(grads_alone) == len(list(model.parameters()))
    for a, b in zip(grads, grads_alone):
        assert torch.allclose(a, b, atol=1e-5)
    with pytest.raises(ValueError, match="scored positions first"):
        model(src, src_lengths, tgt_in, scored=scored.flip(1))


@pytest.mark.parametrize("placement", ["output", "inputs"])
def test_dropout_placement_says_which_vectors_are_dropped(placement):
    # Each call of the decoder's dropout, by the shape it drops, over 3 input-feeding steps of 2
    # sentences (embedding 5, hidden 8, encoder outputs 8): "output" drops the 6 embeddings once and
    # each step's attentional vector; "inputs" the embeddings, each step's fed vector and each
    # step's [h; context].
    torch.manual_seed(0)
    model = Seq2Seq(settings(attention="general", input_feeding=True, dec_dropout=0.5,
                             dropout_placement=placement)).train()
    shapes = []
    model.decoder.dropout.register_forward_hook(lambda module, args, out: shapes.append(tuple(args[0].shape)))
    logits = model(SRC, LENGTHS, torch.tensor([[1, 5, 6], [1, 7, 2]]))
    step = [(2, 1, 8)] if placement == "output" else [(2, 8), (2, 1, 16)]
    assert shapes == [(6, 5)] + step * 3  # the embeddings of every step at once, step-major
    # What the output layer reads: half its values zeroed by dropout under "output", none under "inputs".
    every = torch.ones(2, 3, dtype=torch.bool)
    features = model.decoder.teacher_forced(torch.tensor([[1, 5, 6], [1, 7, 2]]), *model.encode(SRC, LENGTHS),
                                            every)[0]
    zeros = (features == 0).float().mean().item()
    assert (0.3 < zeros < 0.7) if placement == "output" else zeros == 0.0
    assert logits.shape == (2, 3, 15)


def test_biases_and_the_attentional_layers_initialisation_follow_the_params():
    torch.manual_seed(0)
    dec = DecoderConfig(embedding_size=8, hidden_size=8, attention="general")
    plain = build_model(EncoderConfig(embedding_size=6, hidden_size=8), dec, 20, 15)
    assert plain.decoder.out.bias is not None and plain.decoder.combine.bias is None
    # torch's default: U(+-1/sqrt(16)) for the attentional layer's 8 + 8 inputs
    assert plain.decoder.combine.weight.abs().max() <= 0.25
    joey = build_model(EncoderConfig(embedding_size=6, hidden_size=8),
                       DecoderConfig(embedding_size=8, hidden_size=8, attention="general", output_bias=False,
                                     attentional_bias=True, attentional_init=0.5), 20, 15)
    assert joey.decoder.out.bias is None and joey.decoder.combine.bias.shape == (8,)
    combined = torch.cat([joey.decoder.combine.weight.flatten(), joey.decoder.combine.bias])
    assert combined.abs().max() <= 0.5 and combined.abs().max() > 0.4  # 136 draws from U(-0.5, 0.5)
    # 15 output biases fewer, 8 attentional biases more
    assert sum(p.numel() for p in joey.parameters()) == sum(p.numel() for p in plain.parameters()) - 15 + 8


@pytest.mark.parametrize("bidirectional", [False, True])
def test_initial_cell_hidden_starts_the_decoder_cell_from_the_encoder_hidden_state(bidirectional):
    torch.manual_seed(0)
    plain = Seq2Seq(settings(bidirectional=bidirectional))
    joey = Seq2Seq(settings(bidirectional=bidirectional, initial_cell="hidden"))
    joey.load_state_dict(plain.state_dict())  # the same weights: only the starting cell differs
    state, _ = plain.encode(SRC, LENGTHS)
    joey_state, _ = joey.encode(SRC, LENGTHS)
    assert torch.equal(joey_state.h, state.h) and torch.equal(joey_state.c, state.h)
    assert not torch.equal(state.c, state.h)


def test_build_model_reverses_only_a_unidirectional_encoder():
    dec = DecoderConfig(embedding_size=8, hidden_size=8)
    assert build_model(EncoderConfig(hidden_size=8, reverse=True), dec, 20, 15).encoder.reverse
    # `dvc exp run -S encoder.bidirectional=true` on a reversed default still runs: both ways, no reversal.
    both = build_model(EncoderConfig(hidden_size=8, reverse=True, bidirectional=True), dec, 20, 15)
    assert both.encoder.num_directions == 2 and not both.encoder.reverse and not both.settings.reverse_source


@pytest.mark.parametrize("kind", ["dot", "general"])
def test_one_query_attention_under_bf16_autocast_equals_the_float32_products(kind):
    # Under bf16 autocast a decoder step's attention runs as elementwise products and sums instead
    # of two tiny bmms (docs/precision.md); it must still be the same attention, up to bfloat16 rounding.
    torch.manual_seed(0)
    attention = Attention(kind, 16, 16)
    memory = attention.memory(torch.randn(3, 5, 16), torch.tensor([[True] * 5, [True] * 3 + [False] * 2,
                                                                  [True] + [False] * 4]))
    query = torch.randn(3, 1, 16)
    context, weights = attention(query, memory)
    with torch.autocast("cpu", dtype=torch.bfloat16):  # the encoder's and decoder's LSTMs give bfloat16 there
        low = attention.memory(memory.values.bfloat16(), memory.mask)
        low_context, low_weights = attention(query.bfloat16(), low)
    assert low_context.dtype == torch.bfloat16 and low_weights.shape == weights.shape == (3, 1, 5)
    assert torch.all(low_weights[1, 0, 3:] == 0) and torch.all(low_weights[2, 0, 1:] == 0)
    assert torch.allclose(low_weights.float().sum(-1), torch.ones(3, 1), atol=1e-2)
    assert torch.allclose(low_weights.float(), weights, atol=0.03)
    assert torch.allclose(low_context.float(), context, atol=0.05, rtol=0.02)


def test_bf16_training_step_computes_the_float32_loss_and_gradients_up_to_rounding():
    # bf16 casts the decoder's joined recurrent matrices once per batch and attends elementwise:
    # the loss and every parameter's gradient must be float32's, up to bfloat16 rounding.
    torch.manual_seed(0)
    model = Seq2Seq(settings(attention="general", input_feeding=True, enc_hidden_size=16, dec_hidden_size=16,
                             dec_embedding_size=16, enc_embedding_size=16))
    tgt_in = torch.tensor([[1, 5, 6, 7, 8], [1, 9, 10, 0, 0]])
    tgt_out = torch.tensor([[5, 6, 7, 8, 2], [9, 10, 2, 0, 0]])
    scored = tgt_out != PAD_ID

    def loss_and_grads(precision):
        model.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            logits = model(SRC, LENGTHS, tgt_in, scored=scored)
            loss = nn.functional.cross_entropy(logits.float(), tgt_out[scored])
        loss.backward()
        return loss.item(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    (loss, grads), (low_loss, low_grads) = loss_and_grads("fp32"), loss_and_grads("bf16")
    assert low_loss == pytest.approx(loss, rel=0.01)
    assert grads.keys() == low_grads.keys()
    for name, grad in grads.items():
        assert low_grads[name].dtype == torch.float32
        cosine = nn.functional.cosine_similarity(grad.flatten(), low_grads[name].flatten(), dim=0)
        assert cosine > 0.99, name
