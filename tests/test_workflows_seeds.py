"""Seeds: every seed input is found, each job gets fresh uniform seeds, one number reproduces it."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from discomfy.workflows import (
    SEED_MAX,
    InputRef,
    find_seed_inputs,
    load_graph,
    new_seed,
    randomize_seeds,
    sweep_seeds,
)
from discomfy.workflows.errors import InvalidParameterError

ROOT = Path(__file__).parent.parent
FIXTURES = Path(__file__).parent / "fixtures" / "workflows"

EXPECTED_SEEDS = {
    ROOT / "workflows" / "txt2img_sdxl.json": {"3.seed"},
    ROOT / "workflows" / "txt2img_sd15.json": {"3.seed"},
    ROOT / "workflows" / "img2img.json": {"3.seed"},
    ROOT / "workflows" / "flux_dev.json": {"25.noise_seed"},
    ROOT / "workflows" / "wan21_t2v.json": {"3.seed"},
    FIXTURES / "flux_lora_hires.json": {"12.seed", "24.noise_seed"},  # rgthree seed feeds 13
    FIXTURES / "wan22_i2v.json": {"57.noise_seed", "58.noise_seed"},
    FIXTURES / "qwen_image_edit.json": {"3.seed"},
    FIXTURES / "sd15_hires_upscale.json": {"13.seed", "20.value"},  # PrimitiveInt feeds 3.seed
    FIXTURES / "upscale_only.json": set(),
}


@pytest.mark.parametrize("path", list(EXPECTED_SEEDS), ids=lambda p: p.stem)
def test_every_seed_input_is_found_in_shipped_and_fixture_graphs(path: Path) -> None:
    found = {str(ref) for ref in find_seed_inputs(load_graph(path))}
    assert found == EXPECTED_SEEDS[path]


def test_all_shipped_graphs_are_covered_by_the_seed_table() -> None:
    shipped = set((ROOT / "workflows").glob("*.json"))
    assert shipped <= set(EXPECTED_SEEDS)


def _node(cls: str, **inputs: object) -> dict:
    return {"inputs": inputs, "class_type": cls, "_meta": {"title": cls}}


def test_custom_nodes_with_seed_names_are_found_but_not_links_bools_or_other_names() -> None:
    graph = {
        "1": _node("KSampler (Efficient)", seed=5, steps=20),
        "2": _node("ImpactKSamplerBasicPipe", noise_seed=7),
        "3": _node("SomethingElse", seed=True, other_seed=9, seed_mode="fixed"),
        "4": _node("KSampler", seed=["9", 0]),
        "9": _node("Two Ints", a=1, b=2),  # ambiguous source: not guessed
    }
    assert find_seed_inputs(graph) == (InputRef("1", "seed"), InputRef("2", "noise_seed"))


def test_seed_inputs_are_listed_in_node_order() -> None:
    graph = {n: _node("KSampler", seed=1) for n in ("10", "9", "75:3", "2")}
    assert [r.node for r in find_seed_inputs(graph)] == ["2", "9", "10", "75:3"]


def test_new_seeds_are_in_comfyui_range() -> None:
    assert all(0 <= new_seed() <= SEED_MAX for _ in range(1000))


def test_new_seeds_come_from_the_os_cryptographic_rng(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []

    def randbits(k: int) -> int:
        calls.append(k)
        return SEED_MAX

    monkeypatch.setattr("discomfy.workflows.seeds.secrets.randbits", randbits)
    assert new_seed() == SEED_MAX
    assert calls == [64]


def test_new_seeds_use_all_64_bits() -> None:
    seeds = [new_seed() for _ in range(200)]
    assert len(set(seeds)) == 200
    assert max(seeds) > 2**62  # a 32-bit or 53-bit generator would essentially never do this


@given(st.integers(min_value=1, max_value=64), st.none() | st.integers(0, SEED_MAX))
def test_a_sweep_of_n_gets_n_distinct_seeds_in_range(count: int, base: int | None) -> None:
    seeds = sweep_seeds(count, base)
    assert len(seeds) == count
    assert len(set(seeds)) == count
    assert all(0 <= s <= SEED_MAX for s in seeds)


@given(st.integers(min_value=1, max_value=32), st.integers(0, SEED_MAX))
def test_a_sweep_from_a_base_counts_up_and_wraps_at_2_to_the_64(count: int, base: int) -> None:
    seeds = sweep_seeds(count, base)
    assert seeds == tuple((base + i) % 2**64 for i in range(count))


def test_sweep_refuses_bad_counts_and_bases() -> None:
    with pytest.raises(ValueError, match="at least one"):
        sweep_seeds(0)
    with pytest.raises(InvalidParameterError, match="seed must be"):
        sweep_seeds(2, base=2**64)
    with pytest.raises(InvalidParameterError, match="seed must be"):
        sweep_seeds(2, base=-1)


@given(st.none() | st.integers(0, SEED_MAX))
def test_randomize_seeds_sets_every_seed_input_to_one_value_and_copies(seed: int | None) -> None:
    graph = load_graph(FIXTURES / "wan22_i2v.json")
    before = copy.deepcopy(graph)
    result, seeds = randomize_seeds(graph, seed)
    assert graph == before
    assert set(seeds) == {InputRef("57", "noise_seed"), InputRef("58", "noise_seed")}
    assert len(set(seeds.values())) == 1
    chosen = next(iter(seeds.values()))
    if seed is not None:
        assert chosen == seed
    assert result["57"]["inputs"]["noise_seed"] == chosen
    assert result["58"]["inputs"]["noise_seed"] == chosen


def test_randomize_seeds_writes_through_a_seed_primitive() -> None:
    graph = load_graph(FIXTURES / "sd15_hires_upscale.json")
    result, seeds = randomize_seeds(graph, 42)
    assert result["20"]["inputs"]["value"] == 42
    assert result["3"]["inputs"]["seed"] == ["20", 0]  # the link stays a link
    assert dict(seeds) == {InputRef("13", "seed"): 42, InputRef("20", "value"): 42}


def test_randomize_seeds_on_a_graph_without_seeds_changes_nothing() -> None:
    graph = load_graph(FIXTURES / "upscale_only.json")
    result, seeds = randomize_seeds(graph)
    assert result == graph
    assert dict(seeds) == {}


def test_randomize_seeds_refuses_an_out_of_range_seed() -> None:
    graph = json.loads((ROOT / "workflows" / "txt2img_sd15.json").read_text())
    with pytest.raises(InvalidParameterError, match="seed must be a whole number from 0 to"):
        randomize_seeds(graph, 2**64)
