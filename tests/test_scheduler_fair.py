"""The bot's own queue hands jobs out round robin across users: a batch interleaves with everyone else's jobs."""

from __future__ import annotations

from discomfy.scheduler.fair import FairQueue


def _drain(queue: FairQueue[str]) -> list[str]:
    taken = []
    while order := queue.order():
        queue.take(order[0])
        taken.append(order[0])
    return taken


def test_a_batch_interleaves_with_single_jobs_of_other_users() -> None:
    queue: FairQueue[str] = FairQueue()
    for cell in range(1, 9):
        queue.add(1, f"A{cell}")
    queue.take("A1")  # the batch started before the others came
    for owner, job in ((2, "B"), (3, "C"), (4, "D")):
        queue.add(owner, job)
    assert _drain(queue) == ["B", "C", "D", "A2", "A3", "A4", "A5", "A6", "A7", "A8"]


def test_each_user_takes_one_turn_per_round_in_order_of_arrival() -> None:
    queue: FairQueue[str] = FairQueue()
    for owner, jobs in ((1, "a1 a2 a3"), (2, "b1 b2"), (3, "c1")):
        for job in jobs.split():
            queue.add(owner, job)
    assert queue.order() == ["a1", "b1", "c1", "a2", "b2", "a3"]
    assert _drain(queue) == ["a1", "b1", "c1", "a2", "b2", "a3"]


def test_the_turn_moves_on_even_when_a_later_job_is_taken_first() -> None:
    queue: FairQueue[str] = FairQueue()
    for owner, job in ((1, "a1"), (1, "a2"), (2, "b1"), (3, "c1")):
        queue.add(owner, job)
    queue.take("b1")  # say only b1's server had room
    assert queue.order() == ["c1", "a1", "a2"]


def test_a_cancelled_job_leaves_without_passing_the_turn() -> None:
    queue: FairQueue[str] = FairQueue()
    for owner, job in ((1, "a1"), (1, "a2"), (2, "b1"), (3, "c1")):
        queue.add(owner, job)
    queue.take("a1")
    assert queue.discard("b1")
    assert not queue.discard("b1")
    assert "b1" not in queue
    assert queue.order() == ["c1", "a2"]


def test_priority_owners_go_first_round_robin_among_themselves() -> None:
    queue: FairQueue[str] = FairQueue()
    queue.add(1, "a1")
    queue.add(1, "a2")
    queue.add(9, "admin1", priority=True)
    queue.add(8, "admin2", priority=True)
    queue.add(9, "admin3", priority=True)
    assert _drain(queue) == ["admin1", "admin2", "admin3", "a1", "a2"]
    assert len(queue) == 0


def test_a_user_served_alone_lets_the_next_newcomer_go_before_their_next_job() -> None:
    queue: FairQueue[str] = FairQueue()
    queue.add(1, "a1")
    queue.take("a1")  # their line is empty now
    queue.add(1, "a2")
    queue.add(2, "b1")
    assert queue.order() == ["b1", "a2"]
