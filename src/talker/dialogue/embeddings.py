"""Sentence embeddings from all-MiniLM-L6-v2, run as a plain numpy BERT encoder (no torch, no ONNX).

The weights are read straight from the kit's `model.safetensors`; the WordPiece tokenizer comes from
`tokenizer.json`. A sentence vector is the mean of the last hidden states over its real (non-padding)
tokens, L2-normalised, exactly as the sentence-transformers model defines it.
"""

from __future__ import annotations

import contextlib
import json
import math
import struct
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import numpy.typing as npt

from talker.errors import ModelMissingError

if TYPE_CHECKING:
    from tokenizers import Tokenizer

F32 = npt.NDArray[np.float32]
MAX_TOKENS = 256  # sentence-transformers' max_seq_length for this model (its tokenizer.json says 128)
_SQRT_HALF = np.float32(1.0 / math.sqrt(2.0))
_DTYPES = {"F32": "<f4", "F16": "<f2", "F64": "<f8", "I64": "<i8", "I32": "<i4"}


def read_safetensors(path: Path) -> dict[str, npt.NDArray[Any]]:
    """Every tensor of a .safetensors file as a numpy array (8-byte header length, JSON header, raw data)."""
    with path.open("rb") as handle:
        (header_len,) = struct.unpack("<Q", handle.read(8))
        header: dict[str, Any] = json.loads(handle.read(header_len))
        base = 8 + header_len
        tensors: dict[str, npt.NDArray[Any]] = {}
        for name, info in header.items():
            if name == "__metadata__":
                continue
            dtype = _DTYPES.get(info["dtype"])
            if dtype is None:
                raise ModelMissingError(f"{path.name}: tensor {name} has unsupported dtype {info['dtype']}")
            start, end = info["data_offsets"]
            shape = tuple(int(d) for d in info["shape"])
            count = math.prod(shape)
            if end - start != count * np.dtype(dtype).itemsize:
                raise ModelMissingError(f"{path.name}: tensor {name} has inconsistent size; the file is corrupt")
            handle.seek(base + start)
            array = np.fromfile(handle, dtype=dtype, count=count)
            if array.size != count:
                raise ModelMissingError(f"{path.name} is truncated (tensor {name})")
            tensors[name] = array.reshape(shape)
    return tensors


def erf_approx(x: F32) -> F32:
    """erf by Abramowitz & Stegun 7.1.26 (absolute error < 1.5e-7), for when scipy is absent."""
    t = 1.0 / (1.0 + 0.3275911 * np.abs(x))
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return np.asarray(np.sign(x) * (1.0 - poly * np.exp(-x * x)), dtype=np.float32)


def _erf_function() -> Callable[[F32], F32]:
    try:
        from scipy.special import erf  # type: ignore[import-untyped]
    except ImportError:
        return erf_approx
    return lambda x: np.asarray(erf(x), dtype=np.float32)


def _layer_norm(x: F32, gamma: F32, beta: F32, eps: float) -> F32:
    mean = x.mean(axis=-1, keepdims=True)
    centred = x - mean
    var = np.mean(centred * centred, axis=-1, keepdims=True)
    return np.asarray(centred / np.sqrt(var + eps) * gamma + beta, dtype=np.float32)


@dataclass(frozen=True)
class _Layer:
    """One transformer block, weights pre-transposed for `x @ w` (query, key and value fused)."""

    qkv_w: F32
    qkv_b: F32
    attn_out_w: F32
    attn_out_b: F32
    attn_norm: tuple[F32, F32]
    inter_w: F32
    inter_b: F32
    out_w: F32
    out_b: F32
    out_norm: tuple[F32, F32]


class _Encoder:
    """The BERT encoder of all-MiniLM-L6-v2 and its tokenizer, in numpy."""

    def __init__(self, model_dir: Path) -> None:
        from tokenizers import Tokenizer

        for name in ("model.safetensors", "tokenizer.json", "config.json"):
            if not (model_dir / name).is_file():
                raise ModelMissingError(f"{model_dir} has no {name}; run `talker models install`")
        config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
        self.hidden = int(config["hidden_size"])
        self.heads = int(config["num_attention_heads"])
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        self.max_tokens = min(MAX_TOKENS, int(config["max_position_embeddings"]))
        self.tokenizer: Tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length=self.max_tokens)
        self.erf = _erf_function()

        raw = read_safetensors(model_dir / "model.safetensors")

        def get(name: str) -> F32:
            if name not in raw:
                raise ModelMissingError(f"{model_dir / 'model.safetensors'} has no tensor {name}; wrong model")
            return np.ascontiguousarray(raw[name], dtype=np.float32)

        self.word = get("embeddings.word_embeddings.weight")
        self.position = get("embeddings.position_embeddings.weight")
        self.token_type = get("embeddings.token_type_embeddings.weight")
        self.embed_norm = (get("embeddings.LayerNorm.weight"), get("embeddings.LayerNorm.bias"))
        self.layers: list[_Layer] = []
        for i in range(int(config["num_hidden_layers"])):
            p = f"encoder.layer.{i}."
            parts = ("query", "key", "value")
            self.layers.append(_Layer(
                qkv_w=np.ascontiguousarray(
                    np.concatenate([get(f"{p}attention.self.{q}.weight") for q in parts]).T),
                qkv_b=np.concatenate([get(f"{p}attention.self.{q}.bias") for q in parts]),
                attn_out_w=np.ascontiguousarray(get(f"{p}attention.output.dense.weight").T),
                attn_out_b=get(f"{p}attention.output.dense.bias"),
                attn_norm=(get(f"{p}attention.output.LayerNorm.weight"), get(f"{p}attention.output.LayerNorm.bias")),
                inter_w=np.ascontiguousarray(get(f"{p}intermediate.dense.weight").T),
                inter_b=get(f"{p}intermediate.dense.bias"),
                out_w=np.ascontiguousarray(get(f"{p}output.dense.weight").T),
                out_b=get(f"{p}output.dense.bias"),
                out_norm=(get(f"{p}output.LayerNorm.weight"), get(f"{p}output.LayerNorm.bias")),
            ))

    def token_ids(self, texts: list[str]) -> list[list[int]]:
        """WordPiece ids with [CLS] … [SEP], truncated to the model's window."""
        return [list(e.ids) for e in self.tokenizer.encode_batch(texts)]

    def gelu(self, x: F32) -> F32:
        """The exact GELU, x·Φ(x) = x/2·(1 + erf(x/√2)), as BERT's "gelu" defines it."""
        return np.asarray(np.float32(0.5) * x * (np.float32(1.0) + self.erf(x * _SQRT_HALF)), dtype=np.float32)

    def encode(self, ids: npt.NDArray[np.int64], mask: npt.NDArray[np.bool_]) -> F32:
        """Mean-pooled, L2-normalised vectors for a padded batch (ids and mask are (batch, tokens))."""
        batch, length = ids.shape
        hidden, heads = self.hidden, self.heads
        size = hidden // heads
        x = self.word[ids] + self.position[:length] + self.token_type[0]
        x = _layer_norm(x.reshape(batch * length, hidden), *self.embed_norm, self.eps)
        bias = np.where(mask, np.float32(0.0), np.float32(-np.inf))[:, None, None, :]
        scale = np.float32(1.0 / math.sqrt(size))
        for layer in self.layers:
            qkv = (x @ layer.qkv_w + layer.qkv_b).reshape(batch, length, 3, heads, size)
            q = qkv[:, :, 0].transpose(0, 2, 1, 3) * scale
            k = qkv[:, :, 1].transpose(0, 2, 3, 1)
            v = qkv[:, :, 2].transpose(0, 2, 1, 3)
            scores = q @ k + bias  # (batch, heads, tokens, tokens); padding keys get -inf
            scores -= scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(batch * length, hidden)
            x = _layer_norm(context @ layer.attn_out_w + layer.attn_out_b + x, *layer.attn_norm, self.eps)
            inner = self.gelu(x @ layer.inter_w + layer.inter_b)
            x = _layer_norm(inner @ layer.out_w + layer.out_b + x, *layer.out_norm, self.eps)
        weights = mask.astype(np.float32)[:, :, None]
        pooled = (x.reshape(batch, length, hidden) * weights).sum(axis=1) / weights.sum(axis=1)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return np.asarray(pooled / np.maximum(norms, np.float32(1e-12)), dtype=np.float32)


class _SharedEncoder:
    """Encoders loaded once per process (per model directory), under a lock."""

    _lock = threading.Lock()
    _loaded: ClassVar[dict[str, _Encoder]] = {}

    @classmethod
    def get(cls, model_dir: Path) -> _Encoder:
        key = str(model_dir.resolve())
        with cls._lock:
            if key not in cls._loaded:
                cls._loaded[key] = _Encoder(model_dir)
            return cls._loaded[key]


@contextlib.contextmanager
def _blas_threads(threads: int) -> Iterator[None]:
    """Hold BLAS to `threads` while encoding (process-wide while it lasts), if threadpoolctl is present."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(limits=threads, user_api="blas"):
        yield


class MiniLMEmbedder:
    """384-d English sentence embeddings (all-MiniLM-L6-v2); the model loads on first use."""

    dimension = 384

    def __init__(self, model_dir: Path, threads: int = 1) -> None:
        self.model_dir = model_dir
        self.threads = threads

    @property
    def max_tokens(self) -> int:
        return MAX_TOKENS

    def _encoder(self) -> _Encoder:
        return _SharedEncoder.get(self.model_dir)

    def embed(self, texts: list[str], batch_size: int = 32) -> F32:
        """float32 (len(texts), 384) unit vectors; texts longer than 256 tokens are truncated."""
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        encoder = self._encoder()
        ids = encoder.token_ids(list(texts))
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))  # similar lengths share a batch
        out = np.empty((len(ids), encoder.hidden), dtype=np.float32)
        with _blas_threads(self.threads):
            for start in range(0, len(order), batch_size):
                chunk = order[start:start + batch_size]
                length = max(len(ids[i]) for i in chunk)
                batch = np.zeros((len(chunk), length), dtype=np.int64)
                mask = np.zeros((len(chunk), length), dtype=np.bool_)
                for row, i in enumerate(chunk):
                    batch[row, :len(ids[i])] = ids[i]
                    mask[row, :len(ids[i])] = True
                out[chunk] = encoder.encode(batch, mask)
        return out


def create_embedder(settings: Any) -> MiniLMEmbedder:
    """The kit's MiniLM embedder, with the process's thread setting."""
    from talker.models.kit import ModelKit

    return MiniLMEmbedder(ModelKit(settings.models_dir).path("minilm-l6"), threads=settings.threads)
