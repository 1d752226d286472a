"""NumPy ``.npz`` logits, memory-mapped or streamed, in two layouts.

Aligned (step ``t`` of candidate ``n`` scores ``targets[n, t]``):

    ``logits`` (N, T, V), ``targets`` (N, T), ``lengths`` (N,)

Raw causal-LM output over whole sequences, scored with the shift rule (the
logits at position ``i`` predict token ``i + 1``; the continuation
``input_ids[n, n_context[n]:lengths[n]]`` is scored by positions
``n_context[n] - 1 .. lengths[n] - 2``):

    ``logits`` (N, T, V), ``input_ids`` (N, T), ``lengths`` (N,), ``n_context`` (N,)

Optional in both: ``group`` (N,) -- candidates with the same value share a
prompt (default: all candidates share one); ``unconditional`` (N,) for the
``pmi`` normalisation; ``n_chars`` and ``n_bytes`` (N,) for the per-character
and per-byte normalisations. Steps past ``lengths[n]`` are padding and are
never read.

``logits`` is never loaded whole: stored uncompressed (``np.savez``), it is
memory-mapped in place; compressed (``np.savez_compressed``), it is
decompressed one candidate at a time by :func:`read_npz`, or into a temporary
file that is then memory-mapped by :func:`open_npz` (for callers that need
random access, such as the audit).
"""

from __future__ import annotations

import contextlib
import shutil
import struct
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from ..errors import DataFormatError, SeqScoreError
from ..parallel import cpu_count, ordered_map
from ..scoring import Candidate, Prompt, TokenScores, token_scores_from_logits
from .records import Rejected

__all__ = ["NpzArrays", "open_npz", "read_npz"]

_OPTIONAL = ("group", "unconditional", "n_chars", "n_bytes")


def read_npz(
    path: str, source: str, on_progress: Callable[[int, int], None] | None = None
) -> Iterator[Prompt | Rejected]:
    """Prompts of an ``.npz`` file, grouped by ``group`` in order of appearance.

    A prompt with any rejected candidate is rejected whole (its ranking
    would silently change otherwise); each bad candidate is reported.
    """
    with zipfile.ZipFile(path) as archive:
        names = {n.removesuffix(".npy") for n in archive.namelist()}
        small = {n: _load(archive, n, source) for n in names if n != "logits"}
        layout = _layout(names, source)
        logits = _logits(path, archive, source)
        n, _, _ = _check_shapes(logits.shape, small, layout, source)
        groups = small.get("group", np.zeros(n, dtype=np.int64))
        found: dict = {}
        for index, item in enumerate(_candidates(n, logits, small, layout, source)):
            found.setdefault(groups[index].item(), []).append(item)
            if on_progress is not None:
                on_progress(index + 1, n)
    for key, items in found.items():
        yield from _prompt(str(key), items, source)


def _candidates(n, logits, small, layout, source) -> Iterator[Candidate | Rejected]:
    """Candidates ``0 .. n - 1`` in order, scored on every core.

    With a few candidates per core or more, each candidate is scored whole
    on one thread, several at once: splitting every candidate's rows between
    the cores instead makes each one wait for the slower half (1.2-1.6x the
    time of one kernel call over all rows, measured on 256 candidates of
    128 x 32,000). Rows are read here, in order (compressed members can only
    be read that way); a memory-mapped candidate's pages are faulted in by
    the thread that scores it.
    """
    workers = cpu_count()
    per_candidate = workers > 1 and n >= 2 * workers
    kernel_workers = 1 if per_candidate else None

    def read(index):
        try:
            return index, *_rows(index, logits, small, layout)
        except SeqScoreError as exc:
            return Rejected(f"{source}: candidate {index}", str(exc))

    def score(read_rows):
        if isinstance(read_rows, Rejected):
            return read_rows
        index, rows, targets, first = read_rows
        try:
            return Candidate(
                id=str(index),
                tokens=_score(rows, targets, first, layout, index, kernel_workers),
                n_chars=_optional_int(small, "n_chars", index),
                n_bytes=_optional_int(small, "n_bytes", index),
                unconditional=_optional_float(small, "unconditional", index),
            )
        except SeqScoreError as exc:
            return Rejected(f"{source}: candidate {index}", str(exc))

    reads = map(read, range(n))
    yield from ordered_map(score, reads, workers if per_candidate else 1, threads=True)


@dataclass(frozen=True)
class NpzArrays:
    """Every array of an ``.npz`` file, ``logits`` read-only and memory-mapped.

    ``layout`` is ``"aligned"`` or ``"raw"`` (see the module notes); ``small``
    maps every other member's name to its (fully loaded) array, shapes checked
    against ``logits``.
    """

    logits: np.ndarray
    small: dict
    layout: str


@contextlib.contextmanager
def open_npz(path: str, source: str, extra: tuple = ()) -> Iterator[NpzArrays]:
    """The arrays of an ``.npz`` with random access to ``logits``, as a context.

    Stored logits are memory-mapped in place. Compressed logits are inflated
    once into an anonymous temporary file (deleted when the context ends) and
    memory-mapped there, so memory stays flat either way. ``extra`` names more
    ``(N,)`` members whose shape is checked when present.
    """
    with zipfile.ZipFile(path) as archive:
        names = {n.removesuffix(".npy") for n in archive.namelist()}
        small = {n: _load(archive, n, source) for n in names if n != "logits"}
        layout = _layout(names, source)
        with _mapped_logits(path, archive, source) as logits:
            _check_shapes(logits.shape, small, layout, source)
            for name in extra:
                if name in small and small[name].shape != logits.shape[:1]:
                    raise DataFormatError(
                        f"{source}: {name} has shape {small[name].shape}, expected "
                        f"{logits.shape[:1]} for logits of shape {logits.shape}"
                    )
            yield NpzArrays(logits, small, layout)


@contextlib.contextmanager
def _mapped_logits(path, archive, source) -> Iterator[np.ndarray]:
    info, shape, dtype, header_size = _logits_header(archive, source)
    with archive.open(info) as handle:
        handle.read(header_size)
        if info.compress_type == zipfile.ZIP_STORED:
            offset = _data_offset(path, info) + header_size
            yield np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape)
            return
        with tempfile.TemporaryFile() as copy:
            shutil.copyfileobj(handle, copy, length=1 << 24)
            copy.flush()
            if copy.tell() != int(np.prod(shape)) * dtype.itemsize:
                raise DataFormatError(f"{source}: the logits member is truncated")
            yield np.memmap(copy, dtype=dtype, mode="r", shape=shape)


def _prompt(key: str, items: list, source: str) -> Iterator[Prompt | Rejected]:
    rejected = [item for item in items if isinstance(item, Rejected)]
    if rejected:
        for item in rejected:
            yield Rejected(item.location, item.reason + f" (prompt {key!r} skipped)")
        return
    yield Prompt(id=key, candidates=tuple(items), source=f"{source}: group {key}")


def _rows(index, logits, small, layout):
    """The logits rows and targets that score candidate ``index``."""
    length = int(small["lengths"][index])
    width = logits.shape[1]
    if layout == "aligned":
        if not 1 <= length <= width:
            raise DataFormatError(
                f"lengths[{index}] = {length} is outside [1, {width}]"
            )
        return logits.rows(index, 0, length), small["targets"][index, :length], 0
    context = int(small["n_context"][index])
    if not 1 <= context < length <= width:
        raise DataFormatError(
            f"n_context[{index}] = {context} and lengths[{index}] = {length} must "
            f"satisfy 1 <= n_context < lengths <= {width}"
        )
    rows = logits.rows(index, context - 1, length - 1)
    return rows, small["input_ids"][index, context:length], context - 1


def _score(rows, targets, first, layout, index, workers) -> TokenScores:
    try:
        return token_scores_from_logits(rows, targets, workers=workers)
    except SeqScoreError as exc:
        what = "steps" if layout == "aligned" else "positions"
        raise type(exc)(
            f"{exc} (rows are {what} {first}.. of logits[{index}])"
        ) from None


def _optional_int(small, name, index):
    return None if name not in small else int(small[name][index])


def _optional_float(small, name, index):
    return None if name not in small else float(small[name][index])


# ----------------------------------------------------------------- arrays


def _layout(names: set, source: str) -> str:
    if "logits" not in names:
        raise DataFormatError(f"{source}: no 'logits' array")
    if {"targets", "lengths"} <= names:
        return "aligned"
    if {"input_ids", "lengths", "n_context"} <= names:
        return "raw"
    raise DataFormatError(
        f"{source}: expected arrays (logits, targets, lengths) for aligned logits or "
        f"(logits, input_ids, lengths, n_context) for raw causal-LM output; found "
        f"{', '.join(sorted(names))}"
    )


def _check_shapes(shape, small, layout, source):
    if len(shape) != 3:
        raise DataFormatError(f"{source}: logits must be (N, T, V), got {shape}")
    n, t, _ = shape
    ids = "targets" if layout == "aligned" else "input_ids"
    expected = {ids: (n, t), "lengths": (n,)}
    if layout == "raw":
        expected["n_context"] = (n,)
    expected.update({name: (n,) for name in _OPTIONAL if name in small})
    for name, want in expected.items():
        if small[name].shape != want:
            raise DataFormatError(
                f"{source}: {name} has shape {small[name].shape}, expected {want} "
                f"for logits of shape {shape}"
            )
    for name in (ids, "lengths", "n_context", "n_chars", "n_bytes"):
        if name in small and small[name].dtype.kind not in "iu":
            raise DataFormatError(f"{source}: {name} must be integers")
    return shape


def _load(archive: zipfile.ZipFile, name: str, source: str) -> np.ndarray:
    with archive.open(name + ".npy") as handle:
        try:
            return np.lib.format.read_array(handle, allow_pickle=False)
        except ValueError as exc:
            raise DataFormatError(
                f"{source}: cannot read array {name!r}: {exc}"
            ) from None


class _Logits:
    """Candidate-by-candidate access to the (N, T, V) logits member."""

    def __init__(self, shape, reader):
        self.shape = shape
        self._reader = reader

    def rows(self, index: int, start: int, stop: int) -> np.ndarray:
        return self._reader(index)[start:stop]


def _logits(path: str, archive: zipfile.ZipFile, source: str) -> _Logits:
    info, shape, dtype, header_size = _logits_header(archive, source)
    if info.compress_type == zipfile.ZIP_STORED:
        offset = _data_offset(path, info) + header_size
        mapped = np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape)
        return _Logits(shape, lambda index: mapped[index])
    return _Logits(shape, _streamed(archive, info, shape, dtype, header_size))


def _logits_header(archive: zipfile.ZipFile, source: str):
    """``(zip entry, shape, dtype, header bytes)`` of the logits member."""
    info = archive.getinfo("logits.npy")
    with archive.open(info) as handle:
        version = np.lib.format.read_magic(handle)
        shape, fortran, dtype = _read_header(handle, version)
        header_size = handle.tell()
    if fortran:
        raise DataFormatError(
            f"{source}: logits are Fortran-ordered; save them C-ordered"
        )
    return info, shape, dtype, header_size


def _read_header(handle, version):
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(handle)
    return np.lib.format.read_array_header_2_0(handle)


def _data_offset(path: str, info: zipfile.ZipInfo) -> int:
    """Where a stored member's bytes start: after its local file header."""
    with open(path, "rb") as handle:
        handle.seek(info.header_offset)
        header = handle.read(30)
    name_length, extra_length = struct.unpack("<HH", header[26:30])
    return info.header_offset + 30 + name_length + extra_length


def _streamed(archive, info, shape, dtype, header_size):
    """A reader that decompresses candidate after candidate, in order."""
    handle = archive.open(info)
    handle.read(header_size)
    block = int(np.prod(shape[1:])) * dtype.itemsize
    state = {"next": 0}

    def read(index: int) -> np.ndarray:
        if index != state["next"]:
            raise DataFormatError("compressed logits must be read in order")
        state["next"] += 1
        data = handle.read(block)
        if len(data) != block:
            raise DataFormatError(f"logits member is truncated at candidate {index}")
        return np.frombuffer(data, dtype=dtype).reshape(shape[1:])

    return read
