"""P-values without scipy (a dev-only dependency): the two-sample Kolmogorov-Smirnov, chi-square, F and
Student t laws.

The formulas are scipy's own (`ks_2samp` with method="auto", `kstwobign`, `chi2.sf`), so a p-value here equals
scipy's on the same data; tests pin that. The one deliberate difference: when a sample exceeds 10,000 values
scipy's asymptotic branch uses the finite-n `kstwo` law, we use its limit `kstwobign` (Kolmogorov), which
differs in the third decimal at worst and only in that branch (the KS branch runs on references of <= 1,000).
The exact branch also falls back to that limit when its lattice walk would run for seconds and the p-value
is anyway below 1e-6 (a strong drift with a large current day): the decision cannot change.
"""

from __future__ import annotations

import math

import numpy as np

KS_EXACT_MAX_N = 10_000
"""scipy's MAX_AUTO_N: exact KS p-values when both samples have at most this many values."""

_MAX_WALK_STEPS = 3_000_000
_NEGLIGIBLE_P = 1e-6
_CF_EPS = 1e-16
_CF_TINY = 1e-300
_MAX_ITERATIONS = 10_000


def ks_2samp_pvalue(d: float, n1: int, n2: int) -> tuple[float, float]:
    """(statistic, p-value) of the two-sided two-sample KS test, as `scipy.stats.ks_2samp(method="auto")`.

    Like scipy, the exact branch first rounds `d` onto the lattice of attainable values (multiples of
    1/lcm(n1, n2)) and returns that rounded statistic.
    """
    if n1 < 1 or n2 < 1:
        raise ValueError("both samples need at least one value")
    if max(n1, n2) <= KS_EXACT_MAX_N:
        g = math.gcd(n1, n2)
        lcm = (n1 // g) * n2
        h = round(d * lcm)
        d = h / lcm
        if h == 0:
            return d, 1.0
        if not _walk_too_long(d, n1, n2):
            prob = _prob_outside_square(n1, h) if n1 == n2 else _outer_prob_inside(n1, n2, g, h)
            if 0 <= prob <= 1:
                return d, prob
    m, n = max(n1, n2), min(n1, n2)
    en = m * n / (m + n)
    return d, min(max(kolmogorov_sf(math.sqrt(en) * d), 0.0), 1.0)


def _walk_too_long(d: float, n1: int, n2: int) -> bool:
    """Whether the exact lattice walk (a Python loop of about max(n) x 2 d min(n) steps) would take seconds
    while the answer is anyway far below any significance level: then the Kolmogorov limit is used."""
    if n1 == n2:
        return False
    m, n = max(n1, n2), min(n1, n2)
    steps = m * min(2 * d * n + 1, n + 1)
    return steps > _MAX_WALK_STEPS and kolmogorov_sf(math.sqrt(m * n / (m + n)) * d) < _NEGLIGIBLE_P


def _prob_outside_square(n: int, h: int) -> float:
    """P(D_{n,n} >= h/n), Horner form of the alternating binomial sum (scipy `_compute_prob_outside_square`)."""
    p = 0.0
    k = n // h
    while k >= 0:
        p1 = 1.0
        for j in range(h):
            p1 = (n - k * h - j) * p1 / (n + k * h + j + 1)
        p = p1 * (1.0 - p)
        k -= 1
    return 2 * p


def _outer_prob_inside(m: int, n: int, g: int, h: int) -> float:
    """Share of lattice paths leaving |x/m - y/n| < h/lcm, by the inside method computing 1 - p directly
    (Hodges 1958; Viehmann 2021), as scipy's `_compute_outer_prob_inside_method`."""
    if m < n:
        m, n = n, m
    mg, ng = m // g, n // g
    minj, maxj = 0, min(math.ceil(h / mg), n + 1)
    curlen = maxj - minj
    a = np.ones(min(2 * maxj + 2, n + 1))
    a[minj:maxj] = 0.0
    column = a.tolist()  # plain floats: the recursion is sequential, list indexing beats numpy scalars
    for i in range(1, m + 1):
        lastminj, lastlen = minj, curlen
        minj = min(max(math.floor((ng * i - h) / mg) + 1, 0), n)
        maxj = min(math.ceil((ng * i + h) / mg), n + 1)
        if maxj <= minj:
            return 1.0
        val = 0.0 if minj == 0 else 1.0
        shift = minj - lastminj
        for jj in range(maxj - minj):
            j = jj + minj
            val = (column[jj + shift] * i + val * j) / (i + j)
            column[jj] = val
        curlen = maxj - minj
        if lastlen > curlen:
            for k in range(curlen, min(lastlen, len(column))):
                column[k] = 1.0
    return float(column[maxj - minj - 1])


def kolmogorov_sf(x: float) -> float:
    """Survival function of Kolmogorov's limiting distribution (scipy `kstwobign.sf`)."""
    if x <= 0:
        return 1.0
    if x < 1.0:
        # The theta-function form converges fast for small x; the alternating series for large x.
        factor = math.sqrt(2 * math.pi) / x
        w = math.pi**2 / (8 * x * x)
        cdf = factor * sum(math.exp(-((2 * k - 1) ** 2) * w) for k in range(1, 20))
        return 1.0 - cdf
    total = 0.0
    for k in range(1, 101):
        term = math.exp(-2 * k * k * x * x)
        total += term if k % 2 else -term
        if term < 1e-300:
            break
    return 2 * total


def chi2_sf(statistic: float, dof: int) -> float:
    """P(X >= statistic) for X ~ chi-square(dof): the regularized upper incomplete gamma Q(dof/2, x/2)."""
    if dof <= 0:
        return 1.0
    if statistic <= 0:
        return 1.0
    if math.isinf(statistic):
        return 0.0
    return gamma_q(dof / 2, statistic / 2)


def gamma_q(a: float, x: float) -> float:
    """Regularized upper incomplete gamma Q(a, x): a series below a + 1, a continued fraction above."""
    if x < a + 1:
        return 1.0 - _gamma_p_series(a, x)
    return _gamma_q_fraction(a, x)


def _gamma_p_series(a: float, x: float) -> float:
    term = total = 1.0 / a
    ap = a
    for _ in range(_MAX_ITERATIONS):
        ap += 1
        term *= x / ap
        total += term
        if abs(term) < abs(total) * _CF_EPS:
            break
    return total * math.exp(-x + a * math.log(x) - math.lgamma(a))


def _gamma_q_fraction(a: float, x: float) -> float:
    """Modified Lentz evaluation of the continued fraction of Q(a, x)."""
    b = x + 1 - a
    c = 1 / _CF_TINY
    d = 1 / b
    h = d
    for i in range(1, _MAX_ITERATIONS):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = _CF_TINY if abs(d) < _CF_TINY else d
        c = b + an / c
        c = _CF_TINY if abs(c) < _CF_TINY else c
        d = 1 / d
        delta = d * c
        h *= delta
        if abs(delta - 1) < _CF_EPS:
            break
    return math.exp(-x + a * math.log(x) - math.lgamma(a)) * h


def f_sf(statistic: float, dfn: float, dfd: float) -> float:
    """P(X >= statistic) for X ~ F(dfn, dfd), as `scipy.stats.f.sf`: I_{dfd / (dfd + dfn x)}(dfd/2, dfn/2)."""
    if dfn <= 0 or dfd <= 0:
        raise ValueError("the F law needs positive degrees of freedom")
    if statistic <= 0:
        return 1.0
    if math.isinf(statistic):
        return 0.0
    return beta_regularized(dfd / 2, dfn / 2, dfd / (dfd + dfn * statistic))


def t_sf(statistic: float, df: float) -> float:
    """P(T >= statistic) for T ~ Student t(df), as `scipy.stats.t.sf` (one-sided)."""
    if df <= 0:
        raise ValueError("the t law needs positive degrees of freedom")
    if math.isinf(statistic):
        return 0.0 if statistic > 0 else 1.0
    tail = beta_regularized(df / 2, 0.5, df / (df + statistic * statistic)) / 2
    return tail if statistic >= 0 else 1.0 - tail


def beta_regularized(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta I_x(a, b), by its continued fraction on the side where it converges."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    log_front = a * math.log(x) + b * math.log1p(-x) - (math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b))
    if x < (a + 1) / (a + b + 2):
        return math.exp(log_front) * _beta_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_fraction(b, a, 1.0 - x) / b


def _beta_fraction(a: float, b: float, x: float) -> float:
    """Modified Lentz evaluation of the incomplete beta's continued fraction."""
    c = 1.0
    d = 1.0 - (a + b) * x / (a + 1)
    d = 1 / (_CF_TINY if abs(d) < _CF_TINY else d)
    h = d
    for m in range(1, _MAX_ITERATIONS):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1 + numerator * d
            d = 1 / (_CF_TINY if abs(d) < _CF_TINY else d)
            c = 1 + numerator / c
            c = _CF_TINY if abs(c) < _CF_TINY else c
            h *= d * c
        if abs(d * c - 1) < _CF_EPS:
            break
    return h
