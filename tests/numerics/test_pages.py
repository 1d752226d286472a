"""Pages of a read-only map handed back: whole pages inside the range only."""

import mmap

import pytest

from seqscore.numerics._pages import free_heap_bytes, release_free_heap, release_range

PAGE = mmap.PAGESIZE


class _Recorder:
    def __init__(self):
        self.calls = []

    def madvise(self, option, start, length):
        self.calls.append((option, start, length))


@pytest.mark.parametrize(
    ("offset", "length", "expected"),
    [
        (0, 3 * PAGE, [(0, 3 * PAGE)]),
        (1, 3 * PAGE, [(PAGE, 2 * PAGE)]),  # partial pages at both ends kept
        (PAGE - 1, PAGE + 2, [(PAGE, PAGE)]),
        (5, PAGE, []),  # no whole page inside
        (0, 0, []),
    ],
)
def test_only_whole_pages_inside_the_range_are_released(offset, length, expected):
    handle = _Recorder()
    release_range(handle, offset, length)
    assert handle.calls == [(mmap.MADV_DONTNEED, a, n) for a, n in expected]


def test_released_pages_of_a_file_map_read_back_unchanged(tmp_path):
    path = tmp_path / "data"
    data = bytes(range(256)) * (4 * PAGE // 256)
    path.write_bytes(data)
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
        assert m[:] == data
        release_range(m, 0, len(data))
        assert m[:] == data  # faulted back in from the file


def test_a_handle_without_madvise_is_left_alone():
    release_range(object(), 0, 10 * PAGE)


def _resident_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * mmap.PAGESIZE


@pytest.mark.skipif(free_heap_bytes() is None, reason="asks glibc's malloc")
def test_freed_heap_between_live_blocks_goes_back_to_the_system():
    """200 MB of 96 KiB blocks (below glibc's mmap threshold: heap), nine in
    ten freed: the heap cannot shrink from its top, the free pages stay
    resident until released."""
    blocks = [bytearray(b"x") * (96 << 10) for _ in range(2_000)]  # written
    kept = blocks[::10]
    del blocks
    assert free_heap_bytes() > 150 << 20
    before = _resident_bytes()
    assert release_free_heap()
    assert before - _resident_bytes() > 100 << 20
    assert free_heap_bytes() > 150 << 20  # still malloc's: only the pages went
    assert all(b == bytearray(b"x") * (96 << 10) for b in kept)


def test_a_small_free_heap_is_left_alone():
    assert release_free_heap(slack=1 << 62) is False
