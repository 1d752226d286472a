"""Input checks shared by the softmax layer and the token kernel.

Kept in one place so that every entry point rejects the same inputs with the
same words. The checks are written to cost nothing on good input: a NaN or a
``+inf`` anywhere in a row makes that row's maximum NaN or ``+inf``, so the
maximum that the numerics need anyway doubles as the validity test, and the
exact position is looked up only once something is known to be wrong.
"""

from __future__ import annotations

import numbers

import numpy as np

from seqscore.errors import InvalidInputError, ShapeError, format_index


def compute_dtype(dtype: np.dtype) -> np.dtype:
    """The floating dtype logits of ``dtype`` are computed in.

    float16 (and bfloat16-like small floats) are widened to float32 because
    their 10-bit mantissa cannot hold a normaliser; integers and booleans
    become float64; float32 and float64 stay as they are.

    >>> compute_dtype(np.dtype(np.float16))
    dtype('float32')
    >>> compute_dtype(np.dtype(np.int64))
    dtype('float64')
    """
    if dtype.kind == "f":
        return np.dtype(np.float32) if dtype.itemsize < 4 else dtype
    if dtype.kind in "iub":
        return np.dtype(np.float64)
    raise InvalidInputError(f"logits must be real numbers, got dtype {dtype}")


def check_integer(value, name: str, *, minimum: int, maximum: int | None = None) -> int:
    """``value`` as an int in ``[minimum, maximum]``: not a bool, a fraction,
    a string or an infinity (``3.0`` is 3), else an error naming ``name``.

    >>> check_integer(3.0, "top_k", minimum=0)
    3
    """
    try:
        whole = not isinstance(value, (bool, np.bool_)) and int(value) == value
    except (TypeError, ValueError, OverflowError):
        whole = False
    if maximum is None:
        if not whole or value < minimum:
            raise InvalidInputError(
                f"{name} must be an integer >= {minimum}, got {value!r}"
            )
    elif not whole or not minimum <= value <= maximum:
        raise InvalidInputError(
            f"{name} must be an integer in [{minimum}, {maximum}], got {value!r}"
        )
    return int(value)


def reject_masked(values, name: str = "logits") -> None:
    """A masked array's mask would be silently dropped: say how to mask."""
    if isinstance(values, np.ma.MaskedArray):
        raise InvalidInputError(
            f"{name} is a masked array: set masked entries to -inf instead "
            "(np.ma.filled(z, -np.inf))"
        )


def as_float_array(values, name: str = "logits") -> np.ndarray:
    """``values`` as an ndarray in its compute dtype (no copy when possible)."""
    reject_masked(values, name)
    try:
        array = np.asarray(values)
    except ValueError as exc:  # ragged nested lists
        raise ShapeError(f"{name} is ragged or not numeric: {exc}") from None
    if array.dtype == object:
        raise ShapeError(f"{name} is ragged or not numeric (dtype object)")
    return array.astype(compute_dtype(array.dtype), copy=False)


def raise_for_bad_logit(
    array: np.ndarray, name: str = "logits", offset=(), lead_shape=None, prefix=()
) -> None:
    """Raise :class:`InvalidInputError` at the first NaN or ``+inf`` entry.

    ``offset`` is added to the position found, so a caller working on a tile
    can report the position in the whole array; with ``lead_shape`` the tile
    is a ``(steps, V)`` view and the step is spelled in the caller's shape;
    ``prefix`` is prepended (the candidate a slice was taken from).
    Does nothing when every entry is finite or ``-inf``.

    >>> try:
    ...     raise_for_bad_logit(np.array([[0.0, np.nan]]), offset=(4, 0), prefix=(2,))
    ... except InvalidInputError as error:
    ...     print(str(error).split(":")[0])
    logits[2, 4, 1] is NaN
    """
    bad = np.isnan(array) | np.isposinf(array)
    if not bad.any():
        return
    local = tuple(np.argwhere(bad)[0])
    value = "NaN" if np.isnan(array[local]) else "+inf"
    position = local
    if offset:
        position = tuple(int(p) + int(o) for p, o in zip(local, offset, strict=True))
    if lead_shape is not None:
        step = np.unravel_index(position[0], lead_shape) if lead_shape else ()
        position = (*step, position[1])
    position = (*prefix, *position)
    raise InvalidInputError(
        f"{format_index(position, name)} is {value}: a logit must be finite, "
        "or -inf to mask a token"
    )


def row_label(row: tuple[int, ...], axis: int, ndim: int, name: str) -> str:
    """Spell the 1-D slice along ``axis`` at ``row`` as ``name[3, :]``.

    >>> row_label((3,), -1, 2, "logits")
    'logits[3, :]'
    >>> row_label((), 0, 1, "logits")
    'logits[:]'
    """
    axis = axis % ndim
    parts = [str(int(i)) for i in row]
    parts.insert(axis, ":")
    return f"{name}[{', '.join(parts)}]"


def check_finite(value, name: str) -> float:
    """``value`` as a finite float: not a bool, a string, ``None`` or a
    complex number, else an error naming ``name``.

    >>> check_finite(-2, "length_penalty")
    -2.0
    >>> check_finite("1", "length_penalty")
    Traceback (most recent call last):
    ...
    seqscore.errors.InvalidInputError: length_penalty must be a finite number, got '1'
    """
    number = real_or_nan(value)
    if not np.isfinite(number):
        raise InvalidInputError(f"{name} must be a finite number, got {value!r}")
    return number


def check_positive(value, name: str) -> float:
    """``value`` as a float, finite and > 0 (see :func:`check_finite`).

    >>> check_positive(2, "tol")
    2.0
    >>> check_positive("1e-3", "tol")
    Traceback (most recent call last):
    ...
    seqscore.errors.InvalidInputError: tol must be a finite number > 0, got '1e-3'
    """
    number = real_or_nan(value)
    if not (np.isfinite(number) and number > 0):
        raise InvalidInputError(f"{name} must be a finite number > 0, got {value!r}")
    return number


def real_or_nan(value) -> float:
    """``value`` as a float if it is a real number (NaN if it is not)."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if not isinstance(value, numbers.Real) or isinstance(value, (bool, np.bool_)):
        return np.nan
    try:
        return float(value)
    except OverflowError:  # an int past the float range
        return np.inf


def check_temperature(temperature: float) -> float:
    """Return ``temperature`` as a float, or raise if it is not finite and > 0."""
    return check_positive(temperature, "temperature")


def as_targets(targets, vocab_size: int, name: str = "targets") -> np.ndarray:
    """Integer target ids as an int64 array, each checked to lie in [0, V).

    Floats are accepted only when every value is a whole number (JSON readers
    may produce ``3.0``); anything else is an error, never a rounding.
    """
    array = np.asarray(targets)
    whole_floats = array.dtype.kind == "f" and bool(np.all(array == np.rint(array)))
    if array.dtype.kind not in "iu" and not whole_floats and array.size:
        raise InvalidInputError(
            f"{name} must be integer token ids, got dtype {array.dtype}"
        )
    # checked before the cast, which would wrap 2**63 (uint64) or 1e20 around
    outside = (array < 0) | (array >= vocab_size)
    if outside.any():
        position = tuple(np.argwhere(outside)[0])
        value = array[position]
        whole = array.dtype.kind in "iu" or float(value).is_integer()
        shown = int(value) if whole else float(value)
        raise InvalidInputError(
            f"{format_index(position, name)} = {shown} is outside "
            f"the vocabulary [0, {vocab_size})"
        )
    return array.astype(np.int64, copy=False)
