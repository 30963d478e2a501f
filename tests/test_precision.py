"""The model's bfloat16 routes (`seq2seq.model.precision`): few product shapes, the same arithmetic
up to rounding, and nothing changed in float32. The model under bf16 is in tests/test_model.py."""

import torch

from seq2seq.model.precision import ROWS, attends_elementwise, cast_once, in_padded_rows


def shapes_seen(x: torch.Tensor, weight: torch.Tensor, seen: list) -> torch.Tensor:
    seen.append(tuple(x.shape))
    return x @ weight


def test_padded_rows_run_in_multiples_of_rows_under_autocast_and_give_each_rows_product():
    torch.manual_seed(0)
    weight = torch.randn(8, 5)
    for n in (1, ROWS - 1, ROWS, ROWS + 3):
        x, seen = torch.randn(n, 8), []
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = in_padded_rows(lambda rows, seen=seen: shapes_seen(rows, weight, seen), x)
            alone = x @ weight
        assert seen == [(-(-n // ROWS) * ROWS, 8)]  # n rounded up to a multiple of ROWS
        assert out.shape == (n, 5) and out.dtype == torch.bfloat16
        assert torch.allclose(out.float(), alone.float(), rtol=0.01, atol=0.01)  # the zero rows change no real row


def test_padded_rows_pass_gradients_to_the_real_rows_only():
    torch.manual_seed(0)
    x, weight = torch.randn(3, 8, requires_grad=True), torch.randn(8, 5, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        in_padded_rows(lambda rows: rows @ weight, x).float().sum().backward()
    assert x.grad.shape == (3, 8)
    expected = weight.detach().bfloat16().float().sum(1)  # d(sum of x @ w)/dx = each row of w summed
    assert torch.allclose(x.grad, expected.expand(3, 8), rtol=0.02, atol=0.02)
    assert torch.allclose(weight.grad, x.detach().sum(0, keepdim=True).t().expand(8, 5), rtol=0.02, atol=0.02)


def test_float32_takes_none_of_the_routes():
    x, seen = torch.randn(3, 8), []
    weight = torch.randn(8, 5)
    assert torch.equal(in_padded_rows(lambda rows: shapes_seen(rows, weight, seen), x), x @ weight)
    assert seen == [(3, 8)]
    matrices = [torch.randn(4, 4)]
    assert cast_once(matrices)[0] is matrices[0]
    assert not attends_elementwise(torch.randn(2, 1, 8))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert cast_once(matrices)[0].dtype == torch.bfloat16
        assert attends_elementwise(torch.randn(2, 1, 8)) and not attends_elementwise(torch.randn(2, 3, 8))
