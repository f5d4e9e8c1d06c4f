# References for lmmpy's GLMM results and inference: residuals, fitted, predict (re.form,
# new levels, standard errors), confint (Wald, profile), LRTs between fits and of random
# terms, pooling (glm and glm with sum-coded group dummies), performance's icc / r2_nakagawa
# / binned_residuals, broom.mixed's tidy / glance, and bootstrap / simulate moments.
# Simulated data sets are written beside the references (tests/data/glmm/sim_*.csv).
# Run from the repository root: Rscript tools/reference/make_glmm_inference.R
#   writes tests/data/glmm/inference.json and tests/data/glmm/sim_*.csv
suppressMessages({library(lme4); library(jsonlite); library(performance)
                  library(broom.mixed)})
options(warn = 1)
OUT <- "tests/data/glmm"

# ---- simulated data -------------------------------------------------------------------
set.seed(20261203)
lab <- function(prefix, k) sprintf("%s%02d", prefix, k)
sim_bin_slope <- local({
  g <- rep(1:40, each = 15); x <- round(rnorm(600), 4); z <- round(rnorm(40)[g], 4)
  b0 <- rnorm(40, 0, 0.9)[g]; b1 <- rnorm(40, 0, 0.5)[g]
  eta <- -0.3 + 0.8 * x + 0.4 * z + b0 + b1 * x
  data.frame(y = rbinom(600, 1, plogis(eta)), x = x, z = z, g = lab("g", g))
})
sim_pois_offset <- local({
  site <- rep(1:30, each = 8); day <- rep(1:8, 30)
  trt <- c("a", "b", "c")[(site %% 3) + 1]; x <- round(runif(240, -1, 1), 4)
  expo <- round(runif(240, 0.5, 3), 3)
  eta <- log(expo) + 0.5 + c(a = 0, b = 0.4, c = -0.3)[trt] + 0.6 * x +
    rnorm(30, 0, 0.5)[site] + rnorm(8, 0, 0.25)[day]
  data.frame(y = rpois(240, exp(eta)), trt = trt, x = x, expo = expo,
             site = lab("s", site), day = lab("d", day))
})
sim_binom_prop <- local({
  g <- rep(1:25, each = 6); x <- round(rnorm(150), 4); n <- sample(5:20, 150, TRUE)
  p <- plogis(-0.5 + 0.7 * x + rnorm(25, 0, 0.8)[g])
  s <- rbinom(150, n, p)
  data.frame(prop = s / n, n = n, x = x, g = lab("g", g))
})
sim_bin_sep <- local({
  repeat {
    g <- rep(1:30, each = 8); x <- round(rnorm(240), 4)
    eta <- 0.2 + 0.9 * x + rnorm(30, 0, 2.2)[g]
    y <- rbinom(240, 1, plogis(eta))
    share <- tapply(y, g, mean)
    if (sum(share == 0) >= 2 && sum(share == 1) >= 1) break
  }
  data.frame(y = y, x = x, g = lab("g", g))
})
sims <- list(sim_bin_slope = sim_bin_slope, sim_pois_offset = sim_pois_offset,
             sim_binom_prop = sim_binom_prop, sim_bin_sep = sim_bin_sep)
for (name in names(sims)) write.csv(sims[[name]], file.path(OUT, paste0(name, ".csv")),
                                    row.names = FALSE)

# ---- the models -----------------------------------------------------------------------
case_data <- function(case) {
  spec <- fromJSON(file.path("tests/data/cases", paste0(case, ".json")), simplifyVector = FALSE)
  path <- file.path("lmmpy/datasets", spec$data_file)
  if (!file.exists(path)) path <- file.path("tests/data/extra_datasets", spec$data_file)
  d <- read.csv(path)
  for (column in names(spec$factors)) {
    levels <- unlist(spec$factors[[column]]$levels)
    d[[column]] <- factor(as.character(d[[column]]), levels = levels)
  }
  d
}
sim_data <- function(name) {
  d <- read.csv(file.path(OUT, paste0(name, ".csv")))
  for (column in names(d)) if (is.character(d[[column]])) d[[column]] <- factor(d[[column]])
  d
}
M <- list(
  cbpp = list(data = "case:cbpp_laplace", family = "binomial", link = "logit",
              formula = "cbind(incidence, size - incidence) ~ period + (1 | herd)",
              null = "cbind(incidence, size - incidence) ~ 1 + (1 | herd)", group = "herd",
              new = data.frame(period = c("1", "3", "2"), herd = c("1", "7", "new"))),
  bacteria = list(data = "case:bacteria_laplace", family = "binomial", link = "logit",
                  formula = "y ~ trt + I(week > 2) + (1 | ID)", group = "ID",
                  new = data.frame(trt = c("placebo", "drug+", "drug"), week = c(0, 4, 11),
                                   ID = c("X01", "Z26", "new"))),
  probit = list(data = "case:sim_probit_slope", family = "binomial", link = "probit",
                formula = "y ~ dose + (dose | lab)", group = "lab",
                new = data.frame(dose = c(0.5, -1, 2), lab = c("L01", "L10", "new"))),
  gamma = list(data = "case:sim_gamma_log", family = "Gamma", link = "log",
               formula = "cost ~ severity + arm + (1 | hospital)", group = "hospital",
               new = data.frame(severity = c(1, 5, 3), arm = c("usual", "fasttrack", "usual"),
                                hospital = c("H01", "H12", "new"))),
  epil = list(data = "case:epil_poisson", family = "poisson", link = "log",
              formula = "y ~ trt + lbase + lage + V4 + (1 | subject)", group = "subject",
              new = data.frame(trt = c("placebo", "progabide", "placebo"), lbase = c(0, 0.5, -1),
                               lage = c(0, 0.1, -0.2), V4 = c(0, 1, 1),
                               subject = c("1", "30", "new"))),
  bin_slope = list(data = "sim_bin_slope", family = "binomial", link = "logit",
                   formula = "y ~ x + z + (x | g)", null = "y ~ x + z + (1 | g)", group = "g",
                   re_form = "~(1 | g)",
                   new = data.frame(x = c(0.3, -1.2, 1), z = c(0.1, 0.5, -0.4),
                                    g = c("g01", "g17", "new"))),
  pois_offset = list(data = "sim_pois_offset", family = "poisson", link = "log",
                     formula = "y ~ trt + x + offset(log(expo)) + (1 | site) + (1 | day)",
                     null = "y ~ x + offset(log(expo)) + (1 | site) + (1 | day)",
                     group = "site", re_form = "~(1 | day)",
                     new = data.frame(trt = c("a", "c", "b"), x = c(0, 0.5, -0.5),
                                      expo = c(1, 2, 0.7), site = c("s01", "s20", "new"),
                                      day = c("d01", "d05", "d02"))),
  binom_prop = list(data = "sim_binom_prop", family = "binomial", link = "logit",
                    formula = "prop ~ x + (1 | g)", weights = "n", group = "g",
                    new = data.frame(x = c(0, 1, -1), g = c("g01", "g25", "new"))),
  bin_sep = list(data = "sim_bin_sep", family = "binomial", link = "logit",
                 formula = "y ~ x + (1 | g)", group = "g",
                 new = data.frame(x = c(0, 1, -1), g = c("g01", "g05", "new")))
)

fit_model <- function(spec, d, formula = spec$formula) {
  fam <- get(spec$family)(link = spec$link)
  if (is.null(spec$weights)) glmer(as.formula(formula), d, fam)
  else glmer(as.formula(formula), d, fam, weights = d[[spec$weights]])
}

# Z' of the rows of newdata over the fit's random effects (levels not in the fit: zero)
term_values <- function(cn, newdata) {
  if (identical(cn, "(Intercept)")) return(matrix(1, nrow(newdata), 1))
  model.matrix(as.formula(paste("~", paste(setdiff(cn, "(Intercept)"), collapse = "+"),
                                if ("(Intercept)" %in% cn) "" else "- 1")), newdata)
}
new_Zt <- function(m, newdata) {
  cnms <- getME(m, "cnms"); flist <- getME(m, "flist"); offsets <- getME(m, "Gp")
  Zt <- matrix(0, ncol(getME(m, "Z")), nrow(newdata))
  for (k in seq_along(cnms)) {
    f <- names(cnms)[k]; levs <- levels(flist[[f]]); nc <- length(cnms[[k]])
    codes <- match(as.character(newdata[[f]]), levs)
    values <- term_values(cnms[[k]], newdata)
    for (i in which(!is.na(codes)))
      Zt[offsets[k] + (codes[i] - 1) * nc + seq_len(nc), i] <- values[i, ]
  }
  Zt
}

# prediction standard errors at the fit: sigma^2 g'A^-1 g + h' V h (lmmpy's definition, see
# lmmpy/inference/_predict_se.py), with the final PIRLS working weights
se_fit <- function(m, newdata, re_form) {
  X <- unname(model.matrix(delete.response(terms(m, fixed.only = TRUE)), newdata,
                           contrasts.arg = attr(getME(m, "X"), "contrasts")))
  V <- as.matrix(vcov(m)); s2 <- sigma(m)^2
  fixed <- rowSums((X %*% V) * X)
  if (identical(re_form, NA)) return(list(se = sqrt(fixed), random = rep(0, nrow(X)), H = X))
  Lambda <- as.matrix(getME(m, "Lambda")); Z <- as.matrix(getME(m, "Z"))
  w <- m@resp$sqrtWrkWt()^2
  A <- t(Lambda) %*% t(Z) %*% (w * Z) %*% Lambda + diag(ncol(Z))
  B <- t(Lambda) %*% t(Z) %*% (w * getME(m, "X"))
  Zt <- new_Zt(m, newdata)
  G <- t(Lambda) %*% Zt
  AiG <- solve(A, G)
  H <- t(X) - t(B) %*% AiG
  random <- s2 * colSums(G * AiG)
  # a level not in the fit: its effect is a new draw, z' Sigma z
  for (f in names(m@flist)) {
    new <- !(as.character(newdata[[f]]) %in% levels(m@flist[[f]]))
    if (!any(new)) next
    for (k in which(names(getME(m, "cnms")) == f)) {
      cn <- getME(m, "cnms")[[k]]
      S <- VarCorr(m)[[k]]
      zz <- term_values(cn, newdata[new, , drop = FALSE])
      random[new] <- random[new] + rowSums((zz %*% S) * zz)
    }
  }
  # lme4's vcov comes from a Hessian at PIRLS tolerance 1e-7 (up to ~1% off): the parts
  # are kept so that a test can use a precise Var(beta) with them
  list(se = sqrt(random + colSums(H * (V %*% H))), random = random, H = unname(t(H)))
}

rows <- function(df) lapply(seq_len(nrow(df)), function(i) as.list(df[i, , drop = FALSE]))
ci_rows <- function(ci) data.frame(parm = rownames(ci), lower = ci[, 1], upper = ci[, 2])

out <- list()
for (name in names(M)) {
  spec <- M[[name]]
  d <- if (startsWith(spec$data, "case:")) case_data(sub("case:", "", spec$data))
       else sim_data(spec$data)
  m <- fit_model(spec, d)
  new <- spec$new
  for (column in names(new)) if (is.factor(d[[column]]))
    new[[column]] <- factor(new[[column]], levels = union(levels(d[[column]]), new[[column]]))
  known <- new[-nrow(new), , drop = FALSE]
  r <- list(formula = spec$formula, family = spec$family, link = spec$link,
            weights = spec$weights, data = spec$data, group = spec$group,
            theta = unname(getME(m, "theta")), fixef = as.list(fixef(m)),
            loglik = as.numeric(logLik(m)), sigma = sigma(m),
            residuals = lapply(c(deviance = "deviance", pearson = "pearson",
                                 working = "working", response = "response"),
                               function(t) unname(residuals(m, type = t))),
            fitted = unname(fitted(m)),
            newdata = new,
            predict = list(
              link = unname(predict(m, new, allow.new.levels = TRUE)),
              response = unname(predict(m, new, type = "response", allow.new.levels = TRUE)),
              link_fixed = unname(predict(m, new, re.form = NA)),
              response_fixed = unname(predict(m, new, re.form = NA, type = "response"))),
            se_fit = list(link = se_fit(m, new, NULL), link_fixed = se_fit(m, new, NA)),
            vcov = unname(as.matrix(vcov(m))))
  if (!is.null(spec$re_form))
    r$predict$link_partial <- unname(predict(m, known, re.form = as.formula(spec$re_form)))
  r$re_form <- spec$re_form
  r$confint_wald <- ci_rows(confint(m, method = "Wald", oldNames = FALSE))
  # glmer's default tolPwrss = 1e-7 leaves its Hessian, so its standard errors, up to ~1%
  # off the converged criterion's: the same fit with PIRLS converged to 1e-12
  tight <- update(m, control = glmerControl(tolPwrss = 1e-12))
  r$confint_wald_tight <- ci_rows(confint(tight, method = "Wald", oldNames = FALSE))
  if (name %in% c("cbpp", "bin_slope", "pois_offset", "binom_prop", "bin_sep")) {
    ci <- tryCatch(confint(m, method = "profile", oldNames = FALSE),
                   error = function(e) NULL)
    if (!is.null(ci)) r$confint_profile <- ci_rows(ci)
  }
  # tidy and glance (broom.mixed)
  td <- as.data.frame(tidy(m, effects = c("fixed", "ran_pars"), conf.int = TRUE))
  r$tidy <- rows(td)
  r$glance <- as.list(as.data.frame(glance(m)))
  if (spec$family %in% c("binomial", "poisson")) {
    ic <- suppressWarnings(performance::icc(m))
    r2n <- suppressWarnings(performance::r2_nakagawa(m))
    vars <- suppressWarnings(insight::get_variance(m))
    r$icc <- list(adjusted = ic$ICC_adjusted, conditional = ic$ICC_conditional,
                  r2_marginal = unname(r2n$R2_marginal),
                  r2_conditional = unname(r2n$R2_conditional),
                  var_fixed = vars$var.fixed, var_random = vars$var.random,
                  var_distribution = vars$var.distribution)
  }
  if (spec$family == "binomial" && is.null(spec$weights) && !grepl("cbind", spec$formula)) {
    br <- performance::binned_residuals(m)
    r$binned_residuals <- rows(data.frame(xbar = br$xbar, ybar = br$ybar, n = br$n,
                                          x_lo = br$x.lo, x_hi = br$x.hi, se = br$se,
                                          ci_low = br$CI_low, ci_high = br$CI_high,
                                          group = br$group))
  }
  # LRTs: against the null fixed-effects model given, and of each random term
  if (!is.null(spec$null)) {
    m0 <- fit_model(spec, d, spec$null)
    a <- anova(m0, m)
    r$anova <- list(npar = a$npar, logLik = a$logLik, AIC = a$AIC, BIC = a$BIC,
                    Chisq = a$Chisq[2], Df = a$Df[2], p = a[["Pr(>Chisq)"]][2])
  }
  bars <- findbars(as.formula(spec$formula))
  tests <- list()
  for (i in seq_along(bars)) {
    label <- paste0("(", deparse(bars[[i]]), ")")
    rest <- bars[-i]
    fixed <- deparse(nobars(as.formula(spec$formula)))
    if (length(rest)) {
      reduced <- fit_model(spec, d, paste(fixed, "+",
                                          paste0("(", sapply(rest, deparse), ")",
                                                 collapse = " + ")))
    } else {
      fam <- get(spec$family)(link = spec$link)
      reduced <- if (is.null(spec$weights)) glm(as.formula(fixed), fam, d)
                 else glm(as.formula(fixed), fam, d, weights = d[[spec$weights]])
    }
    tests[[label]] <- list(loglik_reduced = as.numeric(logLik(reduced)),
                           lrt = 2 * (as.numeric(logLik(m)) - as.numeric(logLik(reduced))))
  }
  if (name == "bin_slope") {
    reduced <- fit_model(spec, d, "y ~ x + z + (1 | g)")
    tests[["x in (1 + x | g)"]] <- list(
      loglik_reduced = as.numeric(logLik(reduced)),
      lrt = 2 * (as.numeric(logLik(m)) - as.numeric(logLik(reduced))))
  }
  r$random_tests <- tests
  out[[name]] <- r
  message(name, " done")
}

# glm's vcov uses the working weights of its last IRLS step, one step short of the estimates
# (its stop: a relative change of deviance of 1e-8; the SEs then ~1e-4 off): the inverse
# Fisher information at the estimates instead (binomial, Poisson: no dispersion)
se_at_estimate <- function(fit) {
  fam <- family(fit); ok <- !is.na(coef(fit))
  X <- model.matrix(fit)[, ok, drop = FALSE]
  w <- fit$prior.weights * fam$mu.eta(fit$linear.predictors)^2 / fam$variance(fit$fitted.values)
  se <- rep(NA_real_, length(ok)); names(se) <- names(coef(fit))
  se[ok] <- sqrt(diag(solve(crossprod(X * sqrt(w)))))
  se
}

# pooling: complete = glm, none = glm with sum-coded group dummies (the groups whose
# responses are all 0 or all 1 left out: their dummies go to -Inf / +Inf)
pooling <- list()
for (name in c("bacteria", "bin_sep", "epil", "binom_prop")) {
  spec <- M[[name]]
  d <- if (startsWith(spec$data, "case:")) case_data(sub("case:", "", spec$data))
       else sim_data(spec$data)
  fam <- get(spec$family)(link = spec$link)
  fixed <- deparse(nobars(as.formula(spec$formula)))
  g <- spec$group
  w <- if (is.null(spec$weights)) rep(1, nrow(d)) else d[[spec$weights]]
  d$.w <- w
  yv <- model.response(model.frame(as.formula(fixed), d))
  if (is.factor(yv)) yv <- as.numeric(yv != levels(yv)[1])
  share <- tapply(yv, d[[g]], function(v) if (spec$family == "binomial") mean(v) else max(v))
  all0 <- names(share)[share == 0]
  all1 <- if (spec$family == "binomial") names(share)[share == 1] else character(0)
  keep <- !(as.character(d[[g]]) %in% c(all0, all1))
  dk <- droplevels(d[keep, ])
  complete <- glm(as.formula(fixed), fam, d, weights = .w)
  ctr <- list(); ctr[[g]] <- "contr.sum"
  none <- glm(as.formula(paste(fixed, "+", g)), fam, dk, weights = .w, contrasts = ctr)
  m <- fit_model(spec, d)
  cn <- coef(none); levs <- levels(dk[[g]])
  dummies <- cn[paste0(g, seq_len(length(levs) - 1))]
  own <- cn[["(Intercept)"]] + c(dummies, -sum(dummies))
  pooling[[name]] <- list(
    complete = as.list(coef(complete)), complete_se = as.list(se_at_estimate(complete)),
    complete_loglik = as.numeric(logLik(complete)),
    none = as.list(cn[!startsWith(names(cn), g)]),
    none_se = as.list(se_at_estimate(none)[!startsWith(names(cn), g)]),
    none_loglik = as.numeric(logLik(none)), none_npar = attr(logLik(none), "df"),
    own_intercepts = setNames(as.list(unname(own)), levs),
    all_zero = all0, all_one = all1,
    partial_loglik = as.numeric(logLik(m)),
    lrt_groups = 2 * (as.numeric(logLik(none)) - as.numeric(logLik(glm(as.formula(fixed),
                                                                       fam, dk, weights = .w)))))
}

# bootstrap and simulate (distributions, compared within Monte Carlo error)
spec <- M$cbpp; d <- case_data("cbpp_laplace"); m <- fit_model(spec, d)
b <- bootMer(m, function(f) c(fixef(f), sd = sqrt(unlist(VarCorr(f)))), nsim = 500, seed = 1)
boot <- list(mean = as.list(colMeans(b$t)), sd = as.list(apply(b$t, 2, sd)), nsim = 500)
simulate_moments <- list()
for (name in c("cbpp", "epil")) {
  spec <- M[[name]]; d <- case_data(sub("case:", "", spec$data)); m <- fit_model(spec, d)
  for (use_u in c(FALSE, TRUE)) {
    s <- simulate(m, nsim = 4000, seed = 1, use.u = use_u)
    values <- sapply(s, function(v) if (is.matrix(v)) v[, 1] / rowSums(v) else v)
    simulate_moments[[paste(name, if (use_u) "conditional" else "unconditional", sep = "_")]] <-
      list(mean = unname(rowMeans(values)), var = unname(apply(values, 1, var)), nsim = 4000)
  }
}
writeLines(toJSON(list(models = out, pooling = pooling, bootstrap_cbpp = boot,
                       simulate = simulate_moments,
                       software = list(lme4 = as.character(packageVersion("lme4")),
                                       performance = as.character(packageVersion("performance")),
                                       insight = as.character(packageVersion("insight")),
                                       broom.mixed = as.character(packageVersion("broom.mixed")))),
                  digits = 15, auto_unbox = TRUE, na = "null", null = "null"),
           file.path(OUT, "inference.json"))
