"""Sweep axes from what users type: lists, ranges and seed counts, every value checked against the workflow."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from discomfy.errors import DiscomfyError
from discomfy.store import SweepRecord
from discomfy.sweep.axes import SEED, Grid, SweepSizeError, format_value, parse_axis, parse_grid
from discomfy.workflows import WorkflowSpec, load_workflow
from discomfy.workflows.errors import InvalidParameterError, UnknownParameterError
from testing.botkit import WORKFLOWS

SDXL = load_workflow(WORKFLOWS / "txt2img_sdxl.yaml")  # cfg 1..15, steps 1..60, width 512..2048 by 64


def axis(name: str, text: str, *, spec: WorkflowSpec = SDXL, cap: int = 100, seed: int | None = None) -> tuple:
    return parse_axis(spec, name, text, seed=seed, cap=cap).values


def test_a_list_is_read_in_order_in_the_parameters_own_type() -> None:
    assert axis("cfg", "3, 5,7.5") == (3, 5, 7.5)
    assert axis("steps", "20,10") == (20, 10)
    assert axis("sampler", "Euler, uni_pc") == ("euler", "uni_pc")  # the mapping's spelling


def test_a_range_includes_both_ends_steps_exactly_and_counts_down() -> None:
    assert axis("steps", "10..40 step 10") == (10, 20, 30, 40)
    assert axis("steps", "5..8") == (5, 6, 7, 8)
    assert axis("cfg", "1..2 step 0.25") == (1, 1.25, 1.5, 1.75, 2)
    assert axis("cfg", "1.1..1.3 step 0.1") == (1.1, 1.2, 1.3)  # no 1.2000000000000002
    assert axis("width", "1024..512 step 256") == (1024, 768, 512)


def test_repeated_values_are_one_column() -> None:
    assert axis("cfg", "3,3,5") == (3, 5)


@pytest.mark.parametrize(
    ("name", "text", "words"),
    [
        ("cfg", "3,20", "cfg must be a number from 1 to 15 (got 20"),
        ("steps", "0..20 step 10", "steps must be a whole number from 1 to 60 (got 0)"),
        ("width", "500,512", "width must be a whole number from 512 to 2048 in steps of 64 (got 500)"),
        ("sampler", "euler,warp", "sampler must be one of: dpmpp_2m"),
        ("sampler", "1..3", "sampler takes a list"),
        ("cfg", "3,,5", "empty value for cfg"),
        ("cfg", "a..b", "`a` is not a number (cfg must be a number from 1 to 15)"),
        ("cfg", "1..5 step 0", "step of a range must be above 0"),
        ("steps", "1..2 step 0.5", "steps must be a whole number"),
    ],
)
def test_a_bad_value_is_refused_naming_the_parameter_and_what_it_allows(name: str, text: str, words: str) -> None:
    with pytest.raises(InvalidParameterError) as caught:
        axis(name, text)
    assert words in str(caught.value)
    assert caught.value.parameter == name


def test_a_parameter_a_sweep_cannot_vary_is_refused_with_the_ones_it_can() -> None:
    for name in ("prompt", "colour"):
        with pytest.raises(UnknownParameterError) as caught:
            axis(name, "1,2")
        assert "A sweep can vary: seed, width, height, batch_size, steps, cfg, sampler, scheduler" in str(caught.value)


def test_a_seed_axis_is_a_count_from_the_given_seed_or_the_seeds_themselves() -> None:
    assert axis(SEED, "3", seed=100) == (100, 101, 102)
    random = axis(SEED, "4")
    assert len(set(random)) == 4
    assert axis(SEED, "7, 9") == (7, 9)
    assert axis(SEED, "10..12") == (10, 11, 12)
    with pytest.raises(InvalidParameterError, match="seed must be a whole number from 0 to 18446744073709551615"):
        axis(SEED, "1,-2")


def test_seeds_of_a_workflow_without_a_seed_input_are_refused_as_changing_nothing() -> None:
    seedless = replace(SDXL, seed_inputs=())
    for text in ("4", "7, 9"):
        with pytest.raises(InvalidParameterError, match="has no seed input: every seed would give the same result"):
            axis(SEED, text, spec=seedless)
    assert axis("steps", "10,20", spec=seedless) == (10, 20)


def test_a_grid_over_the_cap_is_refused_with_the_size_asked_and_the_cap() -> None:
    with pytest.raises(SweepSizeError) as caught:
        parse_grid(SDXL, ("cfg", "1,2,3,4,5"), ("steps", "10,20,30,40"), seed=None, cap=16)
    assert str(caught.value) == "This sweep has 20 cells; at most 16 are allowed here (limits.max_sweep_cells)."
    with pytest.raises(SweepSizeError, match="at least 1000000 cells; at most 16"):  # never built
        parse_grid(SDXL, ("seed", "1000000"), None, seed=None, cap=16)
    with pytest.raises(SweepSizeError, match="at least 60 cells"):
        parse_grid(SDXL, ("steps", "1..60"), None, seed=None, cap=16)


def test_the_same_parameter_on_both_axes_is_refused() -> None:
    with pytest.raises(InvalidParameterError, match="x and y are both"):
        parse_grid(SDXL, ("cfg", "1,2"), ("CFG", "3,4"), seed=None, cap=16)


def test_cells_run_row_by_row_and_share_one_seed_unless_seed_is_an_axis() -> None:
    grid = parse_grid(SDXL, ("cfg", "3,5"), ("sampler", "euler,uni_pc"), seed=42, cap=16)
    assert grid.cells() == [
        ({"cfg": 3, "sampler": "euler"}, 42),
        ({"cfg": 5, "sampler": "euler"}, 42),
        ({"cfg": 3, "sampler": "uni_pc"}, 42),
        ({"cfg": 5, "sampler": "uni_pc"}, 42),
    ]
    assert grid.label(2) == "cfg 3 · sampler uni_pc"
    shared = parse_grid(SDXL, ("cfg", "3,5"), None, seed=None, cap=16)
    assert len({seed for _, seed in shared.cells()}) == 1
    seeded = parse_grid(SDXL, ("cfg", "3,5"), ("seed", "2"), seed=7, cap=16)
    assert seeded.cells() == [({"cfg": 3}, 7), ({"cfg": 5}, 7), ({"cfg": 3}, 8), ({"cfg": 5}, 8)]


def test_new_seeds_keep_the_grid_and_replace_only_the_seeds() -> None:
    seeded = parse_grid(SDXL, ("cfg", "3,5"), ("seed", "2"), seed=7, cap=16)
    again = seeded.with_new_seeds()
    assert again.x == seeded.x
    assert again.y is not None
    assert len(set(again.y.values)) == 2
    assert again.y.values != (7, 8)
    shared = parse_grid(SDXL, ("cfg", "3,5"), None, seed=7, cap=16).with_new_seeds()
    assert shared.seed is not None
    assert shared.seed != 7


def test_a_grid_reads_back_from_its_stored_record() -> None:
    grid = parse_grid(SDXL, ("sampler", "euler,uni_pc"), ("seed", "1,2"), seed=None, cap=16)
    record = grid.record("b" * 32)
    assert record == SweepRecord("b" * 32, (("sampler", ("euler", "uni_pc")), ("seed", (1, 2))))
    assert Grid.of(record).cells() == grid.cells()


@given(st.integers(1, 60), st.integers(1, 60), st.integers(1, 20))
def test_an_int_range_has_exactly_the_values_from_start_to_stop_in_steps(start: int, stop: int, step: int) -> None:
    values = axis("steps", f"{start}..{stop} step {step}")
    direction = 1 if stop >= start else -1
    assert values == tuple(range(start, stop + direction, direction * step))


@given(st.floats(0.5, 1e7, allow_nan=False))
def test_a_float_label_reads_back_as_about_the_same_number(value: float) -> None:
    assert abs(float(format_value(value)) - value) <= abs(value) * 1e-5 + 0.5


NUMBERISH = st.text(alphabet="0123456789..,e-+ step", max_size=30)  # ranges, lists and exponents, mostly wrong


@given(st.sampled_from(["cfg", "steps", "sampler", "seed", "width"]), st.one_of(st.text(max_size=40), NUMBERISH))
def test_whatever_is_typed_an_axis_is_read_or_refused_in_plain_words(name: str, text: str) -> None:
    try:
        values = axis(name, text, cap=16)
    except DiscomfyError as exc:
        refusal = str(exc)
        assert refusal
    else:
        assert 1 <= len(values) <= 16


def test_a_range_of_absurd_numbers_is_refused_by_its_size() -> None:
    with pytest.raises(SweepSizeError):
        axis("cfg", "1..2 step 1e-999999", cap=16)
    with pytest.raises(InvalidParameterError, match="cfg must be a number from 1 to 15"):
        axis("cfg", "1e999999..1e999999", cap=16)
    with pytest.raises(InvalidParameterError, match="steps must be a whole number"):
        axis("steps", "9e99999", cap=16)
    with pytest.raises(SweepSizeError, match="at least 1000000000 cells"):
        axis("cfg", "0..9e99999", cap=16)
