"""GLM families and links, with the definitions of R's ``family`` objects.

A family gives the variance function V(μ), the deviance residuals d_i (with
Σ d_i the deviance) and ``aic``, minus twice the conditional log-likelihood
(plus 2 for an estimated dispersion), as R's ``binomial()$aic`` etc.; a link
gives η = g(μ), μ = g⁻¹(η) and dμ/dη.  PIRLS weights observation i by
wt_i (dμ/dη)² / V(μ_i) (Fisher scoring; McCullagh & Nelder 1989, §2.5), which
for a canonical link is Newton's method.

The inverse links and dμ/dη are clamped away from 0 and 1 as R clamps them
(by the machine epsilon), so a fit that drives η far out does not produce
μ = 0 or 1 and an infinite deviance.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np
from scipy import special

EPS = np.finfo(float).eps
_LOGIT_BOUND = 30.0   # beyond it R's logistic is clamped to ε and 1 − ε


@dataclass(frozen=True)
class Link:
    """A link function g (``name`` as R: ``"logit"``, ``"log"``, ...).

    Examples
    --------
    >>> link = LINKS["logit"]
    >>> float(link.linkinv(np.array([0.0]))[0]), float(link.mu_eta(np.array([0.0]))[0])
    (0.5, 0.25)
    """

    name: str

    def linkfun(self, mu: np.ndarray) -> np.ndarray:
        return _LINKFUN[self.name](np.asarray(mu, dtype=float))

    def linkinv(self, eta: np.ndarray) -> np.ndarray:
        return _LINKINV[self.name](np.asarray(eta, dtype=float))

    def mu_eta(self, eta: np.ndarray) -> np.ndarray:
        """dμ/dη at η."""
        return _MU_ETA[self.name](np.asarray(eta, dtype=float))

    def mu_eta2(self, eta: np.ndarray) -> np.ndarray:
        """d²μ/dη² at η (for the analytic gradient of the Laplace criterion)."""
        return _MU_ETA2[self.name](np.asarray(eta, dtype=float))


def _logit_inverse(eta):
    return np.where(eta < -_LOGIT_BOUND, EPS,
                    np.where(eta > _LOGIT_BOUND, 1 - EPS, special.expit(eta)))


def _logit_mu_eta(eta):
    e = np.exp(-np.abs(eta))
    return np.where(np.abs(eta) > _LOGIT_BOUND, EPS, e / (1 + e) ** 2)


_PROBIT_BOUND = -special.ndtri(EPS)
_CAUCHIT_BOUND = -math.tan(math.pi * (EPS - 0.5))


def _clip(eta, bound):
    return np.clip(eta, -bound, bound)


_LINKFUN = {
    "logit": special.logit,
    "probit": special.ndtri,
    "cloglog": lambda mu: np.log(-np.log1p(-mu)),
    "cauchit": lambda mu: np.tan(np.pi * (mu - 0.5)),
    "log": np.log,
    "identity": lambda mu: mu,
    "sqrt": np.sqrt,
    "inverse": lambda mu: 1 / mu,
    "1/mu^2": lambda mu: 1 / mu**2,
}
_LINKINV = {
    "logit": _logit_inverse,
    "probit": lambda eta: special.ndtr(_clip(eta, _PROBIT_BOUND)),
    "cloglog": lambda eta: np.clip(-np.expm1(-np.exp(eta)), EPS, 1 - EPS),
    "cauchit": lambda eta: 0.5 + np.arctan(_clip(eta, _CAUCHIT_BOUND)) / np.pi,
    "log": lambda eta: np.maximum(np.exp(eta), EPS),
    "identity": lambda eta: eta,
    "sqrt": lambda eta: eta**2,
    "inverse": lambda eta: 1 / eta,
    "1/mu^2": lambda eta: 1 / np.sqrt(eta),
}
_MU_ETA = {
    "logit": _logit_mu_eta,
    "probit": lambda eta: np.maximum(np.exp(-0.5 * eta**2) / math.sqrt(2 * math.pi), EPS),
    "cloglog": lambda eta: np.maximum(np.exp(np.minimum(eta, 700) - np.exp(np.minimum(eta, 700))),
                                      EPS),
    "cauchit": lambda eta: np.maximum(1 / (np.pi * (1 + eta**2)), EPS),
    "log": lambda eta: np.maximum(np.exp(eta), EPS),
    "identity": lambda eta: np.ones_like(eta),
    "sqrt": lambda eta: 2 * eta,
    "inverse": lambda eta: -1 / eta**2,
    "1/mu^2": lambda eta: -1 / (2 * eta**1.5),
}
_MU_ETA2 = {
    "logit": lambda eta: np.where(np.abs(eta) > _LOGIT_BOUND, 0.0,
                                  _logit_mu_eta(eta) * (1 - 2 * _logit_inverse(eta))),
    "probit": lambda eta: -eta * np.exp(-0.5 * eta**2) / math.sqrt(2 * math.pi),
    "cloglog": lambda eta: (np.exp(np.minimum(eta, 700) - np.exp(np.minimum(eta, 700)))
                            * (1 - np.exp(np.minimum(eta, 700)))),
    "cauchit": lambda eta: -2 * eta / (np.pi * (1 + eta**2) ** 2),
    "log": lambda eta: np.maximum(np.exp(eta), EPS),
    "identity": lambda eta: np.zeros_like(eta),
    "sqrt": lambda eta: np.full_like(eta, 2.0),
    "inverse": lambda eta: 2 / eta**3,
    "1/mu^2": lambda eta: 0.75 / eta**2.5,
}
LINKS = {name: Link(name) for name in _LINKFUN}


class Family(ABC):
    """A GLM family: variance, deviance residuals, ``aic`` and the valid links.

    Subclasses set ``name``, ``links`` (the first is the default, R's) and
    ``has_dispersion`` (an estimated scale: Gamma, inverse Gaussian).
    """

    name: str = ""
    links: tuple[str, ...] = ()
    has_dispersion: bool = False

    def __init__(self, link: str | None = None):
        link = self.links[0] if link is None else link
        if not isinstance(link, str) or link not in self.links:
            raise ValueError(f"link {link!r} is not available for the {self.name} family; "
                             f"use one of {', '.join(map(repr, self.links))}")
        self.link = LINKS[link]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(link={self.link.name!r})"

    def __eq__(self, other) -> bool:
        return type(self) is type(other) and self.link == other.link

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.link.name))

    def linkfun(self, mu: np.ndarray) -> np.ndarray:
        return self.link.linkfun(mu)

    def linkinv(self, eta: np.ndarray) -> np.ndarray:
        return self.link.linkinv(eta)

    def mu_eta(self, eta: np.ndarray) -> np.ndarray:
        return self.link.mu_eta(eta)

    @abstractmethod
    def variance(self, mu: np.ndarray) -> np.ndarray:
        """V(μ)."""

    @abstractmethod
    def variance_derivative(self, mu: np.ndarray) -> np.ndarray:
        """dV/dμ."""

    def aic_derivative(self, y, trials, mu, weights) -> np.ndarray:
        """∂ aic / ∂μ_i: the deviance's −2 wt (y − μ)/V(μ), for families whose ``aic`` is
        the deviance plus a constant (the others override it)."""
        return -2 * weights * (y - mu) / self.variance(mu)

    @abstractmethod
    def deviance_residuals(self, y, mu, weights) -> np.ndarray:
        """The unit deviances d_i (R's ``dev.resids``): the deviance is their sum."""

    @abstractmethod
    def aic(self, y, trials, mu, weights, deviance: float) -> float:
        """Minus twice the log-likelihood (+2 for an estimated dispersion), as R's ``aic``."""


class Binomial(Family):
    """Binomial: y a proportion of ``trials`` (prior weights = trials × case weights).

    Examples
    --------
    >>> family = Binomial("probit")
    >>> float(family.variance(np.array([0.5]))[0])
    0.25
    """

    name = "binomial"
    links = ("logit", "probit", "cloglog", "cauchit", "log")

    def variance(self, mu):
        return mu * (1 - mu)

    def variance_derivative(self, mu):
        return 1 - 2 * mu

    @staticmethod
    def counts(y, trials, weights) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """R's counts of ``aic``: m = trials when any exceeds 1, else the prior weights; each
        row's scale wt/m, round(m) trials, round(m y) successes and log C(trials, successes)."""
        m = trials if np.any(trials > 1) else weights
        scale = np.divide(weights, m, out=np.zeros_like(weights), where=m > 0)
        size, successes = np.round(m), np.round(m * y)
        log_choose = (special.gammaln(size + 1) - special.gammaln(successes + 1)
                      - special.gammaln(size - successes + 1))
        return scale, size, successes, log_choose

    def aic_derivative(self, y, trials, mu, weights, counts=None):
        scale, size, successes, _ = self.counts(y, trials, weights) if counts is None else counts
        return -2 * scale * (successes / mu - (size - successes) / (1 - mu))

    def deviance_residuals(self, y, mu, weights):
        return 2 * weights * (special.xlogy(y, y / mu) + special.xlogy(1 - y, (1 - y) / (1 - mu)))

    def aic(self, y, trials, mu, weights, deviance, counts=None):
        # each row's binomial log-probability of round(m y) successes in round(m) trials
        scale, size, successes, log_choose = (self.counts(y, trials, weights) if counts is None
                                              else counts)
        log_p = log_choose + special.xlogy(successes, mu) + special.xlog1py(size - successes, -mu)
        return float(-2 * np.sum(scale * log_p))


class Poisson(Family):
    """Poisson counts.

    Examples
    --------
    >>> Poisson().link.name
    'log'
    """

    name = "poisson"
    links = ("log", "identity", "sqrt")

    def variance(self, mu):
        return mu

    def variance_derivative(self, mu):
        return np.ones_like(mu)

    def deviance_residuals(self, y, mu, weights):
        return 2 * weights * (special.xlogy(y, y / mu) - (y - mu))

    def aic(self, y, trials, mu, weights, deviance):
        log_p = special.xlogy(y, mu) - mu - special.gammaln(y + 1)
        return float(-2 * np.sum(weights * log_p))


class Gamma(Family):
    """Gamma, with the dispersion estimated as deviance / Σ weights in ``aic`` (R's).

    Examples
    --------
    >>> Gamma("log").link.name
    'log'
    """

    name = "Gamma"
    links = ("inverse", "log", "identity")
    has_dispersion = True

    def variance(self, mu):
        return mu**2

    def variance_derivative(self, mu):
        return 2 * mu

    def aic_derivative(self, y, trials, mu, weights):
        # aic = −2 Σ w ℓ(y; shape 1/φ, scale μφ) + 2 with φ = deviance / Σ w
        dispersion = np.sum(self.deviance_residuals(y, mu, weights)) / np.sum(weights)
        at_fixed = (y - mu) / (dispersion * mu**2)
        by_dispersion = (-np.log(y) + y / mu + np.log(mu * dispersion) - 1
                         + special.digamma(1 / dispersion)) / dispersion**2
        deviance_mu = -2 * weights * (y - mu) / mu**2
        return -2 * (weights * at_fixed
                     + np.sum(weights * by_dispersion) * deviance_mu / np.sum(weights))

    def deviance_residuals(self, y, mu, weights):
        ratio = np.where(y == 0, 1.0, y / mu)
        return -2 * weights * (np.log(ratio) - (y - mu) / mu)

    def aic(self, y, trials, mu, weights, deviance):
        dispersion = deviance / np.sum(weights)
        shape = 1 / dispersion
        scale = mu * dispersion
        log_density = (special.xlogy(shape - 1, y) - y / scale - shape * np.log(scale)
                       - special.gammaln(shape))
        return float(-2 * np.sum(weights * log_density) + 2)


class InverseGaussian(Family):
    """Inverse Gaussian, dispersion deviance / Σ weights in ``aic`` (R's ``inverse.gaussian``).

    Examples
    --------
    >>> InverseGaussian().link.name
    '1/mu^2'
    """

    name = "inverse.gaussian"
    links = ("1/mu^2", "inverse", "identity", "log")
    has_dispersion = True

    def variance(self, mu):
        return mu**3

    def variance_derivative(self, mu):
        return 3 * mu**2

    def aic_derivative(self, y, trials, mu, weights):
        deviance = np.sum(self.deviance_residuals(y, mu, weights))
        return np.sum(weights) / deviance * (-2 * weights * (y - mu) / mu**3)

    def deviance_residuals(self, y, mu, weights):
        return weights * (y - mu) ** 2 / (y * mu**2)

    def aic(self, y, trials, mu, weights, deviance):
        total = np.sum(weights)
        return float(total * (math.log(deviance / total * 2 * math.pi) + 1)
                     + 3 * np.sum(np.log(y) * weights) + 2)


class NegativeBinomial(Family):
    """Negative binomial counts with shape ``theta``: V(μ) = μ + μ²/θ (MASS's
    ``negative.binomial(theta)``; θ → ∞ is the Poisson).  :func:`lmmpy.glmer_nb`
    estimates θ; ``glmer`` with this family holds it fixed.

    Examples
    --------
    >>> family = NegativeBinomial(2.0)
    >>> family.name, float(family.variance(np.array([4.0]))[0])
    ('Negative Binomial(2)', 12.0)
    """

    links = ("log", "sqrt", "identity")

    def __init__(self, theta: float, link: str | None = None):
        if isinstance(theta, bool) or not isinstance(theta, int | float | np.number):
            raise TypeError(f"theta must be a positive number, not {type(theta).__name__}")
        if not (np.isfinite(theta) and theta > 0):
            raise ValueError(f"theta must be a positive number, not {theta!r}")
        if link is not None and (not isinstance(link, str) or link not in self.links):
            raise ValueError(f"link {link!r} is not available for the negative binomial "
                             f"family; use one of {', '.join(map(repr, self.links))}")
        self.theta = float(theta)
        super().__init__(link)

    @property
    def name(self) -> str:
        """R's family name, ``Negative Binomial(θ rounded to 4 decimals)``."""
        return f"Negative Binomial({round(self.theta, 4):.7g})"

    def __repr__(self) -> str:
        return f"NegativeBinomial(theta={self.theta!r}, link={self.link.name!r})"

    def __eq__(self, other) -> bool:
        return super().__eq__(other) and self.theta == other.theta

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.link.name, self.theta))

    def variance(self, mu):
        return mu + mu**2 / self.theta

    def variance_derivative(self, mu):
        return 1 + 2 * mu / self.theta

    def deviance_residuals(self, y, mu, weights):
        theta = self.theta
        return 2 * weights * (special.xlogy(y, np.maximum(y, 1) / mu)
                              - (y + theta) * np.log((y + theta) / (mu + theta)))

    def aic(self, y, trials, mu, weights, deviance):
        theta = self.theta
        term = ((y + theta) * np.log(mu + theta) - special.xlogy(y, mu)
                + special.gammaln(y + 1) - theta * math.log(theta) + special.gammaln(theta)
                - special.gammaln(theta + y))
        return float(2 * np.sum(weights * term))

    def shape_derivatives(self, y, mu, weights) -> tuple[np.ndarray, np.ndarray]:
        """Per row, ∂aic/∂θ and ∂V/∂θ at fixed μ: the shape's part of
        :func:`lmmpy.glmer_nb`'s gradient."""
        theta = self.theta
        aic = 2 * weights * (np.log(mu + theta) + (y + theta) / (mu + theta) - math.log(theta)
                             - 1 + special.digamma(theta) - special.digamma(theta + y))
        return aic, -((mu / theta) ** 2)


FAMILIES: dict[str, type[Family]] = {
    "binomial": Binomial,
    "poisson": Poisson,
    "Gamma": Gamma,
    "gamma": Gamma,
    "inverse.gaussian": InverseGaussian,
    "inverse_gaussian": InverseGaussian,
}

_NEGATIVE_BINOMIAL_NAMES = ("negative_binomial", "negative.binomial", "negbinomial", "nbinom")


def make_family(family: str | Family, link: str | None = None) -> Family:
    """The family object for a name (R's spelling, or ``"gamma"``, ``"inverse_gaussian"``)
    or a :class:`Family`, with ``link`` (default: the family's own or R's default).

    Examples
    --------
    >>> make_family("binomial", "cloglog")
    Binomial(link='cloglog')
    """
    if isinstance(family, NegativeBinomial):
        return family if link is None else NegativeBinomial(family.theta, link)
    if isinstance(family, Family):
        return family if link is None else type(family)(link)
    if family is NegativeBinomial:
        raise ValueError("the NegativeBinomial family needs its theta: estimate it with "
                         "lmmpy.glmer_nb, or hold it fixed with lmmpy.NegativeBinomial(theta)")
    if isinstance(family, type) and issubclass(family, Family):
        return family(link)
    if not isinstance(family, str):
        raise TypeError(f"family must be a name or a Family, not {type(family).__name__}")
    if family == "gaussian":
        raise ValueError("family 'gaussian' is a linear mixed model: fit it with lmmpy.lmer")
    if family in _NEGATIVE_BINOMIAL_NAMES:
        raise ValueError(f"family {family!r} needs its theta: estimate it with "
                         "lmmpy.glmer_nb, or hold it fixed with lmmpy.NegativeBinomial(theta)")
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; use one of "
                         f"'binomial', 'poisson', 'Gamma', 'inverse.gaussian' "
                         "(the negative binomial: lmmpy.glmer_nb)")
    return FAMILIES[family](link)
