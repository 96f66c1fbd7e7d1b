"""config.json parsing the architectures share.

`Fields` reads typed fields with transformers' defaults and one-line errors.
`read_decoder()` reads the fields of LLaMA's family (llama, mistral, qwen2,
phi3, gemma, gemma2): vocabulary, sizes, heads, KV heads, head_dim, RMSNorm
eps, positions and `tie_word_embeddings`, each model_type with its own
defaults (`DecoderDefaults`). The checks on heads, the activation, the
sliding window and the rotary dims are here too, with the same messages for
every architecture. (The model dtype is the checkpoint's:
`Checkpoint.torch_dtype()`.)
"""
from __future__ import annotations

from dataclasses import dataclass

from .errors import BnbMlirError

#: A field without a default: absent is an error.
REQUIRED = object()


class Fields:
    """Typed access to config.json fields with one-line errors."""

    def __init__(self, config: dict, where: str):
        self.c = config
        self.where = where

    def int(self, key: str, default=REQUIRED, minimum: int = 1) -> int:
        value = self.c.get(key, default)
        if value is None and default is not REQUIRED:
            value = default
        if value is REQUIRED:
            raise BnbMlirError(f"{self.where}: missing field '{key}'")
        if not isinstance(value, int) or isinstance(value, bool) or \
                value < minimum:
            raise BnbMlirError(f"{self.where}: '{key}' must be an integer "
                               f">= {minimum}, got {value!r}")
        return value

    def optional_int(self, key: str, default) -> int | None:
        """An integer >= 1, or None when the config sets null (`default`
        when absent)."""
        if self.c.get(key, default) is None:
            return None
        return self.int(key, default)

    def float(self, key: str, default: float) -> float:
        value = self.c.get(key, default)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or \
                value < 0:
            raise BnbMlirError(f"{self.where}: '{key}' must be a number >= 0, "
                               f"got {value!r}")
        return float(value)

    def bool(self, key: str, default: bool) -> bool:
        value = self.c.get(key, default)
        if not isinstance(value, bool):
            raise BnbMlirError(f"{self.where}: '{key}' must be true or false, "
                               f"got {value!r}")
        return value

    def str(self, key: str, default: str) -> str:
        value = self.c.get(key, default)
        if not isinstance(value, str):
            raise BnbMlirError(f"{self.where}: '{key}' must be a string, got "
                               f"{value!r}")
        return value


@dataclass(frozen=True)
class DecoderDefaults:
    """transformers' defaults of one model_type's config (REQUIRED: the
    field must be present)."""
    max_positions: int
    eps: float
    tied: bool
    vocab: object = REQUIRED
    hidden: object = REQUIRED
    inter: object = REQUIRED
    layers: object = REQUIRED
    heads: object = REQUIRED
    #: None: num_attention_heads.
    kv_heads: int | None = None
    #: None: hidden_size // num_attention_heads.
    head_dim: int | None = None


def read_decoder(model, c: Fields, d: DecoderDefaults) -> None:
    """Sets `model`'s vocab, hidden, inter, layers, heads, kv_heads,
    head_dim, eps, max_positions and tied from vocab_size, hidden_size,
    intermediate_size, num_hidden_layers, num_attention_heads,
    num_key_value_heads, head_dim, rms_norm_eps, max_position_embeddings and
    tie_word_embeddings, read in that order."""
    model.vocab = c.int("vocab_size", d.vocab)
    model.hidden = c.int("hidden_size", d.hidden)
    model.inter = c.int("intermediate_size", d.inter)
    model.layers = c.int("num_hidden_layers", d.layers)
    model.heads = c.int("num_attention_heads", d.heads)
    model.kv_heads = c.int("num_key_value_heads",
                           model.heads if d.kv_heads is None else d.kv_heads)
    model.head_dim = c.int("head_dim", model.hidden // model.heads
                           if d.head_dim is None else d.head_dim)
    model.eps = c.float("rms_norm_eps", d.eps)
    model.max_positions = c.int("max_position_embeddings", d.max_positions)
    model.tied = c.bool("tie_word_embeddings", d.tied)


def check_activation(c: Fields, key: str, supported: tuple[str, ...],
                     default: str) -> str:
    """The activation `key` names, which must be one of `supported`."""
    act = c.str(key, default)
    if act not in supported:
        raise BnbMlirError(f"{c.where}: {key} '{act}' is not supported "
                           f"({', '.join(supported)})")
    return act


def check_kv_heads(model) -> None:
    """Grouped-query attention: the KV heads divide the query heads."""
    if model.heads % model.kv_heads:
        raise BnbMlirError(f"{model.where}: num_attention_heads "
                           f"{model.heads} is not a multiple of "
                           f"num_key_value_heads {model.kv_heads}")


def check_rotary_head_dim(model) -> None:
    """Rotary embeddings over the whole head need an even head_dim."""
    if model.head_dim % 2:
        raise BnbMlirError(f"{model.where}: head_dim {model.head_dim} must "
                           "be even for rotary embeddings")


def split_heads(hidden: int, heads: int, where: str,
                hidden_key: str = "hidden_size",
                heads_key: str = "num_attention_heads") -> int:
    """hidden / heads, which must divide."""
    if hidden % heads:
        raise BnbMlirError(f"{where}: {hidden_key} {hidden} is not a "
                           f"multiple of {heads_key} {heads}")
    return hidden // heads


def rotary_dim(head_dim: int, factor: float, field: str, where: str) -> int:
    """int(head_dim · factor), as transformers truncates it; it must be even
    and at least 2."""
    if not 0.0 < factor <= 1.0:
        raise BnbMlirError(f"{where}: '{field}' must be in (0, 1], got "
                           f"{factor}")
    dim = int(head_dim * factor)
    if dim < 2 or dim % 2:
        raise BnbMlirError(f"{where}: {field} {factor} gives {dim} rotary "
                           f"dims of head_dim {head_dim}; an even number >= 2 "
                           "is needed")
    return dim


def llama_lm_head(model) -> str:
    """The lm_head weight key of LLaMA's family: the embedding matrix when
    tied (transformers ties them whatever a stored lm_head.weight holds),
    else lm_head.weight; recorded with its shape in `model.tensors`."""
    key = "model.embed_tokens.weight" if model.tied else "lm_head.weight"
    model.tensors[key] = (model.vocab, model.hidden)
    return key
