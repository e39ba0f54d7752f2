"""Scene sampling for one synthetic nucleus: geometry, foci, neighbours and artefacts.

A scene holds every random choice about one crop; ``render.py`` turns it into pixels. Keeping
the two apart lets tests check the foci statistics of thousands of nuclei without rendering,
through exactly the code that the generator uses. Section numbers refer to
``shared/bps_dataset.md``.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from bps_core.bps import Condition
from bps_core.synthetic.config import ARTIFACT_SHARES, ConditionPrior, SynthConfig

_LET_KEV_PER_UM = 170.0  # 600 MeV/n Fe
_CALIBRATION_NUCLEI = 2000
_CALIBRATION_SEED = 20161009
FE_SHAM_48H_BATCH = 2.5  # the Fe plates' preparation date


def fluence_per_100um2(dose_gy: float, let_kev_um: float = _LET_KEV_PER_UM) -> float:
    """Particles per 100 square micrometres that deliver ``dose_gy`` at the given LET."""
    return dose_gy / (1.602e-9 * let_kev_um) / 1e6


def negative_binomial(rng: np.random.Generator, mean: float, k: float) -> int:
    """One draw from a negative binomial with the given mean and dispersion ``k``."""
    if mean <= 0:
        return 0
    return int(rng.negative_binomial(k, k / (k + mean)))


@dataclass(frozen=True)
class NucleusShape:
    """An ellipse with Fourier-perturbed boundary, centred at (cy, cx) in crop pixels."""

    cy: float
    cx: float
    a: float
    b: float
    theta: float
    harm_k: tuple[int, ...]
    harm_amp: tuple[float, ...]
    harm_phase: tuple[float, ...]

    @property
    def r_eff(self) -> float:
        """The effective radius sqrt(a * b): a circle of the same area as the plain ellipse."""
        return math.sqrt(self.a * self.b)

    def moved(self, cy: float, cx: float) -> NucleusShape:
        """The same shape centred at (cy, cx)."""
        return NucleusShape(
            cy, cx, self.a, self.b, self.theta, self.harm_k, self.harm_amp, self.harm_phase
        )

    def boundary(self, phi: NDArray[np.float64]) -> NDArray[np.float64]:
        """The boundary radius at angles ``phi``, relative to the plain ellipse (1 = on it).

        It is 1 + sum_k amp_k cos(k phi + phase_k) over the shape's harmonics.
        """
        return self._boundary_from_unit(np.exp(1j * phi))

    def _boundary_from_unit(self, z: NDArray[np.complex128]) -> NDArray[np.float64]:
        """1 + sum_k amp_k cos(k phi + phase_k), with z = exp(i phi); powers beat cosines."""
        out = np.ones(z.shape, dtype=z.real.dtype)
        zk = z
        for k in range(1, max(self.harm_k) + 1):
            if k > 1:
                zk = zk * z
            if k in self.harm_k:
                i = self.harm_k.index(k)
                out += self.harm_amp[i] * (zk * np.exp(1j * self.harm_phase[i])).real
        return out

    def polar(
        self, y: NDArray[np.float64], x: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Normalised radius and boundary radius at points (y, x); inside where rho <= boundary."""
        dy, dx = y - self.cy, x - self.cx
        c, s = math.cos(self.theta), math.sin(self.theta)
        u = (dx * c + dy * s) / self.a
        v = (-dx * s + dy * c) / self.b
        rho = np.hypot(u, v)
        # complex64 for float32 grids (rendering), complex128 otherwise.
        z = np.asarray(u + 1j * v, dtype=np.result_type(u.dtype, np.complex64))
        z /= np.where(rho > 0, rho, 1.0)
        return rho, self._boundary_from_unit(z)

    def contains(
        self, y: NDArray[np.float64], x: NDArray[np.float64], margin_px: float = 0.0
    ) -> NDArray[np.bool_]:
        """Whether each point (y, x) lies inside the boundary, about ``margin_px`` in from it.

        The margin is converted to normalised units with ``r_eff``, so it is approximate on
        an elongated shape.
        """
        rho, bnd = self.polar(y, x)
        return rho <= bnd - margin_px / self.r_eff

    def extents(self) -> tuple[float, float, float, float]:
        """(ymin, ymax, xmin, xmax) of the boundary relative to the centre."""
        phi = np.linspace(0.0, 2 * math.pi, 256, endpoint=False)
        bnd = self.boundary(phi)
        u, v = self.a * bnd * np.cos(phi), self.b * bnd * np.sin(phi)
        c, s = math.cos(self.theta), math.sin(self.theta)
        dx, dy = u * c - v * s, u * s + v * c
        return float(dy.min()), float(dy.max()), float(dx.min()), float(dx.max())

    def sample_points(
        self, rng: np.random.Generator, n: int, margin_px: float = 3.0, min_dist: float = 0.0
    ) -> NDArray[np.float64]:
        """Up to ``n`` uniform random points (y, x) inside, ``margin_px`` from the edge.

        With ``min_dist`` > 0 the points are also at least ``min_dist`` apart (hard-core
        exclusion), so fewer than ``n`` may come back when they do not fit.
        """
        if n <= 0:
            return np.zeros((0, 2))
        r = max(self.a, self.b) * 1.15
        accepted: list[tuple[float, float]] = []
        for _ in range(20):
            m = max(4 * n, 16)
            ys = self.cy + rng.uniform(-r, r, m)
            xs = self.cx + rng.uniform(-r, r, m)
            ok = self.contains(ys, xs, margin_px)
            for y, x in zip(ys[ok], xs[ok], strict=True):
                if min_dist > 0 and any(
                    (y - py) ** 2 + (x - px) ** 2 < min_dist**2 for py, px in accepted
                ):
                    continue
                accepted.append((float(y), float(x)))
                if len(accepted) == n:
                    return np.asarray(accepted)
        return np.asarray(accepted).reshape(-1, 2)


def sample_nucleus_shape(
    rng: np.random.Generator, area_factor: float = 1.0, size_scale: float = 1.0
) -> NucleusShape:
    """Section 8.3: area ~ LogNormal(4600 px, 0.25) clipped to [2000, 12000], ratio U(0.65, 1)."""
    area = float(np.clip(4600.0 * math.exp(0.25 * rng.standard_normal()), 2000.0, 12000.0))
    area *= area_factor * size_scale**2
    ratio = rng.uniform(0.65, 1.0)
    a = math.sqrt(area / (math.pi * ratio))
    ks = (2, 3, 4, 5)
    return NucleusShape(
        cy=0.0,
        cx=0.0,
        a=a,
        b=a * ratio,
        theta=float(rng.uniform(0, math.pi)),
        harm_k=ks,
        # Each harmonic 1-3% so that together they perturb the radius by about 2-6%.
        harm_amp=tuple(float(x) for x in rng.uniform(0.01, 0.03, len(ks))),
        harm_phase=tuple(float(x) for x in rng.uniform(0, 2 * math.pi, len(ks))),
    )


@dataclass(frozen=True)
class Focus:
    """One diffraction-limited spot: position in crop pixels, width, peak amplitude (ADU)."""

    y: float
    x: float
    sigma: float
    amplitude: float
    kind: str
    cluster_id: int = -1


def count_resolvable(foci: list[Focus]) -> int:
    """Resolvable objects: foci closer than the sum of their sigmas (2 sigma) merge into one."""
    n = len(foci)
    if n <= 1:
        return n
    pos = np.array([(f.y, f.x) for f in foci])
    sig = np.array([f.sigma for f in foci])
    d2 = ((pos[:, None, :] - pos[None, :, :]) ** 2).sum(-1)
    adj = d2 < (sig[:, None] + sig[None, :]) ** 2
    seen = np.zeros(n, dtype=bool)
    components = 0
    for start in range(n):
        if seen[start]:
            continue
        components += 1
        stack = [start]
        seen[start] = True
        while stack:
            i = stack.pop()
            nxt = np.flatnonzero(adj[i] & ~seen)
            seen[nxt] = True
            stack.extend(nxt.tolist())
    return components


def sample_background_foci(
    rng: np.random.Generator, shape: NucleusShape, mean: float, amp_factor: float = 1.0
) -> list[Focus]:
    """Spontaneous foci present in every nucleus: NegBin(mean, k=0.2), small and dim."""
    n = negative_binomial(rng, mean, 0.2)
    pts = shape.sample_points(rng, n, margin_px=3.0)
    return [
        Focus(
            y,
            x,
            float(rng.uniform(1.0, 1.8)),
            450.0 * math.exp(0.4 * rng.standard_normal()) * amp_factor,
            "bg",
        )
        for y, x in pts
    ]


def _xray_k(cond: Condition) -> float:
    if cond.hr_post_exposure > 4:
        return 0.6
    return 9.0 if cond.dose_Gy >= 1.0 else 3.0


def sample_xray_foci(
    rng: np.random.Generator,
    shape: NucleusShape,
    cond: Condition,
    excess: float,
    amp_factor: float = 1.0,
) -> list[Focus]:
    """Low-LET foci: NegBin(excess, k_X), dispersed with 4 px hard-core exclusion."""
    n = negative_binomial(rng, excess, _xray_k(cond))
    late = cond.hr_post_exposure > 4
    pts = shape.sample_points(rng, n, margin_px=3.0, min_dist=4.0)
    out = []
    for y, x in pts:
        sigma = rng.uniform(1.1, 1.9) * (1.1 if late else 1.0)
        amp = float(np.clip(650.0 * math.exp(0.45 * rng.standard_normal()), 200, 2500))
        out.append(Focus(y, x, float(sigma), amp * (0.9 if late else 1.0) * amp_factor, "xray"))
    return out


@dataclass(frozen=True)
class Track:
    """One Fe traversal: visible when ``u_visible < p_vis``; its sub-foci and delta-ray foci."""

    u_visible: float
    is_streak: bool
    subfoci: tuple[Focus, ...]
    deltas: tuple[Focus, ...]


def sample_fe_tracks(
    rng: np.random.Generator,
    shape: NucleusShape,
    cond: Condition,
    pixel_size_um: float,
    beam_angle: float,
    amp_factor: float = 1.0,
) -> list[Track]:
    """High-LET traversals: Poisson(fluence x area), each a compact cluster or a streak."""
    area_um2 = math.pi * shape.a * shape.b * pixel_size_um**2
    n_trav = int(rng.poisson(fluence_per_100um2(cond.dose_Gy) * area_um2 / 100.0))
    early = cond.hr_post_exposure <= 4
    p_streak = 0.2 if early else 0.1
    tracks = []
    centres = shape.sample_points(rng, n_trav, margin_px=3.0)
    for cid, (cy, cx) in enumerate(centres):
        u_vis = float(rng.random())
        streak = bool(rng.random() < p_streak)
        length = rng.uniform(10, 35) if streak else rng.uniform(0, 6)
        if early:
            n_sub = 2 + rng.poisson(0.15 * length) if streak else 1 + rng.poisson(0.4)
        else:  # persistent foci: mostly one large focus per cluster
            n_sub = 1 + rng.poisson(0.05 * length) if streak else 1 + rng.poisson(0.1)
        angle = beam_angle + math.radians(8.0) * rng.standard_normal()
        span = max(length, 3.0 * (n_sub - 1))
        offsets = np.sort(rng.uniform(0, span - 3.0 * (n_sub - 1), n_sub)) + 3.0 * np.arange(n_sub)
        offsets -= span / 2
        lateral = rng.normal(0.0, 1.0, n_sub)
        ys = cy + offsets * math.sin(angle) + lateral * math.cos(angle)
        xs = cx + offsets * math.cos(angle) - lateral * math.sin(angle)
        inside = shape.contains(ys, xs, margin_px=1.0)
        kind = "fe_streak" if streak else "fe_cluster"
        sub = []
        for y, x, ok in zip(ys, xs, inside, strict=True):
            sigma = rng.uniform(1.6, 3.0) * (1.0 if early else 1.15)
            amp = float(np.clip(1000.0 * math.exp(0.45 * rng.standard_normal()), 300, 3500))
            if ok:
                sub.append(Focus(float(y), float(x), float(sigma), amp * amp_factor, kind, cid))
        deltas = []
        if early:  # delta-electron foci are repaired within hours (S18)
            for _ in range(int(rng.poisson(0.5))):
                r, t = rng.uniform(3.0, 10.0), rng.uniform(0, 2 * math.pi)
                y, x = cy + r * math.sin(t), cx + r * math.cos(t)
                sigma = float(rng.uniform(1.0, 1.5))
                amp = 350.0 * math.exp(0.3 * rng.standard_normal()) * amp_factor
                if shape.contains(np.array([y]), np.array([x]), 1.0)[0]:
                    deltas.append(Focus(float(y), float(x), sigma, amp, "delta", cid))
        tracks.append(Track(u_vis, streak, tuple(sub), tuple(deltas)))
    return tracks


@dataclass(frozen=True)
class FeCalibration:
    """Visibility of a traversal at the time point, and the mean count it reproduces."""

    p_visible: float
    achieved_mean: float
    target_mean: float


@functools.cache
def calibrate_fe(
    cond: Condition, target_mean: float, sham_mean: float, pixel_size_um: float
) -> FeCalibration:
    """Finds p_vis so that the mean resolvable count of normal nuclei equals ``target_mean``.

    A Monte-Carlo over 2,000 nuclei with common random numbers: each traversal carries a
    uniform draw and is visible below p_vis, so the mean count is an exact step function of p_vis,
    evaluated by bisection without resampling (section 8.5, step 1).
    """
    seed = [_CALIBRATION_SEED, int(round(cond.dose_Gy * 100)), cond.hr_post_exposure]
    rng = np.random.default_rng(seed)
    thresholds: list[NDArray[np.float64]] = []
    counts: list[NDArray[np.int64]] = []
    for _ in range(_CALIBRATION_NUCLEI):
        shape = sample_nucleus_shape(rng)
        bg = sample_background_foci(rng, shape, sham_mean)
        tracks = sorted(
            sample_fe_tracks(rng, shape, cond, pixel_size_um, float(rng.uniform(0, math.pi))),
            key=lambda t: t.u_visible,
        )
        pts = list(bg)
        c = [count_resolvable(pts)]
        for t in tracks:
            pts.extend(t.subfoci + t.deltas)
            c.append(count_resolvable(pts))
        thresholds.append(np.array([t.u_visible for t in tracks]))
        counts.append(np.array(c))

    def mean_count(p: float) -> float:
        per_nucleus = [c[np.searchsorted(u, p)] for u, c in zip(thresholds, counts, strict=True)]
        return float(np.mean(per_nucleus))

    lo, hi = 0.0, 1.0
    if mean_count(hi) <= target_mean:
        return FeCalibration(1.0, mean_count(hi), target_mean)
    for _ in range(30):
        mid = (lo + hi) / 2
        if mean_count(mid) < target_mean:
            lo = mid
        else:
            hi = mid
    p = (lo + hi) / 2
    return FeCalibration(p, mean_count(p), target_mean)


@dataclass(frozen=True)
class Neighbour:
    """A neighbouring nucleus that reaches into the crop, with its own mask label and foci."""

    shape: NucleusShape
    label: int
    intensity_factor: float
    foci: tuple[Focus, ...]


@dataclass(frozen=True)
class Nucleolus:
    """A nucleolus: an axis-aligned ellipse centred at (cy, cx) with radii (ry, rx) in pixels.

    Rendering dims the nucleus's FITC and DAPI signal inside it.
    """

    cy: float
    cx: float
    ry: float
    rx: float


@dataclass
class Scene:
    """Everything random about one crop; rendering adds only pixel noise."""

    height: int
    width: int
    nucleus: NucleusShape
    object_label: int
    condition: Condition
    foci: list[Focus]
    neighbours: list[Neighbour]
    nucleoli: list[Nucleolus]
    # FITC intensity model (section 8.4)
    b0: float
    gradient_amp: float
    gradient_angle: float
    cyto_level: float
    cyto_dilation_px: float
    nuc_level: float
    texture_sigma: float
    gain: float
    read_noise: float
    # DAPI (section 8.6)
    dapi_b0: float
    dapi_level: float
    dapi_texture_sigma: float
    # Ground truth
    is_outlier: bool = False
    pan_nuclear: bool = False
    artifact: str = ""
    debris: tuple[float, float, float, float] | None = None  # cy, cx, radius, ring period
    n_traversals: int = 0
    n_clusters: int = 0
    n_streaks: int = 0
    has_track: bool = False
    n_foci: int = 0


def _pick_artifact(rng: np.random.Generator, rate: float) -> str:
    u = rng.random()
    acc = 0.0
    for kind, share in ARTIFACT_SHARES.items():
        acc += share * rate
        if u < acc:
            return kind
    return ""


def _crop_geometry(rng: np.random.Generator, shape: NucleusShape) -> tuple[int, int, NucleusShape]:
    """Section 8.3: bbox plus U(6, 30) px margins, centroid within 8 px of the crop centre."""
    ymin, ymax, xmin, xmax = shape.extents()
    margins = []
    for _ in range(2):  # (top, bottom) then (left, right)
        first = rng.uniform(6, 30)
        second = rng.uniform(max(6.0, first - 16.0), min(30.0, first + 16.0))
        margins.append((first, second))
    (mt, mb), (ml, mr) = margins
    h = int(np.clip(math.ceil(ymax - ymin + mt + mb), 48, 300))
    w = int(np.clip(math.ceil(xmax - xmin + ml + mr), 48, 300))
    cy = min(max(mt - ymin, -ymin + 2), h - ymax - 2)
    cx = min(max(ml - xmin, -xmin + 2), w - xmax - 2)
    # Keep the centroid within +-8 px of the crop centre even after clipping.
    cy = float(np.clip(cy, h / 2 - 8, h / 2 + 8))
    cx = float(np.clip(cx, w / 2 - 8, w / 2 + 8))
    return h, w, shape.moved(cy, cx)


def _sample_neighbours(
    rng: np.random.Generator,
    target: NucleusShape,
    h: int,
    w: int,
    object_label: int,
    bright: float | None,
    rate: float,
) -> list[tuple[NucleusShape, int, float]]:
    n = 0
    if bright is not None:
        n = 1
    if rng.random() < rate:
        n = max(n, int(rng.integers(1, 3)))
    out: list[tuple[NucleusShape, int, float]] = []
    labels = [x for x in range(1, 121) if x != object_label]
    used: set[int] = set()
    r_target = max(target.a, target.b) * 1.1
    for i in range(n):
        for _ in range(10):
            shape = sample_nucleus_shape(rng)
            r_nb = max(shape.a, shape.b) * 1.1
            angle = rng.uniform(0, 2 * math.pi)
            dist = r_target + r_nb + rng.uniform(2.0, 8.0)
            cy = target.cy + dist * math.sin(angle)
            cx = target.cx + dist * math.cos(angle)
            nb = shape.moved(cy, cx)
            yy, xx = np.mgrid[0:h:3, 0:w:3].astype(np.float64)
            if nb.contains(yy, xx).any():
                label = int(rng.choice([x for x in labels if x not in used]))
                used.add(label)
                factor = bright if (bright is not None and i == 0) else 1.0
                out.append((nb, label, float(factor)))
                break
    return out


def sample_scene(
    rng: np.random.Generator,
    cond: Condition,
    priors: dict[Condition, ConditionPrior],
    fe_calibration: FeCalibration | None,
    mouse_factor: float,
    plate_factor: float,
    object_label: int,
    cfg: SynthConfig,
) -> Scene:
    """Draws one nucleus scene for condition ``cond`` (sections 8.3 to 8.7)."""
    prior = priors[cond]
    sham = priors[Condition(cond.particle_type, 0.0, cond.hr_post_exposure)]
    is_outlier = bool(rng.random() < cfg.outlier_rate)
    # 1% of all nuclei are pan-nuclear; they are drawn from the outliers.
    pan = is_outlier and bool(rng.random() < 0.01 / max(cfg.outlier_rate, 1e-9))
    area_factor = float(rng.uniform(1.3, 1.8)) if is_outlier else 1.0
    shape0 = sample_nucleus_shape(rng, area_factor=area_factor)
    h, w, shape = _crop_geometry(rng, shape0)

    artifact = _pick_artifact(rng, cfg.artifact_rate)
    bright = None
    if artifact == "bright_neighbour":
        bright = 3.0
    elif rng.random() < 0.05 * cfg.neighbour_rate / 0.35:
        bright = float(rng.uniform(2.0, 4.0))
    raw_neighbours = _sample_neighbours(rng, shape, h, w, object_label, bright, cfg.neighbour_rate)
    amp_factor = 0.4 if artifact == "dim_nucleus" else 1.0

    # Diffuse nuclear 53BP1 level above local background.
    batch = 1.0
    if cfg.batch_effects:
        median = 250.0 if cond.particle_type == "Fe" else 140.0
        if cond.particle_type == "Fe" and cond.is_sham and cond.hr_post_exposure == 48:
            # The bright Fe sham 48 h batch: the priors show its local background raised as
            # well (588 vs 366 ADU), so the factor scales the out-of-nucleus signal too.
            batch = FE_SHAM_48H_BATCH
    else:
        median = 180.0
    nuc_level = median * batch * math.exp(0.25 * rng.standard_normal())
    nuc_level *= mouse_factor * plate_factor
    if is_outlier:
        nuc_level *= 1.2
    if artifact == "dim_nucleus":
        nuc_level *= 0.3
    if pan:
        nuc_level *= 4.0

    beam_angle = float(rng.uniform(0, math.pi))
    foci: list[Focus] = []
    n_trav = n_clusters = n_streaks = 0
    has_track = False
    if pan:
        pass  # pan-nuclear staining replaces discrete foci
    elif is_outlier:
        n = negative_binomial(rng, 1.5 * prior.mean_foci + 1.0, 0.3)
        kind = "bg" if cond.is_sham else ("fe_cluster" if cond.particle_type == "Fe" else "xray")
        for y, x in shape.sample_points(rng, n, margin_px=3.0, min_dist=4.0):
            sigma = float(rng.uniform(1.2, 2.4))
            amp = 700.0 * math.exp(0.45 * rng.standard_normal()) * amp_factor
            foci.append(Focus(y, x, sigma, amp, kind))
    else:
        foci.extend(sample_background_foci(rng, shape, sham.mean_foci, amp_factor))
        excess = max(prior.mean_foci - sham.mean_foci, 0.0)
        if not cond.is_sham and cond.particle_type == "X-ray":
            foci.extend(sample_xray_foci(rng, shape, cond, excess, amp_factor))
        elif not cond.is_sham:
            assert fe_calibration is not None
            tracks = sample_fe_tracks(rng, shape, cond, cfg.pixel_size_um, beam_angle, amp_factor)
            n_trav = len(tracks)
            for t in tracks:
                if t.u_visible >= fe_calibration.p_visible:
                    continue
                n_clusters += 1
                n_streaks += int(t.is_streak)
                has_track |= t.is_streak and len(t.subfoci) >= 3
                foci.extend(t.subfoci + t.deltas)

    neighbours = []
    for nb_shape, label, factor in raw_neighbours:
        nb_foci = sample_background_foci(rng, nb_shape, max(prior.mean_foci, 0.1), amp_factor)
        neighbours.append(Neighbour(nb_shape, label, factor, tuple(nb_foci)))

    nucleoli = []
    for _ in range(int(rng.integers(1, 5))):
        pts = shape.sample_points(rng, 1, margin_px=8.0)
        y, x = (float(pts[0, 0]), float(pts[0, 1])) if len(pts) else (shape.cy, shape.cx)
        nucleoli.append(Nucleolus(y, x, float(rng.uniform(3, 7)), float(rng.uniform(3, 7))))

    b0 = float(rng.uniform(140, 220))
    debris = None
    if artifact == "debris_blob":
        debris = (
            float(rng.uniform(0, h)),
            float(rng.uniform(0, w)),
            float(rng.uniform(4, 12)),
            float(rng.uniform(6, 10)),
        )
    dapi_level = 2200.0 * math.exp(0.3 * rng.standard_normal())
    if is_outlier:
        dapi_level *= float(rng.uniform(1.6, 2.0))
    return Scene(
        height=h,
        width=w,
        nucleus=shape,
        object_label=object_label,
        condition=cond,
        foci=foci,
        neighbours=neighbours,
        nucleoli=nucleoli,
        b0=b0,
        gradient_amp=(0.5 if artifact == "strong_gradient" else float(rng.uniform(0, 0.15))) * b0,
        gradient_angle=float(rng.uniform(0, 2 * math.pi)),
        cyto_level=float(rng.uniform(30, 120)) * batch,
        cyto_dilation_px=float(rng.uniform(5, 15)),
        nuc_level=float(nuc_level),
        texture_sigma=float(rng.uniform(3, 6)),
        gain=float(rng.uniform(1.5, 3.0)),
        read_noise=float(rng.uniform(4, 8)),
        dapi_b0=float(rng.uniform(150, 250)),
        dapi_level=float(dapi_level),
        dapi_texture_sigma=float(rng.uniform(2, 4)),
        is_outlier=is_outlier,
        pan_nuclear=pan,
        artifact=artifact,
        debris=debris,
        n_traversals=n_trav,
        n_clusters=n_clusters,
        n_streaks=n_streaks,
        has_track=has_track,
        n_foci=count_resolvable(foci),
    )
