"""Pages of a read-only map handed back: whole pages inside the range only."""

import mmap

import pytest

from seqscore._pages import release_range

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
