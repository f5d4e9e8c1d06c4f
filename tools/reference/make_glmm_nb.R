# lme4::glmer.nb on epil and on simulated negative binomial data, with
# performance::check_overdispersion: the reference for lmmpy/glmm/nb.py and
# lmmpy/glmm/_overdispersion.py.
# Run: Rscript tools/reference/make_glmm_nb.R
#   writes tests/data/glmm/sim_nb.csv (the simulated data), tests/data/glmm/nb_cases.json
#   (one record per fit) and tests/data/glmm/nb_family.json (MASS::negative.binomial
#   evaluated on a grid).
# Simulation (set.seed(20261203)): 36 groups g x 9 rows; x ~ N(0, 1); arm a two-level
# factor by group; exposure ~ U(0.5, 2); a second grouping factor h (12 levels, crossed
# with g); time = 0..8 / 4; log mu = 0.5 + 0.4 x - 0.5 [arm = B] + log(exposure)
# + b_g + c_h + (0.3 + s_g) time with b_g ~ N(0, 0.6^2), c_h ~ N(0, 0.3^2),
# s_g ~ N(0, 0.25^2) (cor(b, s) = 0.4); y1 ~ NB(mu1, k = 2) with mu1 the model without
# c and the slope, y2 ~ NB(mu2, k = 4) with the slope, y3 ~ NB(mu3, k = 1.2) with b and c.
suppressMessages({library(lme4); library(MASS); library(jsonlite); library(numDeriv)
                  library(performance)})

set.seed(20261203)
G <- 36; per <- 9
d <- data.frame(g = factor(rep(sprintf("g%02d", 1:G), each = per)),
                time = rep((0:(per - 1)) / 4, G))
d$x <- round(rnorm(nrow(d)), 4)
d$arm <- factor(ifelse(as.integer(d$g) %% 2 == 0, "B", "A"))
d$exposure <- round(runif(nrow(d), 0.5, 2), 4)
d$h <- factor(sprintf("h%02d", sample(rep(1:12, length.out = nrow(d)))))
S <- matrix(c(0.6^2, 0.4 * 0.6 * 0.25, 0.4 * 0.6 * 0.25, 0.25^2), 2)
bs <- MASS::mvrnorm(G, c(0, 0), S)
ch <- rnorm(12, 0, 0.3)
gi <- as.integer(d$g); hi <- as.integer(d$h)
eta1 <- 0.5 + 0.4 * d$x - 0.5 * (d$arm == "B") + log(d$exposure) + bs[gi, 1]
eta2 <- 0.5 + 0.4 * d$x + bs[gi, 1] + (0.3 + bs[gi, 2]) * d$time
eta3 <- 0.5 + 0.4 * d$x + bs[gi, 1] + ch[hi]
d$y1 <- rnbinom(nrow(d), size = 2, mu = exp(eta1))
d$y2 <- rnbinom(nrow(d), size = 4, mu = exp(eta2))
d$y3 <- rnbinom(nrow(d), size = 1.2, mu = exp(eta3))
write.csv(d, "tests/data/glmm/sim_nb.csv", row.names = FALSE)
d <- read.csv("tests/data/glmm/sim_nb.csv", stringsAsFactors = TRUE)

epil <- read.csv("tests/data/extra_datasets/epil.csv")
epil$subject <- factor(epil$subject)
epil$trt <- factor(epil$trt, levels = c("placebo", "progabide"))

CASES <- list(
  list(case = "epil_nb", data = "epil", formula = "y ~ trt + lbase + lage + V4 + (1 | subject)",
       nAGQ = 1),
  list(case = "sim_nb_offset", data = "sim_nb",
       formula = "y1 ~ x + arm + offset(log(exposure)) + (1 | g)", nAGQ = 1),
  list(case = "sim_nb_offset_agq", data = "sim_nb",
       formula = "y1 ~ x + arm + offset(log(exposure)) + (1 | g)", nAGQ = 9),
  list(case = "sim_nb_slope", data = "sim_nb", formula = "y2 ~ x + time + (time | g)", nAGQ = 1),
  list(case = "sim_nb_crossed", data = "sim_nb", formula = "y3 ~ x + (1 | g) + (1 | h)",
       nAGQ = 1))

named <- function(x) as.list(setNames(as.numeric(x), names(x)))
overdispersion <- function(m) {
  o <- check_overdispersion(m)
  list(chisq = o$chisq_statistic, ratio = o$dispersion_ratio, rdf = o$residual_df,
       p = o$p_value)
}

fit_case <- function(cs) {
  data <- if (cs$data == "epil") epil else d
  elapsed <- system.time(m <- glmer.nb(as.formula(cs$formula), data, nAGQ = cs$nAGQ))[["elapsed"]]
  theta <- getME(m, "theta"); beta <- fixef(m)
  # lme4's criterion at its estimates with PIRLS converged (tolPwrss 1e-12), and standard
  # errors from a Richardson Hessian of it over (theta, beta), k held at its estimate
  dd <- update(m, devFunOnly = TRUE, control = glmerControl(tolPwrss = 1e-12))
  par <- c(theta, beta)
  tight <- dd(par)
  H <- numDeriv::hessian(dd, par)
  nt <- length(theta)
  V <- 2 * solve(H)[-(1:nt), -(1:nt)]
  vc <- as.data.frame(VarCorr(m))
  p <- glmer(as.formula(cs$formula), data, family = poisson, nAGQ = cs$nAGQ)
  list(case = cs$case, data = cs$data, formula = cs$formula, nAGQ = cs$nAGQ,
       nb_theta = getME(m, "glmer.nb.theta"), family = family(m)$family,
       theta = named(theta), fixef = named(beta), fixef_se = named(sqrt(diag(vcov(m)))),
       loglik = as.numeric(logLik(m)), loglik_df = attr(logLik(m), "df"),
       AIC = AIC(m), BIC = BIC(m), df_resid = df.residual(m), deviance = deviance(m),
       varcorr = lapply(seq_len(nrow(vc)), function(i) list(grp = vc$grp[i], var1 = vc$var1[i],
         var2 = if (is.na(vc$var2[i])) NULL else vc$var2[i], vcov = vc$vcov[i],
         sdcor = vc$sdcor[i])),
       pearson_head = unname(residuals(m, type = "pearson")[1:10]),
       fitted_head = unname(fitted(m)[1:10]),
       tight = list(loglik = -tight / 2, fixef_se = named(setNames(sqrt(diag(V)), names(beta)))),
       nevals = attr(m, "nevals"), lme4_time_s = elapsed,
       overdispersion = overdispersion(m), poisson_overdispersion = overdispersion(p),
       poisson_loglik = as.numeric(logLik(p)), is_singular = isSingular(m))
}

out <- lapply(CASES, fit_case)
writeLines(toJSON(out, digits = 15, auto_unbox = TRUE, null = "null", pretty = TRUE),
           "tests/data/glmm/nb_cases.json")

# the family object on a grid
fam <- negative.binomial(theta = 2.5)
y <- c(0, 1, 3, 7, 2, 0, 12); mu <- c(0.5, 1.2, 2.5, 6, 2, 3, 8); wt <- c(1, 2, 1, 1, 0.5, 1, 1)
dev <- fam$dev.resids(y, mu, wt)
writeLines(toJSON(list(theta = 2.5, family = fam$family, y = y, mu = mu, wt = wt,
                       eta = log(mu), linkinv = fam$linkinv(log(mu)), mu_eta = fam$mu.eta(log(mu)),
                       variance = fam$variance(mu), dev_resids = dev,
                       aic = fam$aic(y, rep(1, length(y)), mu, wt, sum(dev)),
                       mustart = local({ nobs <- length(y); eval(fam$initialize); mustart })),
                  digits = 15, auto_unbox = TRUE, pretty = TRUE),
           "tests/data/glmm/nb_family.json")
