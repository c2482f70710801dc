"""Finding every seed input of a graph and giving each job fresh, reproducible seeds.

Policy: every seed input of one job gets the SAME number, so the single seed shown to the user
reproduces the whole result (two-pass graphs included). A sweep of N jobs gets N distinct seeds.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

from discomfy.workflows.errors import InvalidParameterError
from discomfy.workflows.graph import (
    Graph,
    InputRef,
    copy_graph,
    is_int,
    is_link,
    node_sort_key,
    sorted_nodes,
)

log = logging.getLogger(__name__)

SEED_INPUT_NAMES = frozenset({"seed", "noise_seed"})
SEED_MAX = 2**64 - 1  # ComfyUI's own limit (0xffffffffffffffff) for KSampler.seed and friends
_SEED_SPAN = 2**64


def find_seed_inputs(graph: Mapping[str, Mapping[str, Any]]) -> tuple[InputRef, ...]:
    """Every constant `seed`/`noise_seed`, plus the int a linked seed input reads from.

    Covers KSampler.seed, KSamplerAdvanced / SamplerCustom / RandomNoise .noise_seed and custom
    nodes using the same names; a seed wired from a primitive (e.g. PrimitiveInt.value) is found
    on that primitive.
    """
    found: dict[InputRef, None] = {}
    for node_id, node in sorted_nodes(graph):
        for name, value in node.get("inputs", {}).items():
            if name not in SEED_INPUT_NAMES:
                continue
            if is_int(value):
                found[InputRef(node_id, name)] = None
            elif is_link(value):
                source = _int_source(graph, value[0])
                if source is not None:
                    found[source] = None
    return tuple(sorted(found, key=lambda ref: (node_sort_key(ref.node), ref.input)))


def _int_source(graph: Mapping[str, Mapping[str, Any]], node_id: str) -> InputRef | None:
    """The single int constant of a node that feeds a seed input, if it has exactly one."""
    node = graph.get(node_id)
    if node is None:
        return None
    inputs = node.get("inputs", {})
    named = [n for n in inputs if n in SEED_INPUT_NAMES or n == "value"]
    ints = [n for n in (named or list(inputs)) if is_int(inputs[n])]
    return InputRef(node_id, ints[0]) if len(ints) == 1 else None


def new_seed() -> int:
    """A uniformly random seed in 0..2**64-1 from the OS's cryptographic RNG."""
    return secrets.randbits(64)


def check_seed(seed: Any) -> int:
    """Refuse seeds ComfyUI would refuse; raises InvalidParameterError (a user typed it)."""
    if not is_int(seed) or not 0 <= seed <= SEED_MAX:
        allowed = f"a whole number from 0 to {SEED_MAX}"
        raise InvalidParameterError(f"seed must be {allowed} (got {seed!r}).", parameter="seed", allowed=allowed)
    return seed


def sweep_seeds(count: int, base: int | None = None) -> tuple[int, ...]:
    """N distinct seeds: base, base+1, ... (mod 2**64) when a base is given, else N random ones."""
    if count < 1:
        raise ValueError(f"a sweep needs at least one seed, got {count}")
    if count > _SEED_SPAN:
        raise ValueError("a sweep cannot have more seeds than there are")
    if base is not None:
        check_seed(base)
        return tuple((base + i) % _SEED_SPAN for i in range(count))
    seeds: dict[int, None] = {}
    while len(seeds) < count:
        seeds[new_seed()] = None
    return tuple(seeds)


def apply_seed(graph: Graph, refs: Iterable[InputRef], seed: int) -> dict[InputRef, int]:
    """Write one seed into every given input of `graph` (in place); return what was written."""
    written = {}
    for ref in refs:
        graph[ref.node]["inputs"][ref.input] = seed
        written[ref] = seed
    return written


def randomize_seeds(
    graph: Mapping[str, Mapping[str, Any]], seed: int | None = None, *, keep: Iterable[InputRef] = ()
) -> tuple[Graph, Mapping[InputRef, int]]:
    """Copy `graph` with every seed input set to `seed` (a fresh random one if None), except those in `keep`
    (set explicitly by the user, who meant that value)."""
    kept = set(keep)
    refs = tuple(ref for ref in find_seed_inputs(graph) if ref not in kept)
    chosen = new_seed() if seed is None else check_seed(seed)
    result = copy_graph(graph)
    written = apply_seed(result, refs, chosen)
    if not refs:
        log.info("Graph has no seed input; nothing to randomize")
    return result, MappingProxyType(written)
