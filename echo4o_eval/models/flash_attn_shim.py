"""``flash_attn_varlen_func`` on PyTorch attention, for running Bagel without building flash-attn.

Bagel's modeling code does ``from flash_attn import flash_attn_varlen_func`` at import time and
calls it on *packed* sequences: all samples concatenated along the first axis, with
``cu_seqlens_q``/``cu_seqlens_k`` marking where each one starts. flash-attn needs a CUDA build
that many users cannot compile. :func:`flash_attn_varlen_func` here has the same signature and
semantics, computed with ``torch.nn.functional.scaled_dot_product_attention`` one segment at a
time:

* shapes ``q (total_q, heads, dim)``, ``k``/``v`` ``(total_k, kv_heads, dim)``, output like ``q``;
  grouped-query attention when ``heads`` is a multiple of ``kv_heads`` (query head ``h`` reads
  key/value head ``h // (heads // kv_heads)``, as flash-attn does);
* ``causal=True`` aligns the mask to the bottom-right corner, as flash-attn >= 2.1 does: query
  ``i`` of a segment sees key ``j`` when ``j <= i + len_k - len_q``; a query row that sees no key
  gives zeros;
* ``softmax_scale`` defaults to ``1/sqrt(dim)``; ``dropout_p`` is applied by SDPA.

Unsupported flash-attn features (sliding windows, softcap, ALiBi, returning probabilities, paged
KV blocks) raise NotImplementedError instead of being silently ignored.

:func:`provide_flash_attn` makes ``import flash_attn`` find this function while a block runs,
but only when the real flash-attn is not importable (the real one is always preferred); the
Bagel adapter wraps its import of Bagel's code in it.

Example:
    >>> import torch
    >>> q = torch.randn(5, 2, 4); k = torch.randn(7, 2, 4); v = torch.randn(7, 2, 4)
    >>> cu_q = torch.tensor([0, 2, 5], dtype=torch.int32); cu_k = torch.tensor([0, 3, 7], dtype=torch.int32)
    >>> flash_attn_varlen_func(q, k, v, cu_q, cu_k, 3, 4, causal=True).shape
    torch.Size([5, 2, 4])
"""

from __future__ import annotations

import contextlib
import importlib.machinery
import importlib.util
import logging
import sys
import types
from typing import Iterator

logger = logging.getLogger(__name__)
SPEED_WARNING = ("flash-attn is not installed: Bagel runs on PyTorch attention instead "
                 "(same results, slower; pip install flash-attn --no-build-isolation for speed)")
SHIM_MARK = "__echo4o_flash_attn_shim__"


def _check_unsupported(window_size, softcap, alibi_slopes, return_attn_probs, block_table) -> None:
    problems = []
    if window_size is not None and tuple(window_size) != (-1, -1):
        problems.append(f"window_size={tuple(window_size)}")
    if softcap:
        problems.append(f"softcap={softcap}")
    if alibi_slopes is not None:
        problems.append("alibi_slopes")
    if return_attn_probs:
        problems.append("return_attn_probs=True")
    if block_table is not None:
        problems.append("block_table")
    if problems:
        raise NotImplementedError(
            "the PyTorch fallback for flash_attn_varlen_func does not support "
            f"{', '.join(problems)}; install flash-attn for these"
        )


def flash_attn_varlen_func(q, k, v, cu_seqlens_q, cu_seqlens_k, max_seqlen_q=None,
                           max_seqlen_k=None, dropout_p=0.0, softmax_scale=None, causal=False,
                           window_size=(-1, -1), softcap=0.0, alibi_slopes=None,
                           deterministic=False, return_attn_probs=False, block_table=None):
    """Attention over packed variable-length sequences, like flash-attn's function of this name.

    ``max_seqlen_q``/``max_seqlen_k`` and ``deterministic`` are accepted for compatibility; the
    segment lengths come from the cumulative offsets.
    """
    import torch

    _check_unsupported(window_size, softcap, alibi_slopes, return_attn_probs, block_table)
    if q.dim() != 3 or k.dim() != 3 or v.dim() != 3:
        raise ValueError("q, k and v must be (total_tokens, heads, head_dim)")
    heads, kv_heads = q.shape[1], k.shape[1]
    if heads % kv_heads:
        raise ValueError(f"{heads} query heads are not a multiple of {kv_heads} key/value heads")
    group = heads // kv_heads
    starts_q = [int(x) for x in cu_seqlens_q.tolist()]
    starts_k = [int(x) for x in cu_seqlens_k.tolist()]
    if len(starts_q) != len(starts_k):
        raise ValueError("cu_seqlens_q and cu_seqlens_k must have the same length")
    pieces = []  # output rows in order; rows outside every segment stay zero, as in flash-attn
    done = 0
    for b in range(len(starts_q) - 1):
        q0, q1, k0, k1 = starts_q[b], starts_q[b + 1], starts_k[b], starts_k[b + 1]
        len_q, len_k = q1 - q0, k1 - k0
        if len_q <= 0:
            continue
        if q0 > done:
            pieces.append(q.new_zeros(q0 - done, heads, v.shape[2]))
        done = q1
        if len_k <= 0:
            pieces.append(q.new_zeros(len_q, heads, v.shape[2]))
            continue
        pieces.append(_segment(q[q0:q1], k[k0:k1], v[k0:k1], group, causal, dropout_p,
                               softmax_scale))
    if done < q.shape[0]:
        pieces.append(q.new_zeros(q.shape[0] - done, heads, v.shape[2]))
    if not pieces:
        return q.new_zeros(q.shape[0], heads, v.shape[2])
    return pieces[0] if len(pieces) == 1 else torch.cat(pieces, dim=0)


def _segment(q, k, v, group, causal, dropout_p, softmax_scale):
    """Attention of one segment: q (len_q, heads, dim), k/v (len_k, kv_heads, dim)."""
    import torch
    from torch.nn.functional import scaled_dot_product_attention

    len_q, len_k = q.shape[0], k.shape[0]
    query = q.transpose(0, 1).unsqueeze(0)  # (1, heads, len_q, dim)
    key, value = k.transpose(0, 1), v.transpose(0, 1)
    if group > 1:
        key = key.repeat_interleave(group, dim=0)
        value = value.repeat_interleave(group, dim=0)
    mask = None
    empty_rows = None
    if causal:
        rows = torch.arange(len_q, device=q.device).unsqueeze(1)
        cols = torch.arange(len_k, device=q.device).unsqueeze(0)
        mask = cols <= rows + (len_k - len_q)  # bottom-right aligned, as flash-attn >= 2.1
        empty_rows = ~mask.any(dim=1)
        if bool(empty_rows.any()):
            mask = mask | empty_rows.unsqueeze(1)  # keep the softmax finite; zeroed below
        else:
            empty_rows = None
    result = scaled_dot_product_attention(
        query, key.unsqueeze(0), value.unsqueeze(0), attn_mask=mask,
        dropout_p=float(dropout_p), scale=softmax_scale,
    )[0].transpose(0, 1)  # (len_q, heads, dim)
    if empty_rows is not None:
        result = result.masked_fill(empty_rows.view(-1, 1, 1), 0.0)
    return result


def real_flash_attn_available() -> bool:
    """True when a real flash-attn package (not this shim) can be imported."""
    present = sys.modules.get("flash_attn")
    if present is not None:
        return not getattr(present, SHIM_MARK, False)
    try:
        return importlib.util.find_spec("flash_attn") is not None
    except (ImportError, ValueError):
        return False


def shim_module() -> types.ModuleType:
    """A module object named ``flash_attn`` that offers this file's ``flash_attn_varlen_func``."""
    module = types.ModuleType("flash_attn", "PyTorch fallback for flash_attn (echo4o-eval)")
    module.__spec__ = importlib.machinery.ModuleSpec("flash_attn", None)
    module.flash_attn_varlen_func = flash_attn_varlen_func
    module.__version__ = "0+echo4o.shim"
    setattr(module, SHIM_MARK, True)
    return module


_warned = False


@contextlib.contextmanager
def provide_flash_attn() -> Iterator[bool]:
    """Within the block ``from flash_attn import flash_attn_varlen_func`` works; yields True if
    that is the shim (flash-attn absent), False if the real package is used.

    The shim is removed from ``sys.modules`` on exit, so other libraries' availability checks
    never mistake it for flash-attn; modules imported inside keep the function they imported.

    >>> with provide_flash_attn() as shimmed:
    ...     from flash_attn import flash_attn_varlen_func as f
    >>> shimmed == (f is flash_attn_varlen_func)
    True
    """
    global _warned
    if real_flash_attn_available():
        yield False
        return
    if not _warned:
        logger.warning(SPEED_WARNING)
        _warned = True
    previous = sys.modules.get("flash_attn")
    sys.modules["flash_attn"] = previous if previous is not None else shim_module()
    try:
        yield True
    finally:
        if previous is None:
            sys.modules.pop("flash_attn", None)
