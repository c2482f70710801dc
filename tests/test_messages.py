"""Attachments of a result: packed into messages Discord accepts, under names an embed can point at."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from discomfy.bot.messages import Upload, pack, unique_names

MAX_FILES = 10
LIMIT = 100


def uploads(*sizes: int) -> list[Upload]:
    return [Upload(f"out_{i}.png", data=b"", size=size) for i, size in enumerate(sizes)]


def sizes(chunks: list[list[Upload]]) -> list[list[int]]:
    return [[u.size for u in chunk] for chunk in chunks]


def names(items: list[Upload]) -> list[str]:
    return [u.filename for u in items]


# ---- pack ------------------------------------------------------------------------------------------


def test_no_uploads_still_make_one_message() -> None:
    assert pack([], LIMIT) == [[]]


def test_files_that_fit_together_share_one_message() -> None:
    files = uploads(10, 20, 30)
    assert pack(files, LIMIT) == [files]


def test_files_exactly_filling_the_limit_share_one_message() -> None:
    assert sizes(pack(uploads(50, 50), LIMIT)) == [[50, 50]]


def test_an_eleventh_file_starts_a_second_message() -> None:
    assert sizes(pack(uploads(*[1] * 11), LIMIT)) == [[1] * 10, [1]]


def test_a_message_is_closed_before_a_file_would_take_it_over_the_byte_limit() -> None:
    assert sizes(pack(uploads(40, 40, 40, 10), LIMIT)) == [[40, 40], [40, 10]]


def test_a_file_larger_than_the_limit_travels_alone() -> None:
    assert sizes(pack(uploads(10, 500, 10), LIMIT)) == [[10], [500], [10]]


def test_a_file_larger_than_the_limit_at_the_start_travels_alone() -> None:
    assert sizes(pack(uploads(500, 10, 10), LIMIT)) == [[500], [10, 10]]


def test_order_is_kept_across_messages() -> None:
    files = uploads(60, 60, 60, 60)
    assert [names(chunk) for chunk in pack(files, LIMIT)] == [
        ["out_0.png"],
        ["out_1.png"],
        ["out_2.png"],
        ["out_3.png"],
    ]


@given(
    file_sizes=st.lists(st.integers(min_value=0, max_value=300), max_size=40),
    limit=st.integers(min_value=1, max_value=250),
)
def test_packing_keeps_every_file_once_in_order_within_both_limits(file_sizes: list[int], limit: int) -> None:
    files = uploads(*file_sizes)
    chunks = pack(files, limit)
    assert len(chunks) >= 1
    flat = [u for chunk in chunks for u in chunk]
    assert len(flat) == len(files)
    assert all(packed is original for packed, original in zip(flat, files, strict=True))
    for chunk in chunks:
        assert len(chunk) <= MAX_FILES
        assert sum(u.size for u in chunk) <= limit or len(chunk) == 1
        assert chunk or not files
    for before, after in pairwise(chunks):
        full = len(before) == MAX_FILES or sum(u.size for u in before) + after[0].size > limit
        assert full, "a new message started although the next file fitted in the previous one"


# ---- unique_names ------------------------------------------------------------------------------------


def named(*filenames: str) -> list[Upload]:
    return [Upload(name, data=b"x", size=1) for name in filenames]


def test_distinct_names_are_kept() -> None:
    assert names(unique_names(named("a.png", "b.png", "c.mp4"))) == ["a.png", "b.png", "c.mp4"]


def test_repeated_names_get_a_number_before_the_extension() -> None:
    assert names(unique_names(named("a.png", "a.png", "a.png"))) == ["a.png", "a_2.png", "a_3.png"]


def test_names_differing_only_in_case_count_as_the_same() -> None:
    assert names(unique_names(named("IMG.PNG", "img.png"))) == ["IMG.PNG", "img_2.png"]


def test_a_number_already_taken_is_skipped() -> None:
    assert names(unique_names(named("a.png", "a_2.png", "a.png"))) == ["a.png", "a_2.png", "a_3.png"]


def test_a_name_without_extension_gets_its_number_at_the_end() -> None:
    assert names(unique_names(named("README", "README"))) == ["README", "README_2"]


def test_renaming_keeps_the_file_itself() -> None:
    first = Upload("a.png", path=Path("/tmp/one/a.png"), size=10)
    second = Upload("a.png", path=Path("/tmp/two/a.png"), size=20)
    renamed = unique_names([first, second])
    assert [(u.path, u.size) for u in renamed] == [(first.path, 10), (second.path, 20)]


def test_no_uploads_give_no_names() -> None:
    assert unique_names([]) == []


FILENAMES = st.builds(
    lambda stem, ext: stem + ext,
    st.sampled_from(["a", "A", "a_2", "a_2_2", "b", "img"]),
    st.sampled_from(["", ".png", ".PNG", ".mp4"]),
)


@given(st.lists(FILENAMES, max_size=30))
def test_every_name_differs_and_only_clashing_names_change_keeping_their_extension(filenames: list[str]) -> None:
    renamed = names(unique_names(named(*filenames)))
    assert len(renamed) == len(filenames)
    assert len({name.lower() for name in renamed}) == len(renamed)
    taken: set[str] = set()
    for original, new in zip(filenames, renamed, strict=True):
        if original.lower() not in taken:
            assert new == original
        assert Path(new).suffix == Path(original).suffix
        taken.add(new.lower())
