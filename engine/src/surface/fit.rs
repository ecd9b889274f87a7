//! Fitting one expiry's raw SVI smile to mark IVs: the quasi-explicit method of
//! Zeliade (2009). For fixed (m, σ), with y = (k − m)/σ, the smile is linear in
//! (a, d, c) = (a, ρbσ, bσ): w = a + d·y + c·√(y² + 1), a weighted least-squares problem
//! solved exactly (3×3 normal equations, or on the constraint edges when the free
//! optimum leaves the domain). Nelder-Mead searches the remaining two dimensions. The
//! objective adds a penalty for butterfly and calendar arbitrage on a coarse grid, so
//! the optimum is steered away from it; the accepted fit is then checked on the fine
//! grid. No allocation, fixed iteration budget, no randomness: the same points give the
//! same parameters, bit for bit.

use super::svi::{
    Arbitrage, CHECK_POINTS, CHECK_TOLERANCE, CheckGrid, SviParams, WING_SLOPE_MAX, check_calendar,
};

/// Fewest quoted strikes an expiry needs for a fit (five parameters).
pub const FIT_POINTS_MIN: usize = 5;
/// Most quoted strikes one fit takes (a named bound on the work of a fit).
pub const FIT_POINTS_MAX: usize = 256;
/// Nelder-Mead iterations per start.
const ITERATIONS_MAX: usize = 300;
/// Simplex spread (objective, relative) at which a start has converged.
const CONVERGED: f64 = 1e-12;
/// Simplex size in (m, σ) at which a start has converged (log-moneyness units: far
/// below anything a quote can resolve).
const SIMPLEX_SIZE_MIN: f64 = 1e-6;
/// Weight of the arbitrage penalty (squared negative density, squared calendar gap in
/// total variance × [`CALENDAR_PENALTY_SCALE`]) against the weighted mean squared error
/// in total variance (about 1e-8 for a good fit): any violation dominates.
const PENALTY_WEIGHT: f64 = 100.0;
const CALENDAR_PENALTY_SCALE: f64 = 100.0;
/// The penalty starts below this density (not at 0), so the optimum stays clear of the
/// boundary instead of touching it from outside by round-off.
const DENSITY_MARGIN: f64 = 1e-4;
/// Points of the coarse grid the penalty scans.
const PENALTY_POINTS: usize = 25;
/// Wing-slope bounds (below Lee's 2) tried in turn when a fit keeps a negative density.
/// One: each is a penalized search on every refit of such a smile; three (1, 0.5, 0.25)
/// rescued one more of the 74 real expiries and cost the demo mix 5 % per event.
const WING_SLOPE_FALLBACKS: [f64; 1] = [1.0];
/// The fixed starts' σ (each at the quotes' lowest-variance strike for m).
const START_SIGMAS: [f64; 3] = [0.05, 0.2, 0.6];
/// The extra start's σ for a narrowly quoted smile, as a share of the quoted range.
const NARROW_START_SHARE: f64 = 0.1;
/// Bounds of σ (log-moneyness units).
const SIGMA_MIN: f64 = 1e-3;
const SIGMA_MAX: f64 = 4.0;

/// One quoted strike: log moneyness ln(K/F), total variance σ_iv²·T, its weight (> 0).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SmilePoint {
    pub log_moneyness: f64,
    pub total_variance: f64,
    pub weight: f64,
}

/// The accepted neighbours a fit must not cross (calendar arbitrage).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CalendarBounds {
    pub shorter: Option<Neighbour>,
    pub longer: Option<Neighbour>,
}

/// An accepted neighbouring smile and the log-moneyness range it was fitted on. Calendar
/// arbitrage is checked where both smiles are fitted to quotes (the overlap of the two
/// ranges): beyond a short expiry's few strikes its wings are extrapolation, and forcing
/// a longer expiry's quoted wings above them distorts the longer fit for nothing.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Neighbour {
    pub params: SviParams,
    pub k_min: f64,
    pub k_max: f64,
}

/// A fitted smile and how well it matches the quotes, in vol points (1 = 1 %).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct SmileFit {
    pub params: SviParams,
    pub years: f64,
    pub points: usize,
    pub rmse_vol_points: f64,
    pub max_error_vol_points: f64,
    /// Log moneyness of the worst-fitted strike.
    pub worst_log_moneyness: f64,
    /// The quoted log-moneyness range.
    pub k_min: f64,
    pub k_max: f64,
    /// The fine-grid check: `None` when free of butterfly and calendar arbitrage.
    #[serde(skip)]
    pub arbitrage: Option<Arbitrage>,
}

impl SmileFit {
    pub fn arbitrage_free(&self) -> bool {
        self.arbitrage.is_none()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FitError {
    #[error("{0} quoted strikes, fewer than the {FIT_POINTS_MIN} a fit needs")]
    TooFewPoints(usize),
    #[error("more than {FIT_POINTS_MAX} quoted strikes")]
    TooManyPoints,
    #[error("a quote is not finite, or its variance or weight is not positive")]
    InvalidPoint,
    #[error("time to expiry is not positive")]
    InvalidExpiry,
    #[error("no parameters in the SVI domain fit the quotes")]
    NoFit,
}

/// Fits `points` (years to expiry `years`): from `start` when given (the previous fit),
/// from the fixed starts as well when that is missing or not clean.
pub fn fit_smile(
    points: &[SmilePoint],
    years: f64,
    bounds: &CalendarBounds,
    start: Option<&SviParams>,
) -> Result<SmileFit, FitError> {
    if points.len() < FIT_POINTS_MIN {
        return Err(FitError::TooFewPoints(points.len()));
    }
    if points.len() > FIT_POINTS_MAX {
        return Err(FitError::TooManyPoints);
    }
    if !(years.is_finite() && years > 0.0) {
        return Err(FitError::InvalidExpiry);
    }
    let valid = |p: &SmilePoint| {
        p.log_moneyness.is_finite()
            && p.total_variance.is_finite()
            && p.total_variance > 0.0
            && p.weight.is_finite()
            && p.weight > 0.0
    };
    if !points.iter().all(valid) {
        return Err(FitError::InvalidPoint);
    }
    let (k_min, k_max) = points.iter().fold((f64::MAX, f64::MIN), |(lo, hi), p| {
        (lo.min(p.log_moneyness), hi.max(p.log_moneyness))
    });
    let grid = CheckGrid::around(k_min, k_max);
    let mut problem = Problem {
        points,
        weight_sum: points.iter().map(|p| p.weight).sum(),
        bounds,
        penalty_grid: grid.coarse(PENALTY_POINTS),
        hot: None,
        wing_slope_max: WING_SLOPE_MAX,
        m_range: (k_min - 1.0, k_max + 1.0),
        k_range: (k_min, k_max),
    };
    let k_at_min = points
        .iter()
        .min_by(|x, y| x.total_variance.total_cmp(&y.total_variance))
        .map_or(0.0, |p| p.log_moneyness);
    let better = |best: Option<(f64, SviParams)>, candidate: Option<(f64, SviParams)>| match (
        best, candidate,
    ) {
        (Some((b, _)), Some((value, _))) if value >= b => best,
        (best, None) => best,
        (_, candidate) => candidate,
    };
    // The least-squares fit first, without the penalty (its scan costs more than the
    // fit): a warm start alone when it lands clean, else the fixed starts too. Only a
    // fit that violates is searched again with the penalty on. Clean: no penalty on the
    // coarse grid, and no density below the margin on the fine one.
    let violation = |problem: &Problem, best: Option<(f64, SviParams)>| {
        let (_, params) = best?;
        let worst = grid
            .points()
            .map(|k| (params.density_condition(k), k))
            .min_by(|a, b| a.0.total_cmp(&b.0))
            .filter(|(g, _)| *g < DENSITY_MARGIN);
        match worst {
            Some((_, k)) => Some(Some(k)),
            None => (problem.penalty(&params) > 0.0).then_some(None),
        }
    };
    let mut best = start.and_then(|start| problem.minimize(start.m, start.sigma, false));
    if best.is_none() || violation(&problem, best).is_some() {
        for sigma in START_SIGMAS {
            best = better(best, problem.minimize(k_at_min, sigma, false));
        }
        // A smile quoted over a narrow range (hours to expiry) curves on a scale far
        // below the fixed starts': one more start at a tenth of the quoted range.
        let narrow = NARROW_START_SHARE * (k_max - k_min);
        if narrow < START_SIGMAS[0] {
            best = better(
                best,
                problem.minimize(k_at_min, narrow.max(SIGMA_MIN), false),
            );
        }
    }
    if let (Some(hot), Some((_, from))) = (violation(&problem, best), best) {
        // The fine grid's worst point joins the penalty's scan: a dip narrower than the
        // coarse grid's step is then seen.
        problem.hot = hot;
        best = problem.minimize(from.m, from.sigma, true).or(best);
    }
    // Still a negative density (in practice in an extrapolated wing): flatter wings,
    // Lee's bound on the wing slope tightened.
    for cap in WING_SLOPE_FALLBACKS {
        let Some((_, from)) = best.filter(|_| violation(&problem, best).is_some()) else {
            break;
        };
        problem.wing_slope_max = cap;
        let capped = problem.minimize(from.m, from.sigma, true);
        if violation(&problem, capped).is_none() {
            best = capped;
        }
    }
    let (_, params) = best.ok_or(FitError::NoFit)?;
    let params = lift_to_calendar(params, bounds, k_min, k_max);
    let errors = fit_errors(&params, points, years);
    Ok(SmileFit {
        params,
        years,
        points: points.len(),
        rmse_vol_points: errors.rmse_vol_points,
        max_error_vol_points: errors.max_error_vol_points,
        worst_log_moneyness: errors.worst_log_moneyness,
        k_min,
        k_max,
        arbitrage: check_smile(&params, &grid, k_min, k_max, bounds).err(),
    })
}

/// How far a smile is from quoted points, in vol points (1 = 1 %).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FitErrors {
    pub rmse_vol_points: f64,
    pub max_error_vol_points: f64,
    /// Log moneyness of the worst-fitted point.
    pub worst_log_moneyness: f64,
}

/// The errors of `params` against `points` (years to expiry `years`), unweighted.
pub fn fit_errors(params: &SviParams, points: &[SmilePoint], years: f64) -> FitErrors {
    let mut errors = FitErrors {
        rmse_vol_points: 0.0,
        max_error_vol_points: 0.0,
        worst_log_moneyness: 0.0,
    };
    let mut squares = 0.0;
    for p in points {
        let quoted = (p.total_variance / years).sqrt();
        let fitted = (params.total_variance(p.log_moneyness).max(0.0) / years).sqrt();
        let error = (fitted - quoted).abs() * 100.0;
        squares += error * error;
        if error > errors.max_error_vol_points {
            errors.max_error_vol_points = error;
            errors.worst_log_moneyness = p.log_moneyness;
        }
    }
    errors.rmse_vol_points = (squares / points.len().max(1) as f64).sqrt();
    errors
}

/// The penalty leaves calendar gaps of round-off size; closing them moves the whole
/// smile by the largest gap (a shift of `a`): up to the shorter expiry, else down to
/// the longer. The fine-grid check then decides.
fn lift_to_calendar(
    params: SviParams,
    bounds: &CalendarBounds,
    k_min: f64,
    k_max: f64,
) -> SviParams {
    let largest_gap = |below: &SviParams, above: &SviParams, grid: Option<CheckGrid>| {
        grid.map_or(0.0, |grid| {
            grid.points()
                .map(|k| below.total_variance(k) - above.total_variance(k))
                .fold(0.0f64, f64::max)
        })
    };
    if let Some(shorter) = &bounds.shorter {
        let gap = largest_gap(&shorter.params, &params, overlap(shorter, k_min, k_max));
        if gap > 0.0 {
            return SviParams {
                a: params.a + gap + CHECK_TOLERANCE / 2.0,
                ..params
            };
        }
    }
    if let Some(longer) = &bounds.longer {
        let gap = largest_gap(&params, &longer.params, overlap(longer, k_min, k_max));
        if gap > 0.0 {
            return SviParams {
                a: params.a - gap - CHECK_TOLERANCE / 2.0,
                ..params
            };
        }
    }
    params
}

/// The fine grid over the range both a neighbour and this fit are quoted on.
fn overlap(neighbour: &Neighbour, k_min: f64, k_max: f64) -> Option<CheckGrid> {
    let from = neighbour.k_min.max(k_min);
    let to = neighbour.k_max.min(k_max);
    (from < to).then_some(CheckGrid {
        from,
        to,
        points: CHECK_POINTS,
    })
}

/// Butterfly on `grid`, and calendar against the accepted neighbours over the quoted
/// range shared with each (this fit's range: `k_min..k_max`).
pub fn check_smile(
    params: &SviParams,
    grid: &CheckGrid,
    k_min: f64,
    k_max: f64,
    bounds: &CalendarBounds,
) -> Result<(), Arbitrage> {
    params.check_butterfly(grid)?;
    if let Some(shorter) = &bounds.shorter
        && let Some(grid) = overlap(shorter, k_min, k_max)
    {
        check_calendar(&shorter.params, params, &grid)?;
    }
    if let Some(longer) = &bounds.longer
        && let Some(grid) = overlap(longer, k_min, k_max)
    {
        check_calendar(params, &longer.params, &grid)?;
    }
    Ok(())
}

struct Problem<'a> {
    points: &'a [SmilePoint],
    weight_sum: f64,
    bounds: &'a CalendarBounds,
    penalty_grid: CheckGrid,
    /// A log moneyness the penalty scans besides its grid (the fine check's worst).
    hot: Option<f64>,
    /// Bound on b·(1 + |ρ|) the least squares keeps to (Lee's 2, or tighter).
    wing_slope_max: f64,
    m_range: (f64, f64),
    /// The quoted log-moneyness range.
    k_range: (f64, f64),
}

impl Problem<'_> {
    /// Nelder-Mead over (m, σ) from a start; the best objective and its parameters.
    fn minimize(&self, m: f64, sigma: f64, penalized: bool) -> Option<(f64, SviParams)> {
        let sigma = sigma.clamp(SIGMA_MIN, SIGMA_MAX);
        let mut simplex = [
            [m, sigma],
            [m + 0.1, sigma],
            [m, (sigma * 1.5).min(SIGMA_MAX)],
        ];
        let mut values = simplex.map(|x| self.objective(x, penalized).0);
        for _ in 0..ITERATIONS_MAX {
            // Order best first (three points: a fixed sort network, no allocation).
            for (i, j) in [(0, 1), (1, 2), (0, 1)] {
                if values[j] < values[i] {
                    values.swap(i, j);
                    simplex.swap(i, j);
                }
            }
            let size = (1..3)
                .map(|i| {
                    (simplex[i][0] - simplex[0][0])
                        .abs()
                        .max((simplex[i][1] - simplex[0][1]).abs())
                })
                .fold(0.0, f64::max);
            if values[2] - values[0] <= CONVERGED * (1.0 + values[0].abs())
                || size < SIMPLEX_SIZE_MIN
            {
                break;
            }
            let centroid = [
                (simplex[0][0] + simplex[1][0]) / 2.0,
                (simplex[0][1] + simplex[1][1]) / 2.0,
            ];
            let along = |t: f64| {
                [
                    centroid[0] + t * (simplex[2][0] - centroid[0]),
                    centroid[1] + t * (simplex[2][1] - centroid[1]),
                ]
            };
            let reflected = along(-1.0);
            let reflected_value = self.objective(reflected, penalized).0;
            if reflected_value < values[0] {
                let expanded = along(-2.0);
                let expanded_value = self.objective(expanded, penalized).0;
                (simplex[2], values[2]) = if expanded_value < reflected_value {
                    (expanded, expanded_value)
                } else {
                    (reflected, reflected_value)
                };
            } else if reflected_value < values[1] {
                (simplex[2], values[2]) = (reflected, reflected_value);
            } else {
                let contracted = if reflected_value < values[2] {
                    along(-0.5)
                } else {
                    along(0.5)
                };
                let contracted_value = self.objective(contracted, penalized).0;
                if contracted_value < values[2].min(reflected_value) {
                    (simplex[2], values[2]) = (contracted, contracted_value);
                } else {
                    for i in 1..3 {
                        simplex[i] = [
                            (simplex[0][0] + simplex[i][0]) / 2.0,
                            (simplex[0][1] + simplex[i][1]) / 2.0,
                        ];
                        values[i] = self.objective(simplex[i], penalized).0;
                    }
                }
            }
        }
        let best = (0..3).min_by(|&i, &j| values[i].total_cmp(&values[j]))?;
        let (value, params) = self.objective(simplex[best], penalized);
        params.map(|p| (value, p))
    }

    /// Weighted mean squared error in total variance (plus the arbitrage penalty when
    /// `penalized`), at the best (a, d, c) for this (m, σ); infinite outside the box.
    fn objective(&self, [m, sigma]: [f64; 2], penalized: bool) -> (f64, Option<SviParams>) {
        if !(m.is_finite() && (SIGMA_MIN..=SIGMA_MAX).contains(&sigma))
            || m < self.m_range.0
            || m > self.m_range.1
        {
            return (f64::INFINITY, None);
        }
        let Some((error, params)) = self.inner(m, sigma) else {
            return (f64::INFINITY, None);
        };
        let penalty = if penalized {
            self.penalty(&params)
        } else {
            0.0
        };
        (
            error / self.weight_sum + PENALTY_WEIGHT * penalty,
            Some(params),
        )
    }

    /// Squared arbitrage violations on the coarse grid (0: none found there).
    fn penalty(&self, params: &SviParams) -> f64 {
        let mut penalty = 0.0;
        // The grid, and the smile's vertex region, where the curvature (and so a
        // narrow dip of the density between grid points) is.
        let (m, s) = (params.m, params.sigma);
        let vertex = [m - s, m - s / 2.0, m, m + s / 2.0, m + s];
        for k in self.penalty_grid.points().chain(vertex).chain(self.hot) {
            let w = params.total_variance(k);
            let density = if w > 0.0 {
                (params.density_condition(k) - DENSITY_MARGIN).min(0.0)
            } else {
                -1.0 + w
            };
            penalty += density * density;
            let in_range = |n: &Neighbour| {
                k >= n.k_min.max(self.k_range.0) && k <= n.k_max.min(self.k_range.1)
            };
            if let Some(shorter) = self.bounds.shorter.as_ref().filter(|n| in_range(n)) {
                let gap = (params.total_variance(k) - shorter.params.total_variance(k)).min(0.0);
                penalty += gap * gap * CALENDAR_PENALTY_SCALE;
            }
            if let Some(longer) = self.bounds.longer.as_ref().filter(|n| in_range(n)) {
                let gap = (longer.params.total_variance(k) - params.total_variance(k)).min(0.0);
                penalty += gap * gap * CALENDAR_PENALTY_SCALE;
            }
        }
        penalty
    }

    /// The exact weighted least squares in (a, d, c) for fixed (m, σ), constrained to
    /// c ≥ 0, |d| ≤ c, c + |d| ≤ 2σ (so b ≥ 0, |ρ| ≤ 1 and Lee's bound hold); the
    /// weighted squared error and the raw parameters.
    fn inner(&self, m: f64, sigma: f64) -> Option<(f64, SviParams)> {
        // Sums for the normal equations of w ≈ a + d·y + c·z.
        let mut s = Sums::default();
        for p in self.points {
            let y = (p.log_moneyness - m) / sigma;
            let z = (y * y + 1.0).sqrt();
            s.add(p.weight, y, z, p.total_variance);
        }
        let cap = self.wing_slope_max * sigma;
        let mut best: Option<(f64, [f64; 3])> = None;
        let mut consider = |x: [f64; 3]| {
            let (a, d, c) = (x[0], x[1], x[2]);
            let feasible = c >= -1e-15 && d.abs() <= c + 1e-15 && c + d.abs() <= cap + 1e-15;
            if feasible {
                let error = s.error(a, d, c);
                if best.is_none_or(|(b, _)| error < b) {
                    best = Some((error, x));
                }
            }
        };
        if let Some(x) = s.solve_free() {
            consider(x);
        }
        // The edges of the (c, d) diamond: d = ±c for c ∈ [0, σ], d = ±(cap − c) for
        // c ∈ [σ, cap]; on each, a 2-variable least squares clamped to the edge.
        for sign in [1.0, -1.0] {
            // d = sign·c: w = a + c·(sign·y + z).
            if let Some((a, c)) = s.solve_edge(sign, 0.0, 0.0, cap / 2.0) {
                consider([a, sign * c, c]);
            }
            // d = sign·(cap − c): w = a + sign·cap·y + c·(z − sign·y).
            if let Some((a, c)) = s.solve_edge(-sign, sign * cap, cap / 2.0, cap) {
                consider([a, sign * (cap - c), c]);
            }
        }
        let (error, [a, d, c]) = best?;
        let b = c / sigma;
        let rho = if c > 0.0 {
            (d / c).clamp(-1.0, 1.0)
        } else {
            0.0
        };
        // |ρ| = 1 is a limit of the domain: keep it just inside.
        let rho = rho.clamp(-0.999_999, 0.999_999);
        Some((
            error,
            SviParams {
                a,
                b,
                rho,
                m,
                sigma,
            },
        ))
    }
}

/// Weighted sums of the linear problem's columns (1, y, z) and target w.
#[derive(Default)]
struct Sums {
    w: f64,
    y: f64,
    z: f64,
    yy: f64,
    yz: f64,
    zz: f64,
    t: f64,
    ty: f64,
    tz: f64,
    tt: f64,
}

impl Sums {
    fn add(&mut self, weight: f64, y: f64, z: f64, t: f64) {
        self.w += weight;
        self.y += weight * y;
        self.z += weight * z;
        self.yy += weight * y * y;
        self.yz += weight * y * z;
        self.zz += weight * z * z;
        self.t += weight * t;
        self.ty += weight * t * y;
        self.tz += weight * t * z;
        self.tt += weight * t * t;
    }

    /// Σ weight·(a + d·y + c·z − t)², expanded.
    fn error(&self, a: f64, d: f64, c: f64) -> f64 {
        let fit_sq = a * a * self.w
            + d * d * self.yy
            + c * c * self.zz
            + 2.0 * (a * d * self.y + a * c * self.z + d * c * self.yz);
        let cross = a * self.t + d * self.ty + c * self.tz;
        (fit_sq - 2.0 * cross + self.tt).max(0.0)
    }

    /// The unconstrained optimum (Cramer's rule on the 3×3 normal equations).
    fn solve_free(&self) -> Option<[f64; 3]> {
        let m = [
            [self.w, self.y, self.z],
            [self.y, self.yy, self.yz],
            [self.z, self.yz, self.zz],
        ];
        let r = [self.t, self.ty, self.tz];
        let det = det3(&m);
        if det.abs() < 1e-300 || !det.is_finite() {
            return None;
        }
        let mut x = [0.0; 3];
        for (col, xi) in x.iter_mut().enumerate() {
            let mut mc = m;
            for row in 0..3 {
                mc[row][col] = r[row];
            }
            *xi = det3(&mc) / det;
        }
        x.iter().all(|v| v.is_finite()).then_some(x)
    }

    /// Least squares of w ≈ a + offset·y + c·(z + sign·y) for c ∈ [lo, hi]: (a, c).
    fn solve_edge(&self, sign: f64, offset: f64, lo: f64, hi: f64) -> Option<(f64, f64)> {
        // Column u = z + sign·y; target t' = t − offset·y.
        let u = self.z + sign * self.y;
        let uu = self.zz + 2.0 * sign * self.yz + self.yy;
        let tp = self.t - offset * self.y;
        let tpu = self.tz + sign * self.ty - offset * (self.yz + sign * self.yy);
        let det = self.w * uu - u * u;
        let c = if det.abs() > 1e-300 {
            ((self.w * tpu - u * tp) / det).clamp(lo, hi)
        } else {
            lo
        };
        let a = (tp - c * u) / self.w;
        (a.is_finite() && c.is_finite()).then_some((a, c))
    }
}

fn det3(m: &[[f64; 3]; 3]) -> f64 {
    m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
        - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
        + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::surface::svi::Arbitrage;

    fn sample(params: &SviParams) -> Vec<SmilePoint> {
        (0..25)
            .map(|i| {
                let k = -0.6 + 0.05 * f64::from(i);
                SmilePoint {
                    log_moneyness: k,
                    total_variance: params.total_variance(k),
                    weight: 1.0,
                }
            })
            .collect()
    }

    #[test]
    fn recovers_the_parameters_it_sampled() {
        let truth = SviParams {
            a: 0.01,
            b: 0.12,
            rho: -0.4,
            m: 0.05,
            sigma: 0.15,
        };
        let years = 0.25;
        let points = sample(&truth);
        let fit = fit_smile(&points, years, &CalendarBounds::default(), None).unwrap();
        assert!(fit.rmse_vol_points < 1e-3, "{fit:?}");
        assert!(fit.arbitrage_free(), "{fit:?}");
        assert!((fit.params.rho - truth.rho).abs() < 1e-3, "{fit:?}");
        assert!((fit.params.m - truth.m).abs() < 1e-3, "{fit:?}");
    }

    #[test]
    fn bad_input_is_refused_not_fitted() {
        let good = SmilePoint {
            log_moneyness: 0.0,
            total_variance: 0.04,
            weight: 1.0,
        };
        let bounds = CalendarBounds::default();
        assert_eq!(
            fit_smile(&[good; 3], 0.1, &bounds, None),
            Err(FitError::TooFewPoints(3))
        );
        let mut points = vec![good; 6];
        points[2].total_variance = f64::NAN;
        assert_eq!(
            fit_smile(&points, 0.1, &bounds, None),
            Err(FitError::InvalidPoint)
        );
        assert_eq!(
            fit_smile(&[good; 6], 0.0, &bounds, None),
            Err(FitError::InvalidExpiry)
        );
    }

    #[test]
    fn a_calendar_bound_is_respected() {
        let shorter = SviParams {
            a: 0.01,
            b: 0.1,
            rho: -0.3,
            m: 0.0,
            sigma: 0.2,
        };
        // Quotes above the shorter expiry's at the money but below it in the quoted
        // left wing.
        let crossing = SviParams {
            a: 0.03,
            b: 0.06,
            rho: -0.3,
            m: 0.0,
            sigma: 0.2,
        };
        let points = sample(&crossing);
        let bounds = CalendarBounds {
            shorter: Some(Neighbour {
                params: shorter,
                k_min: -0.6,
                k_max: 0.6,
            }),
            longer: None,
        };
        let fit = fit_smile(&points, 0.5, &bounds, None).unwrap();
        assert!(fit.arbitrage_free(), "{fit:?}");
        let free = fit_smile(&points, 0.5, &CalendarBounds::default(), None).unwrap();
        assert!(
            free.arbitrage_free() && free.rmse_vol_points < 1e-3,
            "{free:?}"
        );
        let unchecked = fit_smile(&points, 0.5, &CalendarBounds::default(), None).unwrap();
        let grid = CheckGrid::around(-0.6, 0.6);
        assert_eq!(
            check_smile(&unchecked.params, &grid, -0.6, 0.6, &bounds),
            Err(Arbitrage::Calendar),
            "the quotes' own smile crosses the shorter expiry"
        );
    }
}
