"""Rotary position embedding tables, computed in float32 as transformers does.

`inv_freq[i] = 1 / theta ** (2i / dim)` (float32 pow and division), adjusted
by the "linear" or "llama3" rope scaling; `cos`/`sin` of
`position * inv_freq`, duplicated over both halves of the head dimension,
then rounded to the model dtype. The tables are tiny ([S, head_dim]) and are
embedded in the graph as constants.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .errors import BnbMlirError


@dataclass(frozen=True)
class RopeConfig:
    """What the tables depend on: theta, the rotary dimension and scaling."""
    theta: float
    dim: int
    rope_type: str = "default"
    factor: float = 1.0
    low_freq_factor: float = 1.0
    high_freq_factor: float = 4.0
    original_max_position_embeddings: int = 8192

    @classmethod
    def from_config(cls, config: dict, head_dim: int, where: str,
                    rotary_dim: int | None = None) -> "RopeConfig":
        """Reads rope_theta / rope_scaling (transformers v4) or
        rope_parameters (v5) from a model config. `rotary_dim` is the
        rotated part of a head for models with partial rotary embeddings
        (which read their own factor); without it, a partial_rotary_factor
        other than 1 is an error."""
        params = config.get("rope_parameters") or {}
        scaling = config.get("rope_scaling") or params or {}
        if not isinstance(scaling, dict):
            raise BnbMlirError(f"{where}: rope_scaling must be an object")
        theta = config.get("rope_theta", params.get("rope_theta", 10000.0))
        if not isinstance(theta, (int, float)) or theta <= 0:
            raise BnbMlirError(f"{where}: rope_theta must be a positive number")
        rope_type = scaling.get("rope_type", scaling.get("type", "default"))
        partial = config.get("partial_rotary_factor", 1.0)
        if partial != 1.0 and rotary_dim is None:
            raise BnbMlirError(f"{where}: partial_rotary_factor {partial} is "
                               "not supported")
        dim = head_dim if rotary_dim is None else rotary_dim
        if rope_type == "default":
            return cls(float(theta), dim)
        if rope_type == "linear":
            return cls(float(theta), dim, "linear",
                       factor=float(_number(scaling, "factor", where)))
        if rope_type == "llama3":
            return cls(float(theta), dim, "llama3",
                       factor=float(_number(scaling, "factor", where)),
                       low_freq_factor=float(
                           _number(scaling, "low_freq_factor", where)),
                       high_freq_factor=float(
                           _number(scaling, "high_freq_factor", where)),
                       original_max_position_embeddings=int(_number(
                           scaling, "original_max_position_embeddings",
                           where)))
        raise BnbMlirError(f"{where}: rope type '{rope_type}' is not supported "
                           "(default, linear, llama3)")

    def inv_freq(self) -> np.ndarray:
        """float32 [dim/2] inverse frequencies."""
        f32 = np.float32
        exponent = np.arange(0, self.dim, 2, dtype=np.int64).astype(f32) / \
            f32(self.dim)
        inv = (f32(1.0) / (f32(self.theta) ** exponent)).astype(f32)
        if self.rope_type == "linear":
            inv = (inv / f32(self.factor)).astype(f32)
        elif self.rope_type == "llama3":
            inv = self._llama3(inv)
        return inv

    def _llama3(self, inv: np.ndarray) -> np.ndarray:
        f32 = np.float32
        old = self.original_max_position_embeddings
        low_wavelen = old / self.low_freq_factor
        high_wavelen = old / self.high_freq_factor
        wavelen = (f32(2 * math.pi) / inv).astype(f32)
        scaled = np.where(wavelen > low_wavelen, inv / f32(self.factor),
                          inv).astype(f32)
        smooth = ((f32(old) / wavelen - f32(self.low_freq_factor)) /
                  f32(self.high_freq_factor - self.low_freq_factor)).astype(f32)
        smoothed = ((f32(1) - smooth) * scaled / f32(self.factor) +
                    smooth * scaled).astype(f32)
        medium = ~(wavelen < high_wavelen) & ~(wavelen > low_wavelen)
        return np.where(medium, smoothed, scaled).astype(f32)

    def tables(self, seq: int) -> tuple[np.ndarray, np.ndarray]:
        """float32 cos and sin, each [seq, dim], for positions 0..seq-1."""
        positions = np.arange(seq, dtype=np.float32)
        freqs = np.outer(positions, self.inv_freq()).astype(np.float32)
        emb = np.concatenate([freqs, freqs], axis=-1)
        return np.cos(emb).astype(np.float32), np.sin(emb).astype(np.float32)


def _number(d: dict, key: str, where: str):
    value = d.get(key)
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise BnbMlirError(f"{where}: rope scaling needs a numeric '{key}'")
    return value
