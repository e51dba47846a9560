"""A plain Llama-style decoder-only transformer, nanoGPT style.

Read top-down: RMSNorm -> rotary embeddings -> grouped-query attention -> SwiGLU MLP ->
decoder block -> ModelConfig (+ presets) -> Decoder -> loss. Hugging Face conversion and folders
are in `trainers.hf_interop`.

The file stays free of distributed code on purpose: data / pipeline / tensor parallelism
is applied from the outside by small functions that take `Decoder.embed`, `Decoder.layers`,
`Decoder.norm` and `Decoder.lm_head` apart. Every block is self-contained (it derives its
rotary positions from the sequence length), so a pipeline stage is just a slice of layers.

The math is kept identical to `transformers.LlamaForCausalLM` (same rotate_half rotary
layout, same RMSNorm dtype handling), so weights map one to one without any permutation.

Shape letters: B batch, T sequence, C hidden_size, H num_heads, K num_kv_heads,
D head_dim, I intermediate_size, V vocab_size.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

IGNORE_INDEX = -100


# ---------------------------------------------------------------------------------------
# Building blocks
# ---------------------------------------------------------------------------------------


class RMSNorm(nn.Module):
    """Root-mean-square layer norm (no mean subtraction, no bias), as in Llama."""

    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Normalise in float32 even under bf16 training: the mean of squares overflows /
        # loses precision otherwise. Cast back before the weight multiply, like HF does,
        # so converted checkpoints give bit-compatible results.
        dtype = x.dtype
        x32 = x.float()
        x32 = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x32.to(dtype)


def rotary_cos_sin(
    seq_len: int, head_dim: int, theta: float, device: torch.device, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cos/sin tables for positions 0..seq_len-1, each [T, D], in HF's "two halves" layout.

    Computed on the fly instead of cached in a buffer: it is tiny next to attention, it
    survives `.to(bfloat16)` without losing precision, and it keeps the module free of
    buffers, which makes meta-device init and pipeline splitting trivial.
    """
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, device=device, dtype=torch.float32) / head_dim))
    pos = torch.arange(seq_len, device=device, dtype=torch.float32)
    freqs = torch.outer(pos, inv_freq)  # [T, D/2]
    emb = torch.cat((freqs, freqs), dim=-1)  # [T, D]
    return emb.cos().to(dtype), emb.sin().to(dtype)


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    """(x1, x2) -> (-x2, x1) over the last dim; pairs dim i with dim i + D/2 (HF layout)."""
    x1, x2 = x.chunk(2, dim=-1)  # [..., D/2] each
    return torch.cat((-x2, x1), dim=-1)  # [..., D]


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate x [B, n_heads, T, D] by the position tables cos/sin [T, D]."""
    return x * cos + rotate_half(x) * sin


def repeat_kv(x: torch.Tensor, n_rep: int) -> torch.Tensor:
    """[B, K, T, D] -> [B, K*n_rep, T, D]; kv head j serves query heads j*n_rep .. j*n_rep+n_rep-1 (HF order)."""
    if n_rep == 1:
        return x
    B, K, T, D = x.shape
    x = x[:, :, None].expand(B, K, n_rep, T, D)  # [B, K, n_rep, T, D], a view, no copy yet
    return x.reshape(B, K * n_rep, T, D)  # [B, H, T, D]


class Attention(nn.Module):
    """Causal multi-head attention with grouped-query heads (K kv heads shared by H/K query heads)."""

    def __init__(self, cfg: "ModelConfig"):
        super().__init__()
        self.num_heads = cfg.num_heads
        self.num_kv_heads = cfg.num_kv_heads
        self.head_dim = cfg.head_dim
        self.rope_theta = cfg.rope_theta
        self.q_proj = nn.Linear(cfg.hidden_size, cfg.num_heads * cfg.head_dim, bias=False)
        self.k_proj = nn.Linear(cfg.hidden_size, cfg.num_kv_heads * cfg.head_dim, bias=False)
        self.v_proj = nn.Linear(cfg.hidden_size, cfg.num_kv_heads * cfg.head_dim, bias=False)
        self.o_proj = nn.Linear(cfg.num_heads * cfg.head_dim, cfg.hidden_size, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, _ = x.shape
        # Head counts are read from the weight shapes, not the config, so that tensor
        # parallelism can shard q/k/v column-wise and this code still works per shard.
        q = self.q_proj(x).view(B, T, -1, self.head_dim).transpose(1, 2)  # [B, H, T, D]
        k = self.k_proj(x).view(B, T, -1, self.head_dim).transpose(1, 2)  # [B, K, T, D]
        v = self.v_proj(x).view(B, T, -1, self.head_dim).transpose(1, 2)  # [B, K, T, D]

        cos, sin = rotary_cos_sin(T, self.head_dim, self.rope_theta, x.device, x.dtype)  # [T, D]
        q = apply_rotary(q, cos, sin)
        k = apply_rotary(k, cos, sin)

        # Expand kv heads to match query heads; expand+reshape instead of SDPA's enable_gqa
        # keeps torch>=2.4 support and works with every SDPA backend.
        n_rep = q.shape[1] // k.shape[1]
        k = repeat_kv(k, n_rep)  # [B, H, T, D]
        v = repeat_kv(v, n_rep)  # [B, H, T, D]

        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # [B, H, T, D]
        y = y.transpose(1, 2).reshape(B, T, -1)  # [B, T, H*D]
        return self.o_proj(y)  # [B, T, C]


class MLP(nn.Module):
    """SwiGLU feed-forward: down(silu(gate(x)) * up(x))."""

    def __init__(self, cfg: "ModelConfig"):
        super().__init__()
        self.gate_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=False)
        self.up_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=False)
        self.down_proj = nn.Linear(cfg.intermediate_size, cfg.hidden_size, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))  # [B, T, I] -> [B, T, C]


class Block(nn.Module):
    """Pre-norm decoder block: x + attn(norm(x)), then x + mlp(norm(x)). Maps [B, T, C] -> [B, T, C]."""

    def __init__(self, cfg: "ModelConfig"):
        super().__init__()
        self.attn_norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.attn = Attention(cfg)
        self.mlp_norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.mlp = MLP(cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.attn_norm(x))
        x = x + self.mlp(self.mlp_norm(x))
        return x


# ---------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------


@dataclass(kw_only=True)
class ModelConfig:
    """Shape and numerics of a Llama-style decoder. All sizes are counts, not bytes."""

    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    max_seq_len: int
    rope_theta: float = 10000.0
    rms_norm_eps: float = 1e-5
    tie_embeddings: bool = False
    initializer_range: float = 0.02

    def __post_init__(self):
        for name in ("vocab_size", "hidden_size", "intermediate_size", "num_layers",
                     "num_heads", "num_kv_heads", "max_seq_len"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"ModelConfig.{name} must be a positive int, got {value!r}")
        for name in ("rope_theta", "rms_norm_eps", "initializer_range"):
            if not getattr(self, name) > 0:
                raise ValueError(f"ModelConfig.{name} must be > 0, got {getattr(self, name)!r}")
        if self.hidden_size % self.num_heads:
            raise ValueError(
                f"ModelConfig.hidden_size ({self.hidden_size}) must be divisible by num_heads ({self.num_heads})")
        if self.num_heads % self.num_kv_heads:
            raise ValueError(
                f"ModelConfig.num_heads ({self.num_heads}) must be divisible by num_kv_heads ({self.num_kv_heads})")
        if self.head_dim % 2:
            raise ValueError(f"ModelConfig.hidden_size / num_heads (head_dim={self.head_dim}) must be even for rotary")

    @property
    def head_dim(self) -> int:
        """Per-head width D = hidden_size / num_heads."""
        return self.hidden_size // self.num_heads

    def num_params(self) -> int:
        """Exact parameter count of `Decoder(self)` (tied embeddings counted once)."""
        C, I, D = self.hidden_size, self.intermediate_size, self.head_dim
        attn = C * self.num_heads * D * 2 + C * self.num_kv_heads * D * 2  # q, o + k, v
        block = attn + 3 * C * I + 2 * C  # + SwiGLU + two norms
        embed = self.vocab_size * C
        head = 0 if self.tie_embeddings else self.vocab_size * C
        return embed + self.num_layers * block + C + head

    def flops_per_token(self, seq_len: int) -> float:
        """Training FLOPs (forward + backward) per token, for MFU.

        6 * N for the matmuls (PaLM appendix B / nanoGPT's estimate_mfu) plus
        12 * L * H * D * T for the attention score and value matmuls. N excludes the
        input embedding, which is a lookup, but includes lm_head (a real matmul, even when
        tied). Causal masking is ignored (as in the references), so this is the
        conventional, slightly generous, figure.
        """
        n = self.num_params() - self.vocab_size * self.hidden_size
        if self.tie_embeddings:
            n += self.vocab_size * self.hidden_size
        return 6.0 * n + 12.0 * self.num_layers * self.num_heads * self.head_dim * seq_len

    def to_dict(self) -> dict:
        """Plain dict of the fields (JSON-serialisable)."""
        return asdict(self)


def debug_config() -> ModelConfig:
    """Tiny 2-layer model for tests and smoke runs (GQA on, so that path is always exercised)."""
    return ModelConfig(vocab_size=256, hidden_size=64, intermediate_size=128, num_layers=2,
                       num_heads=4, num_kv_heads=2, max_seq_len=128, rope_theta=10000.0)


def llama_1b_config() -> ModelConfig:
    """Llama-3.2-1B shapes (1.24B params, tied embeddings) for benchmarking.

    Without Llama 3's rope scaling, so it matches the real checkpoint only up to 8192 tokens.
    """
    return ModelConfig(vocab_size=128256, hidden_size=2048, intermediate_size=8192, num_layers=16,
                       num_heads=32, num_kv_heads=8, max_seq_len=8192, rope_theta=500000.0,
                       tie_embeddings=True)


def llama_8b_config() -> ModelConfig:
    """Llama-3-8B shapes (8.03B params) for multi-GPU benchmarking."""
    return ModelConfig(vocab_size=128256, hidden_size=4096, intermediate_size=14336, num_layers=32,
                       num_heads=32, num_kv_heads=8, max_seq_len=8192, rope_theta=500000.0)


# ---------------------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------------------


class Decoder(nn.Module):
    """Decoder-only language model: input_ids [B, T] -> logits [B, T, V].

    The output shape never depends on arguments (no targets branch), which is what
    pipeline schedules need; compute the loss with `shifted_loss(logits, labels)`.
    """

    def __init__(self, cfg: ModelConfig, activation_checkpointing: bool = False):
        super().__init__()
        self.cfg = cfg
        # Recompute each block in backward when training: trades ~33% more compute for
        # activation memory that no longer grows with the number of layers.
        self.activation_checkpointing = activation_checkpointing
        self.embed = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        self.layers = nn.ModuleList(Block(cfg) for _ in range(cfg.num_layers))
        self.norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.lm_head = nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False)
        self.apply(self._init_weights)
        self.tie_weights()

    def _init_weights(self, module: nn.Module) -> None:
        # Same scheme as HF Llama, so a model trained from scratch here and one built by
        # transformers start from the same distribution.
        if isinstance(module, (nn.Linear, nn.Embedding)):
            if module.weight.device.type != "meta":
                nn.init.normal_(module.weight, mean=0.0, std=self.cfg.initializer_range)

    def tie_weights(self) -> None:
        """Share lm_head.weight with embed.weight when cfg.tie_embeddings (call again after loading)."""
        if self.cfg.tie_embeddings:
            self.lm_head.weight = self.embed.weight

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        B, T = input_ids.shape
        if T > self.cfg.max_seq_len:
            raise ValueError(f"sequence length {T} exceeds max_seq_len {self.cfg.max_seq_len}")
        x = self.embed(input_ids)  # [B, T, C]
        for layer in self.layers:
            if self.activation_checkpointing and self.training and torch.is_grad_enabled():
                x = checkpoint(layer, x, use_reentrant=False)
            else:
                x = layer(x)
        x = self.norm(x)  # [B, T, C]
        return self.lm_head(x)  # [B, T, V]


def shifted_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of logits[b, t] against labels[b, t], labels != -100, in float32.

    For labels that are already the next tokens (what `trainers.data` yields: labels[t] is the
    token after input t), so no shift happens here.
    """
    vocab = logits.shape[-1]
    return F.cross_entropy(logits.float().reshape(-1, vocab), labels.to(logits.device).reshape(-1),  # [B*T, V]
                           ignore_index=IGNORE_INDEX)


__all__ = ["RMSNorm", "rotary_cos_sin", "repeat_kv", "Attention", "MLP", "Block", "ModelConfig", "Decoder",
           "shifted_loss", "debug_config", "llama_1b_config", "llama_8b_config", "IGNORE_INDEX"]
