r"""Environments: families of problems with a gold oracle. Each gives judged :class:`Case`\ s
and the context its parties read (:class:`Env`); ``programs``, ``text`` and ``digits`` live in
subpackages."""

from __future__ import annotations

from oversight.envs.base import Case, Env

__all__ = [
    "Case",
    "Env",
]
