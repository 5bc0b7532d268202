"""Seeded randomness of the demo generators: one independent stream per component."""

from __future__ import annotations

import bisect
import zlib
from collections.abc import Sequence
from typing import TypeVar

import numpy as np

__all__ = ["K8S_ALPHABET", "FastRandom", "cumulative", "k8s_suffix", "rng_for"]

T = TypeVar("T")

#: the alphabet Kubernetes uses for pod-template hashes and generated name suffixes
K8S_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def rng_for(seed: int, tag: str) -> np.random.Generator:
    """An independent generator per (seed, component) so components do not shift each other."""
    return np.random.default_rng([seed, zlib.crc32(tag.encode())])


def k8s_suffix(rng: np.random.Generator, n: int = 5) -> str:
    """A generated-name suffix such as ``x2x9k``."""
    return "".join(K8S_ALPHABET[i] for i in rng.integers(0, len(K8S_ALPHABET), n))


class FastRandom:
    """Scalar draws for per-line text, served from blocks that numpy draws in bulk.

    Calling numpy's generator once per log line costs microseconds each; this keeps
    the same determinism (one seeded stream) at a fraction of the cost.
    """

    _BLOCK = 1 << 15

    def __init__(self, rng: np.random.Generator) -> None:
        self.np = rng
        self._u: list[float] = []
        self._n: list[float] = []
        self._bytes, self._pos = b"", 0

    def random(self) -> float:
        """Uniform in ``[0, 1)``."""
        if not self._u:
            self._u = self.np.random(self._BLOCK).tolist()
        return self._u.pop()

    def normal(self, mu: float = 0.0, sigma: float = 1.0) -> float:
        """Normal(mu, sigma)."""
        if not self._n:
            self._n = self.np.standard_normal(self._BLOCK).tolist()
        return mu + sigma * self._n.pop()

    def uniform(self, low: float, high: float) -> float:
        """Uniform in ``[low, high)``."""
        return low + (high - low) * self.random()

    def integers(self, low: int, high: int) -> int:
        """Integer in ``[low, high)``."""
        return low + int((high - low) * self.random())

    def lognormal(self, mean: float, sigma: float) -> float:
        """exp(Normal(mean, sigma))."""
        return float(np.exp(self.normal(mean, sigma)))

    def choice(self, items: Sequence[T], cum: Sequence[float] | None = None) -> T:
        """One of ``items``; ``cum`` are cumulative weights ending at 1 (uniform if omitted)."""
        u = self.random()
        if cum is None:
            return items[min(int(u * len(items)), len(items) - 1)]
        return items[min(bisect.bisect_right(cum, u), len(items) - 1)]

    def hex(self, n: int) -> str:
        """``n`` random hex digits (``n`` <= 64)."""
        if self._pos + 32 > len(self._bytes):
            self._bytes, self._pos = self.np.bytes(32 * 4096), 0
        out = self._bytes[self._pos : self._pos + (n + 1) // 2].hex()[:n]
        self._pos += 32
        return out

    def uuid4(self) -> str:
        """A version-4 UUID."""
        h = self.hex(32)
        variant = "89ab"[int(h[16], 16) & 3]
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{variant}{h[17:20]}-{h[20:32]}"


def cumulative(weights: Sequence[float]) -> list[float]:
    """Cumulative, normalised weights for :meth:`FastRandom.choice`."""
    total = float(sum(weights))
    out, acc = [], 0.0
    for w in weights:
        acc += w / total
        out.append(acc)
    return out
