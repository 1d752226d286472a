"""Dealing items to threads (:func:`seqscore.numerics.parallel.map_dealt`)."""

from __future__ import annotations

import threading

import pytest

from seqscore.numerics.parallel import map_dealt


@pytest.mark.parametrize("workers", [1, 2, 5])
def test_every_item_once_and_in_order(workers):
    seen = []
    lock = threading.Lock()

    def square(x):
        with lock:
            seen.append(x)
        return x * x

    assert map_dealt(square, list(range(40)), workers=workers) == [
        x * x for x in range(40)
    ]
    assert sorted(seen) == list(range(40))
    assert map_dealt(square, [], workers=workers) == []


def test_a_stalled_thread_holds_one_item_while_the_other_takes_the_rest():
    # this thread's first item blocks until the pool's thread has done every
    # other one: a fixed split in two would have left it half the items
    main = threading.get_ident()
    others = []
    done = threading.Event()
    n = 30

    def work(item):
        if threading.get_ident() == main:
            assert done.wait(timeout=10)
        else:
            others.append(item)
            if len(others) >= n - 1:
                done.set()
        return item

    assert map_dealt(work, list(range(n)), workers=2) == list(range(n))
    assert len(others) >= n - 1


def test_an_error_in_any_thread_is_raised_here():
    def fail_on_seven(x):
        if x == 7:
            raise ValueError("seven")
        return x

    with pytest.raises(ValueError, match="seven"):
        map_dealt(fail_on_seven, list(range(20)), workers=2)
