"""Deterministic randomness for the simulator: splitmix64 hashes and draw streams keyed by ints.

The same keys give the same values in every process and on every platform (Python's own
``hash`` is salted per process), so a seed always gives the same fleet and knowledge base.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

_T = TypeVar("_T")
MASK64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15


def fmix64(z: int) -> int:
    """Return the splitmix64 finaliser of the 64-bit integer ``z`` (a bijection on 64 bits)."""
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def stream(key: int, n: int) -> int:
    """Return the ``n``-th 64-bit output of the splitmix64 stream keyed by ``key``."""
    return fmix64((key + n * _GOLDEN) & MASK64)


def mix(*parts: int) -> int:
    """Return a well-spread 64-bit hash of the integers ``parts`` (stable across processes)."""
    h = _GOLDEN
    for part in parts:
        h = fmix64(((h ^ (part & MASK64)) + _GOLDEN) & MASK64)
    return h


class Draw:
    """A deterministic stream of random draws keyed by integers (splitmix64)."""

    __slots__ = ("_state",)

    def __init__(self, *key: int) -> None:
        self._state = mix(*key)

    def bits(self) -> int:
        """Return the next 64 random bits."""
        self._state = (self._state + _GOLDEN) & MASK64
        return fmix64(self._state)

    def below(self, n: int) -> int:
        """Return an integer in ``[0, n)``."""
        return self.bits() % n

    def between(self, low: int, high: int) -> int:
        """Return an integer in ``[low, high]``."""
        return low + self.bits() % (high - low + 1)

    def chance(self, p: float) -> bool:
        """Return True with probability ``p``."""
        return self.bits() < p * 18446744073709551616.0

    def pick(self, items: Sequence[_T]) -> _T:
        """Return one element of the non-empty ``items``."""
        return items[self.bits() % len(items)]
