"""The PyTorch fallback for flash_attn_varlen_func against a naive reference, and its hook-up."""

from __future__ import annotations

import math
import sys

import pytest

torch = pytest.importorskip("torch")  # the shim is torch code (gen extra)

from echo4o_eval.models import flash_attn_shim  # noqa: E402
from echo4o_eval.models.flash_attn_shim import flash_attn_varlen_func, provide_flash_attn  # noqa: E402


def naive_varlen(q, k, v, cu_q, cu_k, causal, scale=None):
    """Reference: explicit scores, bottom-right causal mask, zero rows that see no key."""
    heads, kv_heads, dim = q.shape[1], k.shape[1], q.shape[2]
    scale = 1.0 / math.sqrt(dim) if scale is None else scale
    rows = []
    for b in range(len(cu_q) - 1):
        q0, q1, k0, k1 = int(cu_q[b]), int(cu_q[b + 1]), int(cu_k[b]), int(cu_k[b + 1])
        len_q, len_k = q1 - q0, k1 - k0
        for i in range(len_q):
            per_head = []
            for h in range(heads):
                kh = h // (heads // kv_heads)
                allowed = [j for j in range(len_k) if not causal or j <= i + len_k - len_q]
                if not allowed:
                    per_head.append(torch.zeros(dim, dtype=q.dtype))
                    continue
                keys = torch.stack([k[k0 + j, kh] for j in allowed])
                values = torch.stack([v[k0 + j, kh] for j in allowed])
                weights = torch.softmax(keys @ q[q0 + i, h] * scale, dim=0)
                per_head.append(weights @ values)
            rows.append(torch.stack(per_head))
    return torch.stack(rows)


CASES = [
    # (query lengths, key lengths, heads, kv heads, causal)
    ([3, 5, 1], [3, 5, 1], 2, 2, False),
    ([3, 5, 1], [3, 5, 1], 2, 2, True),
    ([2, 4, 3], [6, 4, 7], 4, 2, True),   # prefix cache: queries shorter than keys
    ([2, 4, 3], [6, 4, 7], 4, 1, False),  # multi-query attention
    ([5, 2], [3, 2], 2, 2, True),         # more queries than keys: first rows see nothing
]


@pytest.mark.parametrize("lens_q, lens_k, heads, kv_heads, causal", CASES)
def test_matches_naive_attention_forward_and_backward(lens_q, lens_k, heads, kv_heads, causal):
    generator = torch.Generator().manual_seed(sum(lens_q) * 31 + heads + causal)
    dim = 8
    q = torch.randn(sum(lens_q), heads, dim, generator=generator, requires_grad=True)
    k = torch.randn(sum(lens_k), kv_heads, dim, generator=generator, requires_grad=True)
    v = torch.randn(sum(lens_k), kv_heads, dim, generator=generator, requires_grad=True)
    cu_q = torch.tensor([0, *torch.tensor(lens_q).cumsum(0).tolist()], dtype=torch.int32)
    cu_k = torch.tensor([0, *torch.tensor(lens_k).cumsum(0).tolist()], dtype=torch.int32)
    upstream = torch.randn(sum(lens_q), heads, dim, generator=generator)

    ours = flash_attn_varlen_func(q, k, v, cu_q, cu_k, max(lens_q), max(lens_k), causal=causal)
    grads = torch.autograd.grad((ours * upstream).sum(), (q, k, v))
    expected = naive_varlen(q, k, v, cu_q, cu_k, causal)
    expected_grads = torch.autograd.grad((expected * upstream).sum(), (q, k, v))

    assert ours.shape == q.shape
    torch.testing.assert_close(ours, expected, rtol=1e-5, atol=1e-5)
    for got, want in zip(grads, expected_grads):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)


def test_softmax_scale_and_positional_arguments_follow_flash_attn():
    generator = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(6, 2, 4, generator=generator) for _ in range(3))
    cu = torch.tensor([0, 2, 6], dtype=torch.int32)
    # flash-attn's order: ..., max_seqlen_k, dropout_p, softmax_scale, causal
    ours = flash_attn_varlen_func(q, k, v, cu, cu, 4, 4, 0.0, 0.3, True)
    torch.testing.assert_close(ours, naive_varlen(q, k, v, cu, cu, True, scale=0.3))
    with pytest.raises(NotImplementedError, match="window_size"):
        flash_attn_varlen_func(q, k, v, cu, cu, 4, 4, window_size=(2, 0))


BAGEL_STYLE_MODULE = "from flash_attn import flash_attn_varlen_func\n"


def _import_bagel_style(tmp_path, monkeypatch, name):
    (tmp_path / f"{name}.py").write_text(BAGEL_STYLE_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    with provide_flash_attn() as shimmed:
        module = __import__(name)
    sys.modules.pop(name)
    return module, shimmed


def test_bagel_style_import_gets_the_shim_when_flash_attn_is_absent(tmp_path, monkeypatch, caplog):
    monkeypatch.delitem(sys.modules, "flash_attn", raising=False)
    monkeypatch.setattr(flash_attn_shim, "_warned", False)
    with caplog.at_level("WARNING", logger=flash_attn_shim.__name__):
        module, shimmed = _import_bagel_style(tmp_path, monkeypatch, "bagel_style_absent")
    assert shimmed and module.flash_attn_varlen_func is flash_attn_varlen_func
    assert "flash_attn" not in sys.modules  # other libraries never mistake the shim for flash-attn
    assert [r.getMessage() for r in caplog.records] == [flash_attn_shim.SPEED_WARNING]


@pytest.fixture
def forget_flash_attn():
    """Drop whatever flash_attn a test imported (monkeypatch's undo would put a fake back)."""
    yield
    sys.modules.pop("flash_attn", None)


def test_bagel_style_import_gets_the_real_flash_attn_when_present(tmp_path, monkeypatch, forget_flash_attn):
    real = tmp_path / "site" / "flash_attn"
    real.mkdir(parents=True)
    (real / "__init__.py").write_text("def flash_attn_varlen_func(*args, **kwargs):\n    return 'real'\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.delitem(sys.modules, "flash_attn", raising=False)
    module, shimmed = _import_bagel_style(tmp_path, monkeypatch, "bagel_style_present")
    assert not shimmed
    assert module.flash_attn_varlen_func() == "real"


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("causal", [False, True])
def test_bf16_on_the_gpu_matches_the_fp32_reference(causal):
    generator = torch.Generator().manual_seed(7)
    lens_q, lens_k = [64, 7, 130], [96, 7, 130]
    q = torch.randn(sum(lens_q), 8, 64, generator=generator)
    k = torch.randn(sum(lens_k), 2, 64, generator=generator)
    v = torch.randn(sum(lens_k), 2, 64, generator=generator)
    cu_q = torch.tensor([0, 64, 71, 201], dtype=torch.int32)
    cu_k = torch.tensor([0, 96, 103, 233], dtype=torch.int32)
    expected = flash_attn_varlen_func(q, k, v, cu_q, cu_k, 130, 130, causal=causal)
    on_gpu = [t.cuda().bfloat16().requires_grad_() for t in (q, k, v)]
    got = flash_attn_varlen_func(*on_gpu, cu_q.cuda(), cu_k.cuda(), 130, 130, causal=causal)
    assert got.dtype == torch.bfloat16 and got.is_cuda
    torch.testing.assert_close(got.float().cpu(), expected, rtol=2e-2, atol=2e-2)
    got.float().sum().backward()
    assert all(t.grad is not None and torch.isfinite(t.grad).all() for t in on_gpu)
