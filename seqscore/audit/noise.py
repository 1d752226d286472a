r"""The tolerance model: how far an honest report may sit from the exact value.

A reported number :math:`r_i` is compared with a hypothesis's exact
prediction :math:`\hat r_i` (computed in float64 from the logits). They may
differ for three honest reasons, each bounded separately:

1. **Rounding of the report** to :math:`d` decimal places:
   :math:`\tfrac12 10^{-d}`.
2. **Storage of the report** in float16, float32 or float64 (unit roundoff
   :math:`u_r = 2^{-11}`, :math:`2^{-24}` or :math:`2^{-53}`):
   :math:`2 u_r |\hat r_i|`; a prediction beyond the format's largest finite
   number (65504 for float16) may be stored as an infinity of its sign.
3. **The pipeline's own arithmetic** in float32 or float64 (unit roundoff
   :math:`u_c`): each hypothesis supplies a first-order error coefficient
   :math:`M_i` such that a left-to-right float computation of its formula is
   off by at most :math:`u_c M_i` (for a sum of log-softmax terms
   :math:`a_p = z_p[x] - \mathrm{lse}_p`, :math:`M_i = \sum_p (|z_p[x]| +
   |\mathrm{lse}_p| + |a_p| + \log_2 V + 2) + \sum_k |s_k|`, the last sum
   over the partial sums :math:`s_k` of the accumulation). The bound is
   multiplied by a safety factor (2).

so the tolerance is

.. math::

    \tau_i = \tfrac12 10^{-d} + 2 u_r |\hat r_i| + 2 u_c M_i
             + 16 u_{64} M_i + a_i + \sigma_r,

where :math:`a_i` is a hypothesis's own absolute allowance (an underflow
floor, a rounding boundary that pipeline noise may cross) and
:math:`\sigma_r` the smallest subnormal of the storage format (a value
below the format's range is stored as 0). A hypothesis
*fits* a candidate when :math:`|r_i - \hat r_i| \le \tau_i`, or when both are
the same infinity. Rounding and storage are detected from the reported
numbers themselves (:func:`detect_noise`); the pipeline's arithmetic is
assumed float32 unless told otherwise, because that is how models run and an
assumption of float64 would turn float32 noise into an invented bug.

Why noise can neither hide a bug nor invent one: a correct report is within
:math:`\tau_i` of the correct prediction by construction (the bounds are
worst-case bounds, not estimates); and a bug is reported as hidden only when
its predictions are themselves within :math:`\tau_i` of the correct ones for
*every* candidate -- then the data cannot tell them apart, and the report
says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from seqscore.errors import InvalidInputError

__all__ = ["NoiseModel", "Prediction", "Residuals", "compare", "detect_noise"]

_UNIT = {"float16": 2.0**-11, "float32": 2.0**-24, "float64": 2.0**-53}
_COMPUTE = ("float32", "float64")
SAFETY = 2.0
_OWN = 16 * 2.0**-53  # our float64 evaluation of the formulas
_MAX_DECIMALS = 12


@dataclass(frozen=True)
class NoiseModel:
    """Rounding and precision of the reported numbers and of the pipeline.

    >>> NoiseModel(decimals=4).describe()
    'reported rounded to 4 decimals, stored as float64; pipeline arithmetic float32'
    """

    decimals: int | None = None
    reported_dtype: str = "float64"
    compute_dtype: str = "float32"
    #: every finite report is 0, so any rounding is possible; ``decimals`` is
    #: then 0, the coarsest, under which a hypothesis fits if *some* rounding
    #: maps its predictions onto the reports
    rounding_unknown: bool = False

    def __post_init__(self):
        if self.reported_dtype not in _UNIT:
            raise InvalidInputError(
                "reported_dtype must be float16, float32 or float64, got "
                f"{self.reported_dtype!r}"
            )
        if self.compute_dtype not in _COMPUTE:
            raise InvalidInputError(
                f"compute_dtype must be float32 or float64, got {self.compute_dtype!r}"
            )
        if self.decimals is not None and not 0 <= self.decimals <= 300:
            raise InvalidInputError(f"decimals must be >= 0, got {self.decimals}")

    @property
    def compute_unit(self) -> float:
        """Unit roundoff :math:`u_c` of the pipeline's arithmetic."""
        return _UNIT[self.compute_dtype]

    @property
    def quantum(self) -> float:
        """Half a unit in the last reported decimal (0 when not rounded)."""
        return 0.0 if self.decimals is None else 0.5 * 10.0 ** (-self.decimals)

    def tolerance(self, prediction: Prediction) -> np.ndarray:
        """:math:`\\tau_i` for every candidate of ``prediction``."""
        values = np.where(np.isfinite(prediction.values), prediction.values, 0.0)
        magnitude = np.where(
            np.isfinite(prediction.magnitude), prediction.magnitude, 0.0
        )
        return (
            self.quantum
            + 2 * _UNIT[self.reported_dtype] * np.abs(values)
            + (SAFETY * self.compute_unit + _OWN) * magnitude
            + prediction.absolute
            # storage cannot hold less than its smallest subnormal (and never
            # zero, so ratios stay defined)
            + float(np.finfo(self.reported_dtype).smallest_subnormal)
        )

    def describe(self) -> str:
        if self.rounding_unknown:
            rounding = "all 0: the rounding is unknown, so any is allowed"
        elif self.decimals is None:
            rounding = "not rounded"
        else:
            rounding = f"rounded to {self.decimals} decimals"
        return (
            f"reported {rounding}, stored as {self.reported_dtype}; pipeline "
            f"arithmetic {self.compute_dtype}"
        )


def detect_noise(
    reported,
    *,
    decimals: int | None = None,
    reported_dtype: str | None = None,
    compute_dtype: str = "float32",
) -> NoiseModel:
    """The :class:`NoiseModel` the reported numbers themselves reveal.

    Storage is float32 when every finite value survives a round trip through
    float32. float16 storage is never guessed from the values (float16
    values are also what the float16-accumulation bug reports, and assuming
    the storage would excuse it): say so with ``reported_dtype``. The
    decimals are the fewest for which every finite non-zero value lies
    within storage precision of a number with that many decimals
    (zeros say nothing; without non-zero values the rounding is unknown and
    taken as none). Explicit arguments override what is detected.

    >>> detect_noise([-1.2346, -20.5, -0.0001]).describe()
    'reported rounded to 4 decimals, stored as float64; pipeline arithmetic float32'
    >>> detect_noise(np.float32([-1.2345678, -3.1415927])).reported_dtype
    'float32'
    >>> detect_noise([0.0, 0.0]).rounding_unknown  # any rounding is possible
    True
    """
    values = np.asarray(reported, dtype=np.float64)
    finite = values[np.isfinite(values)]
    if reported_dtype is None:
        with np.errstate(over="ignore"):  # beyond float32: not a float32
            as32 = finite.astype(np.float32).astype(np.float64)
        reported_dtype = (
            "float32" if finite.size and np.all(as32 == finite) else "float64"
        )
    unknown = decimals is None and finite.size > 0 and not np.any(finite)
    if unknown:
        decimals = 0
    elif decimals is None:
        decimals = _decimals(finite[finite != 0], _UNIT[reported_dtype])
    return NoiseModel(decimals, reported_dtype, compute_dtype, unknown)


def _decimals(values: np.ndarray, unit: float) -> int | None:
    if not values.size:
        return None
    for d in range(_MAX_DECIMALS + 1):
        slack = 2 * unit * np.maximum(np.abs(values), 10.0**-d)
        if np.all(np.abs(values - np.round(values, d)) <= slack):
            return d
    return None


@dataclass(frozen=True)
class Prediction:
    """What a hypothesis says each candidate's report should be.

    ``magnitude`` is the first-order error coefficient :math:`M_i`,
    ``absolute`` an extra allowance :math:`a_i`; ``inf_ok`` marks candidates
    for which ``-inf`` is right as well (an underflow that rounding may or may
    not reach); ``evaluated`` is false where the hypothesis makes no
    prediction (not applicable, or not computed).
    """

    values: np.ndarray
    magnitude: np.ndarray
    absolute: np.ndarray | float = 0.0
    inf_ok: np.ndarray | None = None
    evaluated: np.ndarray | None = None

    def mask(self) -> np.ndarray:
        if self.evaluated is None:
            return np.ones(len(self.values), bool)
        return self.evaluated


@dataclass(frozen=True)
class Residuals:
    """Per-candidate agreement of a prediction with the reported numbers."""

    residual: np.ndarray  # |r - prediction|: 0 for equal infinities, inf on mismatch
    tolerance: np.ndarray
    within: np.ndarray  # bool
    evaluated: np.ndarray  # bool

    @property
    def ratio(self) -> np.ndarray:
        """Residual over tolerance (<= 1 within; inf for an infinite residual)."""
        with np.errstate(over="ignore"):
            return self.residual / self.tolerance


def compare(prediction: Prediction, reported, noise: NoiseModel) -> Residuals:
    """Residuals of ``reported`` against ``prediction`` under ``noise``.

    >>> p = Prediction(np.array([-2.0, -np.inf]), np.array([10.0, 0.0]))
    >>> r = compare(p, [-2.00004, -np.inf], NoiseModel(decimals=4))
    >>> r.within.tolist(), r.residual.round(5).tolist()
    ([True, True], [4e-05, 0.0])
    """
    reported = np.asarray(reported, dtype=np.float64)
    values = prediction.values
    tolerance = noise.tolerance(prediction)
    both = np.isfinite(values) & np.isfinite(reported)
    with np.errstate(invalid="ignore"):
        distance = np.abs(reported - values)
    same_infinity = ~both & (values == reported)
    residual = np.where(both, distance, np.where(same_infinity, 0.0, np.inf))
    if prediction.inf_ok is not None:
        residual = np.where(prediction.inf_ok & np.isneginf(reported), 0.0, residual)
    residual = np.where(_overflowed(values, reported, tolerance, noise), 0.0, residual)
    evaluated = prediction.mask()
    residual = np.where(evaluated, residual, np.nan)
    within = evaluated & (residual <= tolerance)
    return Residuals(residual, tolerance, within, evaluated)


def _overflowed(values, reported, tolerance, noise: NoiseModel) -> np.ndarray:
    """Finite predictions that storage may have turned into an infinity."""
    largest = float(np.finfo(noise.reported_dtype).max)
    with np.errstate(invalid="ignore"):
        return (
            np.isfinite(values)
            & np.isinf(reported)
            & (np.sign(values) == np.sign(reported))
            & (np.abs(values) + tolerance >= largest)
        )
