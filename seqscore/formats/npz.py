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

What each array may hold:

* ``group``: integers or strings. Floats are accepted when every one is a
  whole number (as pandas leaves an integer column that once held a NaN)
  and read as integers, so ``1.0`` names prompt ``1``; a NaN, an infinity or
  a fraction is rejected, since it cannot say which prompt a candidate
  answers. Booleans, bytes and other kinds are rejected.
* ``n_chars``, ``n_bytes``: integers >= 0 (a negative count is rejected with
  its candidate).
* ``unconditional``: real numbers <= 0 (log-probabilities; ``-inf`` allowed),
  never NaN.
* ``logits``: real numbers (floats, integers or booleans), C-ordered.

A file holding both layouts' arrays (``targets`` and ``input_ids`` or
``n_context``) is rejected as ambiguous rather than read either way. Zip
members that are not ``.npy`` (a README, JSON metadata) are ignored: they
cannot hold an array; ``.npy`` members this module does not know are never
read. A file with no candidates, a damaged zip archive or a
member shorter or longer than its ``.npy`` header declares is an error
naming the file.

``logits`` is never loaded whole: stored uncompressed (``np.savez``), it is
memory-mapped in place; compressed (``np.savez_compressed``), it is
decompressed one candidate at a time by :func:`read_npz`, or into a temporary
file that is then memory-mapped by :func:`open_npz` (for callers that need
random access, such as the audit).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import struct
import tempfile
import tokenize
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from seqscore.errors import DataFormatError, Rejected, SeqScoreError
from seqscore.numerics._arrays import raise_for_bad_logit
from seqscore.numerics.parallel import cpu_count, ordered_map
from seqscore.numerics.shift import causal_window
from seqscore.scoring.candidates import (
    Candidate,
    Prompt,
    TokenScores,
    token_scores_from_logits,
)

__all__ = ["ZIP_SIGNATURES", "NpzArrays", "open_npz", "read_npz"]

#: How a zip archive starts: a first member, or (empty) the end of its directory.
ZIP_SIGNATURES = (b"PK\x03\x04", b"PK\x05\x06")

_OPTIONAL = ("group", "unconditional", "n_chars", "n_bytes")
_IDS = {"aligned": ("targets", "lengths"), "raw": ("input_ids", "lengths", "n_context")}
# what a damaged archive raises while it is read: a bad directory or local
# header, a bad CRC, a deflate stream cut short or corrupt, an unknown method,
# a member's offset before the start of the file (seek: OSError EINVAL)
_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, OSError)
# what numpy raises on a bad .npy header: a header cut inside its dict is a
# tokenize error, not a ValueError
_HEADER_ERRORS = (ValueError, tokenize.TokenError)


def read_npz(
    path: str, source: str, on_progress: Callable[[int, int], None] | None = None
) -> Iterator[Prompt | Rejected]:
    """Prompts of an ``.npz`` file, grouped by ``group`` in order of appearance.

    The file's own faults (a damaged archive, a missing or truncated array,
    no candidates) are raised here, before the first prompt is asked for;
    a prompt with any rejected candidate is rejected whole (its ranking
    would silently change otherwise), and each bad candidate is reported.
    """
    archive, small, layout, member = _open(path, source)
    return _prompts(path, archive, small, layout, member, source, on_progress)


def _prompts(path, archive, small, layout, member, source, on_progress):
    with archive, _damage(source):
        logits = _logits(path, archive, member)
        n = member.shape[0]
        groups = small.get("group", np.zeros(n, dtype=np.int64))
        found: dict = {}
        for index, item in enumerate(_candidates(n, logits, small, layout, source)):
            found.setdefault(groups[index].item(), []).append(item)
            if on_progress is not None:
                on_progress(index + 1, n)
        logits.finish()
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
    maps the name of every other member read (the layout's, the optional
    ones and ``extra``) to its fully loaded array, shapes checked against
    ``logits``.
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
    ``(N,)`` members to read, their shape checked when present.
    """
    archive, small, layout, member = _open(path, source, extra)
    with archive, _mapped_logits(path, archive, member, source) as logits:
        yield NpzArrays(logits, small, layout)


@contextlib.contextmanager
def _mapped_logits(path, archive, member, source) -> Iterator[np.ndarray]:
    if member.info.compress_type == zipfile.ZIP_STORED:
        with _damage(source):
            mapped = _memmap(path, member)
        yield mapped
        return
    with tempfile.TemporaryFile() as copy:
        with _damage(source), archive.open(member.info) as handle:
            handle.read(member.header_size)
            shutil.copyfileobj(handle, copy, length=1 << 24)
        copy.flush()
        if copy.tell() != member.data_size:
            raise DataFormatError(f"{source}: the logits member is truncated")
        yield np.memmap(copy, dtype=member.dtype, mode="r", shape=member.shape)


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
    rows, targets = causal_window(context, length)
    block = logits.rows(index, rows.start, rows.stop)
    return block, small["input_ids"][index, targets], rows.start


def _score(rows, targets, first, layout, index, workers) -> TokenScores:
    try:
        return token_scores_from_logits(rows, targets, workers=workers)
    except SeqScoreError as exc:
        raise type(exc)(
            _in_file_terms(exc, rows, targets, first, layout, index)
        ) from None


def _in_file_terms(exc, rows, targets, first, layout, index) -> str:
    """The kernel's message with positions in the file's arrays: the kernel
    saw candidate ``index``'s rows from ``first`` on, and would call
    ``logits[0, 4, 2]`` "logits[1, 2]" (which reads as candidate 1)."""
    try:
        raise_for_bad_logit(rows, offset=(first, 0), prefix=(index,))
    except SeqScoreError as precise:
        return str(precise)
    vocab = rows.shape[1]
    outside = (targets < 0) | (targets >= vocab)
    if outside.any():
        k = int(np.argmax(outside))
        name, column = (
            ("targets", k) if layout == "aligned" else ("input_ids", first + 1 + k)
        )
        return (
            f"{name}[{index}, {column}] = {targets[k]} is outside the vocabulary "
            f"[0, {vocab})"
        )
    masked = np.all(np.isneginf(rows), axis=1)
    if masked.any():
        r = int(np.argmax(masked))
        return (
            f"logits[{index}, {first + r}, :] is entirely -inf: every token is "
            "masked at this step, so there is no distribution"
        )
    what = "steps" if layout == "aligned" else "positions"
    return f"{exc} (rows are {what} {first}.. of logits[{index}])"


def _optional_int(small, name, index):
    """A count (``n_chars``, ``n_bytes``) of candidate ``index``, or None."""
    if name not in small:
        return None
    value = int(small[name][index])
    if value < 0:
        raise DataFormatError(f"{name}[{index}] = {value} is negative: it is a count")
    return value


def _optional_float(small, name, index):
    """``unconditional`` of candidate ``index``, or None; a log-probability."""
    if name not in small:
        return None
    value = float(small[name][index])
    if not value <= 0:  # also catches NaN
        raise DataFormatError(
            f"{name}[{index}] = {value} is not a log-probability (it must be <= 0)"
        )
    return value


# ----------------------------------------------------------------- arrays


@dataclass(frozen=True)
class _Member:
    """The ``logits.npy`` member: where its data is and what its header says."""

    info: zipfile.ZipInfo
    shape: tuple
    dtype: np.dtype
    header_size: int

    @property
    def data_size(self) -> int:
        return int(np.prod(self.shape)) * self.dtype.itemsize


@contextlib.contextmanager
def _damage(source: str) -> Iterator[None]:
    """Turn the errors of a damaged zip archive into one naming ``source``."""
    try:
        yield
    except _ZIP_ERRORS as exc:
        raise DataFormatError(
            f"{source}: not a readable .npz (a damaged or incomplete zip "
            f"archive: {exc})"
        ) from None


def _open(path: str, source: str, extra: tuple = ()):
    """``(archive, small arrays, layout, logits member)``, everything checked.

    The archive is returned open (the caller closes it); the small arrays
    are loaded and checked, the logits only described by their header.
    """
    with _damage(source):
        archive = zipfile.ZipFile(path)
    try:
        with _damage(source):
            names = {
                n.removesuffix(".npy") for n in archive.namelist() if n.endswith(".npy")
            }
            layout = _layout(names, source)
            wanted = names & {*_IDS[layout], *_OPTIONAL, *extra}
            small = {n: _load(archive, n, source) for n in wanted}
            member = _logits_member(path, archive, source)
        _check_arrays(member.shape, small, layout, source, extra)
    except BaseException:
        archive.close()
        raise
    return archive, small, layout, member


def _layout(names: set, source: str) -> str:
    if "logits" not in names:
        raise DataFormatError(f"{source}: no 'logits' array")
    if "targets" in names and names & {"input_ids", "n_context"}:
        raise DataFormatError(
            f"{source}: ambiguous layout: has both targets (aligned logits) and "
            f"{' and '.join(sorted(names & {'input_ids', 'n_context'}))} (raw "
            "causal-LM output); keep one layout's arrays"
        )
    for layout, needed in _IDS.items():
        if set(needed) <= names:
            return layout
    raise DataFormatError(
        f"{source}: expected arrays (logits, targets, lengths) for aligned logits or "
        f"(logits, input_ids, lengths, n_context) for raw causal-LM output; found "
        f"{', '.join(sorted(names))}"
    )


def _check_arrays(shape, small, layout, source, extra=()) -> None:
    """Shapes and kinds of the small arrays; ``group`` made integers or strings."""
    if len(shape) != 3:
        raise DataFormatError(f"{source}: logits must be (N, T, V), got {shape}")
    n, t, _ = shape
    if n == 0:
        raise DataFormatError(f"{source}: no candidates (logits has shape {shape})")
    expected: dict[str, tuple[int, ...]] = {
        name: (n,) for name in (*_IDS[layout], *_OPTIONAL, *extra)
    }
    expected[_IDS[layout][0]] = (n, t)
    for name, want in expected.items():
        if name in small and small[name].shape != want:
            raise DataFormatError(
                f"{source}: {name} has shape {small[name].shape}, expected {want} "
                f"for logits of shape {shape}"
            )
    for name in (*_IDS[layout], "n_chars", "n_bytes"):
        if name in small and small[name].dtype.kind not in "iu":
            raise DataFormatError(f"{source}: {name} must be integers")
    if "unconditional" in small and small["unconditional"].dtype.kind not in "fiu":
        raise DataFormatError(f"{source}: unconditional must be real numbers")
    if "group" in small:
        small["group"] = _group_labels(small["group"], source)


def _group_labels(group: np.ndarray, source: str) -> np.ndarray:
    """``group`` as integers or strings (see the module notes for the rule)."""
    if group.dtype.kind in "iuU":
        return group
    if group.dtype.kind != "f":
        raise DataFormatError(
            f"{source}: group must be integers or strings (one prompt label per "
            f"candidate), got dtype {group.dtype}"
        )
    # 2**53: every whole float up to there is exactly one integer (compared
    # in float64: 2**53 overflows a float16 with a warning)
    group = group.astype(np.float64)
    bad = ~(np.isfinite(group) & (group == np.round(group)) & (abs(group) <= 2**53))
    if bad.any():
        index = int(np.argmax(bad))
        raise DataFormatError(
            f"{source}: group[{index}] = {group[index]} is not a prompt label: "
            "float groups must be whole numbers (use integers or strings)"
        )
    return group.astype(np.int64)


def _load(archive: zipfile.ZipFile, name: str, source: str) -> np.ndarray:
    with _member(archive, name + ".npy", source) as handle:
        try:
            return np.lib.format.read_array(handle, allow_pickle=False)
        except _HEADER_ERRORS as exc:
            raise DataFormatError(
                f"{source}: cannot read array {name!r}: {exc}"
            ) from None


@contextlib.contextmanager
def _member(archive: zipfile.ZipFile, name: str, source: str):
    """An open zip member (an encrypted one is refused: numpy never writes one)."""
    info = archive.getinfo(name)
    if info.flag_bits & 0x1:
        raise DataFormatError(f"{source}: the {name} member is encrypted")
    with archive.open(info) as handle:
        yield handle


class _Logits:
    """Candidate-by-candidate access to the (N, T, V) logits member.

    ``finish`` reads a compressed member on to its end after the last
    candidate: zipfile checks the CRC only there, and a corrupt member must
    fail the file rather than pass as scores.
    """

    def __init__(self, shape, reader, finish=lambda: None):
        self.shape = shape
        self._reader = reader
        self.finish = finish

    def rows(self, index: int, start: int, stop: int) -> np.ndarray:
        return self._reader(index)[start:stop]


def _logits(path: str, archive, member: _Member) -> _Logits:
    if member.info.compress_type == zipfile.ZIP_STORED:
        mapped = _memmap(path, member)
        return _Logits(member.shape, lambda index: mapped[index])
    handle = archive.open(member.info)
    handle.read(member.header_size)
    return _Logits(member.shape, _streamed(handle, member), handle.read)


def _logits_member(path: str, archive: zipfile.ZipFile, source: str) -> _Member:
    """The logits member, its header read and its size checked against it.

    A stored member is memory-mapped straight from the file, so a member
    shorter than its header declares would be read past its end, into the
    next member's bytes: the size is checked before anything is mapped.
    """
    with _member(archive, "logits.npy", source) as handle:
        try:
            version = np.lib.format.read_magic(handle)
            shape, fortran, dtype = _read_header(handle, version)
        except _HEADER_ERRORS as exc:
            raise DataFormatError(
                f"{source}: cannot read array 'logits': {exc}"
            ) from None
        member = _Member(archive.getinfo("logits.npy"), shape, dtype, handle.tell())
    if fortran:
        raise DataFormatError(
            f"{source}: logits are Fortran-ordered; save them C-ordered"
        )
    if dtype.hasobject or dtype.kind not in "fiub":
        raise DataFormatError(f"{source}: logits must be real numbers, got {dtype}")
    declared = member.header_size + member.data_size
    if member.info.file_size < declared:
        raise DataFormatError(
            f"{source}: the logits member is truncated: {member.info.file_size} "
            f"bytes where its header declares {declared} for shape {shape}"
        )
    if member.info.file_size > declared:
        raise DataFormatError(
            f"{source}: the logits member holds {member.info.file_size} bytes where "
            f"its header declares {declared} for shape {shape}"
        )
    return member


def _read_header(handle, version):
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(handle)
    return np.lib.format.read_array_header_2_0(handle)


def _memmap(path: str, member: _Member) -> np.ndarray:
    """A stored member's data, mapped in place."""
    offset = _data_offset(path, member.info) + member.header_size
    if offset + member.data_size > os.path.getsize(path):
        # the directory says the member is whole, but the file ends first
        raise zipfile.BadZipFile("the logits member runs past the end of the file")
    return np.memmap(
        path, dtype=member.dtype, mode="r", offset=offset, shape=member.shape
    )


def _data_offset(path: str, info: zipfile.ZipInfo) -> int:
    """Where a stored member's bytes start: after its local file header."""
    with open(path, "rb") as handle:
        handle.seek(info.header_offset)
        header = handle.read(30)
    if len(header) != 30 or not header.startswith(b"PK\x03\x04"):
        raise zipfile.BadZipFile(f"no local header for {info.filename}")
    name_length, extra_length = struct.unpack("<HH", header[26:30])
    return info.header_offset + 30 + name_length + extra_length


def _streamed(handle, member: _Member):
    """A reader that decompresses candidate after candidate, in order.

    A damaged stream raises zipfile's own errors, which fail the whole file
    (see :func:`_damage`): the rows after a bad block cannot be trusted.
    Candidates not asked for (rejected before their rows were read) are
    read past, so that the next one gets its own rows.
    """
    block = member.data_size // member.shape[0]
    state = {"next": 0}

    def read(index: int) -> np.ndarray:
        if index < state["next"]:
            raise DataFormatError("compressed logits must be read in order")
        while state["next"] <= index:
            data = handle.read(block)
            if len(data) != block:
                raise DataFormatError(
                    f"logits member is truncated at candidate {state['next']}"
                )
            state["next"] += 1
        return np.frombuffer(data, dtype=member.dtype).reshape(member.shape[1:])

    return read
