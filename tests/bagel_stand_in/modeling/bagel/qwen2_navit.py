"""TEST DOUBLE for Bagel's modeling/bagel/qwen2_navit.py: imports flash-attn the way Bagel does.

The real file does ``from flash_attn import flash_attn_varlen_func`` at import time and calls it on
packed sequences; so does this one (the stand-in inferencer runs it once per call).
"""

import torch

from flash_attn import flash_attn_varlen_func


def packed_self_attention(hidden):
    """Causal attention over two packed segments of ``hidden`` (tokens, heads, dim)."""
    half = hidden.shape[0] // 2
    cu = torch.tensor([0, half, hidden.shape[0]], dtype=torch.int32)
    return flash_attn_varlen_func(hidden, hidden, hidden, cu_seqlens_q=cu, cu_seqlens_k=cu,
                                  max_seqlen_q=hidden.shape[0] - half,
                                  max_seqlen_k=hidden.shape[0] - half, causal=True)
