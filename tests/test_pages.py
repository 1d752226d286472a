"""Pages handed back: whole pages of a read-only map inside the range only,
and freed large blocks once return_large_blocks has run."""

import mmap
import platform
import subprocess
import sys

import pytest

from seqscore._pages import release_range, return_large_blocks

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


# A process that frees every other one of 100 blocks of 2 MiB, then reports
# its resident set: kept in glibc's heap, the freed holes stay resident;
# mapped (return_large_blocks), their pages go back.
_HOLES = """
import ctypes, sys
from seqscore._pages import return_large_blocks
if sys.argv[1] == "set":
    assert return_large_blocks()
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = (ctypes.c_void_p,)
size = 2 << 20
libc.free(libc.malloc(size))  # glibc raises its threshold past 2 MiB here
blocks = [libc.malloc(size) for _ in range(100)]
for block in blocks:
    ctypes.memset(block, 1, size)
for block in blocks[::2]:
    libc.free(block)
print(int(open("/proc/self/statm").read().split()[1]) * 4096 >> 20)
"""


def _resident_mb(mode: str) -> int:
    out = subprocess.run(
        [sys.executable, "-c", _HOLES, mode],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(out.stdout)


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
    reason="mallopt's threshold is glibc's",
)
def test_freed_large_blocks_go_back_to_the_system():
    # 50 freed blocks of 2 MiB: 100 MiB resident in the heap, none mapped
    kept, returned = _resident_mb("default"), _resident_mb("set")
    assert kept - returned >= 80


def test_a_threshold_the_user_set_is_left_alone(monkeypatch):
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "4096")
    assert return_large_blocks() is False
