"""A plain Llama-style decoder-only transformer, nanoGPT style, with Hugging Face interop.

Read top-down: RMSNorm -> rotary embeddings -> grouped-query attention -> SwiGLU MLP ->
decoder block -> ModelConfig (+ presets) -> Decoder -> loss -> HF conversion and folders.

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

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

if TYPE_CHECKING:
    import transformers

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
    pipeline schedules need; compute the loss with `loss(logits, labels)`.
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


def loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy over labels != -100.

    `labels` are aligned with the inputs (usually a copy of input_ids with padding /
    prompt positions set to -100), exactly like HF's `labels=`; the shift happens here:
    logits at position t are scored against labels[t + 1]. Computed in float32.
    """
    logits = logits[:, :-1, :].float()  # [B, T-1, V]
    targets = labels[:, 1:].to(logits.device)  # [B, T-1]
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1),  # [B*(T-1), V]
                           ignore_index=IGNORE_INDEX)


def shifted_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of logits[b, t] against labels[b, t], labels != -100, in float32.

    For labels that are already the next tokens (what `trainers.data` yields: labels[t] is the
    token after input t), so no shift happens here; `loss` is the variant for aligned labels.
    """
    vocab = logits.shape[-1]
    return F.cross_entropy(logits.float().reshape(-1, vocab), labels.to(logits.device).reshape(-1),  # [B*T, V]
                           ignore_index=IGNORE_INDEX)


# ---------------------------------------------------------------------------------------
# Hugging Face interop
# ---------------------------------------------------------------------------------------

# Our per-layer names -> HF's; the rotary layout is HF's own, so no permutation is needed.
_LAYER_NAMES = {
    "attn.q_proj.weight": "self_attn.q_proj.weight",
    "attn.k_proj.weight": "self_attn.k_proj.weight",
    "attn.v_proj.weight": "self_attn.v_proj.weight",
    "attn.o_proj.weight": "self_attn.o_proj.weight",
    "mlp.gate_proj.weight": "mlp.gate_proj.weight",
    "mlp.up_proj.weight": "mlp.up_proj.weight",
    "mlp.down_proj.weight": "mlp.down_proj.weight",
    "attn_norm.weight": "input_layernorm.weight",
    "mlp_norm.weight": "post_attention_layernorm.weight",
}
_TOP_NAMES = {"embed.weight": "model.embed_tokens.weight", "norm.weight": "model.norm.weight",
              "lm_head.weight": "lm_head.weight"}


def _hf_name(name: str) -> str:
    if name in _TOP_NAMES:
        return _TOP_NAMES[name]
    _, index, rest = name.split(".", 2)  # "layers", N, "attn.q_proj.weight"
    return f"model.layers.{index}.{_LAYER_NAMES[rest]}"


def to_hf_config(cfg: ModelConfig, **extra) -> "transformers.LlamaConfig":
    """Equivalent `transformers.LlamaConfig`; `extra` (e.g. bos_token_id) is passed through."""
    from transformers import LlamaConfig

    kwargs = dict(
        vocab_size=cfg.vocab_size, hidden_size=cfg.hidden_size, intermediate_size=cfg.intermediate_size,
        num_hidden_layers=cfg.num_layers, num_attention_heads=cfg.num_heads,
        num_key_value_heads=cfg.num_kv_heads, head_dim=cfg.head_dim, max_position_embeddings=cfg.max_seq_len,
        rope_theta=cfg.rope_theta, rms_norm_eps=cfg.rms_norm_eps, tie_word_embeddings=cfg.tie_embeddings,
        initializer_range=cfg.initializer_range, hidden_act="silu", attention_bias=False, mlp_bias=False,
        # LlamaConfig defaults to ids 1/2, which are wrong for most vocabularies; unknown is safer.
        bos_token_id=None, eos_token_id=None, pad_token_id=None,
        architectures=["LlamaForCausalLM"],
    )
    kwargs.update(extra)
    return LlamaConfig(**kwargs)


def _hf_rope_theta(hf_cfg) -> tuple[float, str]:
    # transformers >= 5 keeps it in rope_parameters, 4.x in rope_theta / rope_scaling.
    params = getattr(hf_cfg, "rope_parameters", None) or {}
    scaling = getattr(hf_cfg, "rope_scaling", None) or {}
    theta = params.get("rope_theta", getattr(hf_cfg, "rope_theta", None))
    rope_type = params.get("rope_type") or scaling.get("rope_type") or scaling.get("type") or "default"
    return float(theta if theta is not None else 10000.0), rope_type


def from_hf_config(hf_cfg) -> ModelConfig:
    """ModelConfig from a `LlamaConfig`; raises ValueError for features this model lacks."""
    theta, rope_type = _hf_rope_theta(hf_cfg)
    if rope_type != "default":
        raise ValueError(f"unsupported rope_type {rope_type!r} (only plain rotary is implemented)")
    if getattr(hf_cfg, "hidden_act", "silu") != "silu":
        raise ValueError(f"unsupported hidden_act {hf_cfg.hidden_act!r} (only silu)")
    if getattr(hf_cfg, "attention_bias", False) or getattr(hf_cfg, "mlp_bias", False):
        raise ValueError("unsupported attention_bias / mlp_bias (this model has no biases)")
    num_kv = getattr(hf_cfg, "num_key_value_heads", None) or hf_cfg.num_attention_heads
    head_dim = getattr(hf_cfg, "head_dim", None)
    if head_dim is not None and head_dim != hf_cfg.hidden_size // hf_cfg.num_attention_heads:
        raise ValueError(f"unsupported head_dim {head_dim} != hidden_size / num_attention_heads")
    return ModelConfig(
        vocab_size=hf_cfg.vocab_size, hidden_size=hf_cfg.hidden_size, intermediate_size=hf_cfg.intermediate_size,
        num_layers=hf_cfg.num_hidden_layers, num_heads=hf_cfg.num_attention_heads, num_kv_heads=num_kv,
        max_seq_len=hf_cfg.max_position_embeddings, rope_theta=theta, rms_norm_eps=hf_cfg.rms_norm_eps,
        tie_embeddings=bool(getattr(hf_cfg, "tie_word_embeddings", False)),
        initializer_range=getattr(hf_cfg, "initializer_range", 0.02),
    )


def to_hf_state_dict(model: Decoder) -> dict[str, torch.Tensor]:
    """HF Llama names -> tensors (detached, shared storage). lm_head is left out when tied, as HF saves it."""
    out = {}
    for name, tensor in model.state_dict().items():
        if name == "lm_head.weight" and model.cfg.tie_embeddings:
            continue
        out[_hf_name(name)] = tensor.detach()
    return out


def hf_weight_shapes(cfg: ModelConfig) -> dict[str, tuple[int, ...]]:
    """HF Llama tensor name -> shape of the weights a `Decoder(cfg)` loads (as `to_hf_state_dict` names them)."""
    with torch.device("meta"):
        model = Decoder(cfg)
    return {name: tuple(t.shape) for name, t in to_hf_state_dict(model).items()}


def from_hf_state_dict(cfg: ModelConfig, state_dict: dict[str, torch.Tensor]) -> Decoder:
    """Decoder holding the given HF-named weights (tensors are used as-is: dtype and device kept)."""
    # Build on meta so a multi-billion model is not randomly initialised just to be overwritten.
    with torch.device("meta"):
        model = Decoder(cfg)
    wanted = {_hf_name(n): n for n in model.state_dict()}
    ours = {}
    for key, tensor in state_dict.items():
        if key.endswith("rotary_emb.inv_freq"):  # old checkpoints saved this recomputable buffer
            continue
        if key == "lm_head.weight" and cfg.tie_embeddings:
            continue
        if key not in wanted:
            raise KeyError(f"unexpected weight {key!r} in HF state dict")
        ours[wanted[key]] = tensor
    if cfg.tie_embeddings:
        ours["lm_head.weight"] = ours.get("embed.weight")
    missing = sorted(_hf_name(n) for n in wanted.values() if ours.get(n) is None)
    if missing:
        raise KeyError(f"HF state dict lacks {missing[:5]}{' ...' if len(missing) > 5 else ''}")
    model.load_state_dict(ours, strict=True, assign=True)
    model.tie_weights()
    return model


def save_hf_folder(model: Decoder, cfg: ModelConfig, folder: str | os.PathLike, tokenizer=None) -> Path:
    """Write an HF-loadable folder: config.json, generation_config.json, model.safetensors (+ tokenizer)."""
    from safetensors.torch import save_file
    from transformers import GenerationConfig

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    extra = {}
    if tokenizer is not None:
        extra = {k: getattr(tokenizer, k, None) for k in ("bos_token_id", "eos_token_id", "pad_token_id")}
        tokenizer.save_pretrained(folder)
    dtype = next(model.parameters()).dtype
    hf_cfg = to_hf_config(cfg, **extra)
    import transformers

    # transformers 5 renamed torch_dtype to dtype (and warns on the old name).
    setattr(hf_cfg, "dtype" if int(transformers.__version__.split(".")[0]) >= 5 else "torch_dtype", dtype)
    hf_cfg.save_pretrained(folder)
    GenerationConfig.from_model_config(hf_cfg).save_pretrained(folder)
    # safetensors refuses aliased tensors, hence the contiguous copies; "pt" metadata is
    # what transformers checks before trusting the file.
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in to_hf_state_dict(model).items()}
    save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
    return folder


def load_hf_folder(folder: str | os.PathLike) -> tuple[Decoder, ModelConfig]:
    """Load a Llama folder (ours or HF's) from its verified safetensors files only
    (`pipelines.hf_loading.safetensors_weights`); a folder of pickled .bin files raises WeightFilesError."""
    from safetensors.torch import load_file
    from transformers import LlamaConfig

    from fullchain.pipelines.hf_loading import safetensors_weights

    folder = Path(folder)
    cfg = from_hf_config(LlamaConfig.from_pretrained(folder, local_files_only=True))
    state = {}
    for name in safetensors_weights(str(folder)):
        state.update(load_file(str(folder / name)))
    return from_hf_state_dict(cfg, state), cfg


__all__ = [
    "RMSNorm", "rotary_cos_sin", "repeat_kv", "Attention", "MLP", "Block", "ModelConfig", "Decoder", "loss",
    "shifted_loss", "debug_config",
    "llama_1b_config", "llama_8b_config", "to_hf_config", "from_hf_config", "to_hf_state_dict",
    "from_hf_state_dict", "hf_weight_shapes", "save_hf_folder", "load_hf_folder", "IGNORE_INDEX",
]
