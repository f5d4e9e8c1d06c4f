#!/usr/bin/env Rscript
## make_glmm_unseen.R -- lme4's glmer on 38 simulated GLMMs written the way users write them
## (lmmpy issue 12, acceptance: "the same checks run on GLMMs you have not seen").
##
## Run from the repository root:  Rscript tools/reference/make_glmm_unseen.R
##
## Set s (1..38) is drawn with set.seed(3000 + s) from the specification in SPECS:
##  * families and links: binomial logit / probit / cloglog, Poisson log / sqrt, Gamma log /
##    inverse, inverse Gaussian log and 1/mu^2;
##  * binomial responses as a 0/1 column, a two-level factor (first level the failure), a
##    logical, cbind(successes, failures), cbind(successes, trials - successes) and a
##    proportion with weights = trials;
##  * offsets as offset(log(exposure)) in the formula or offset = log(exposure);
##  * random intercepts, correlated (x | g) and uncorrelated (x || g) slopes, crossed
##    (1 | g) + (1 | h) and nested (1 | g/h) terms; 8-25 groups of 3-40 rows;
##  * a fixed factor (2-3 levels) and a covariate; a few missing values in the covariate,
##    the factor and the response; column names taken from formula functions (center,
##    scale, log, C, poly) for the grouping factor, the covariate and the factor;
##  * nAGQ = 1 mostly, 5 (single scalar term) or 0 for some;
##  * sets 31-38: a factor-by-covariate interaction (with and without the factor's main
##    effect), poly(x, 2) and log(x) in the fixed part, a covariate far from centred (age),
##    binomial rows with no trials (cbind(0, 0)), a random slope on a factor, an
##    integer-coded grouping factor.
## lme4 fits each set three times: glmer's defaults, bobyqa in both stages with tight
## tolerances (tolPwrss 1e-10, rhoend 1e-9, maxfun 1e5), and Nelder-Mead in both stages
## (set 9: the first two stop on a boundary 4.3 log-likelihood units below the optimum that
## Nelder-Mead, and lmmpy, reach).  Each fit's parameters are then
## evaluated by lme4's own criterion with PIRLS converged (devFunOnly, tolPwrss 1e-12:
## the reported logLik is up to ~2e-3 off it; recorded for each fit with its (theta, beta));
## the best fit by that criterion is recorded in full
## ("best"): logLik (reported and tight), deviance(), theta, fixef, vcov's SEs, SEs from a
## Richardson (numDeriv) Hessian of the tight criterion over (theta, beta), VarCorr,
## fitted and residual (deviance, pearson) heads, predictions on new rows (four rows of the
## data and one with new levels of every grouping factor; re.form NULL and NA, link and
## response; allow.new.levels = TRUE) and lme4's convergence messages.
##
## Writes tests/data/glmm_unseen/data.csv.gz (all sets, long, generic columns named per set
## in sets.json) and tests/data/glmm_unseen/sets.json.
suppressPackageStartupMessages({library(lme4); library(jsonlite); library(numDeriv)})

## fixed: the fixed part, %F the factor and %X the covariate; covariate: "standard" (z),
## "age" (50 + 10 z, far from centred), "positive" (exp(z / 2), for log(%X));
## zero_trials: some binomial rows with no trials (cbind(0, 0): weight 0); integer_groups:
## the grouping factor coded 1, 2, ... (a numeric column, factor() in R)
S <- function(family, link, form, re, nagq = 1, offset = "none", fixed = "%F + %X",
              covariate = "standard", zero_trials = FALSE, integer_groups = FALSE)
  list(family = family, link = link, form = form, re = re, nagq = nagq, offset = offset,
       fixed = fixed, covariate = covariate, zero_trials = zero_trials,
       integer_groups = integer_groups)
SPECS <- list(
  S("binomial", "logit", "binary", "int"),
  S("binomial", "logit", "factor", "slope"),
  S("binomial", "probit", "cbind", "int", nagq = 5),
  S("binomial", "cloglog", "prop", "int"),
  S("binomial", "logit", "cbind_expr", "crossed"),
  S("binomial", "logit", "logical", "nested"),
  S("binomial", "probit", "binary", "uncorr"),
  S("binomial", "logit", "prop", "int", nagq = 0),
  S("binomial", "cloglog", "binary", "slope"),
  S("binomial", "logit", "cbind", "slope"),
  S("binomial", "logit", "binary", "int", nagq = 5),
  S("binomial", "probit", "factor", "crossed", nagq = 0),
  S("poisson", "log", "count", "int", offset = "formula"),
  S("poisson", "log", "count", "slope", offset = "argument"),
  S("poisson", "log", "count", "crossed"),
  S("poisson", "sqrt", "count", "int"),
  S("poisson", "log", "count", "int", nagq = 5, offset = "formula"),
  S("poisson", "log", "count", "nested", offset = "argument"),
  S("poisson", "log", "count", "uncorr"),
  S("poisson", "log", "count", "int", nagq = 0, offset = "formula"),
  S("poisson", "sqrt", "count", "slope"),
  S("poisson", "log", "count", "crossed", nagq = 0),
  S("Gamma", "log", "positive", "int"),
  S("Gamma", "log", "positive", "slope"),
  S("Gamma", "inverse", "positive", "int"),
  S("Gamma", "log", "positive", "crossed"),
  S("Gamma", "log", "positive", "uncorr", offset = "formula"),
  S("inverse.gaussian", "log", "positive", "int"),
  S("inverse.gaussian", "1/mu^2", "positive", "int"),
  S("binomial", "logit", "cbind", "nested", nagq = 0),
  S("binomial", "logit", "binary", "int", fixed = "%F * %X", covariate = "age",
    integer_groups = TRUE),
  S("poisson", "log", "count", "int", fixed = "%F + poly(%X, 2)", offset = "formula"),
  S("binomial", "logit", "cbind", "int", zero_trials = TRUE),
  S("Gamma", "log", "positive", "int", fixed = "%F + log(%X)", covariate = "positive"),
  S("binomial", "logit", "binary", "fslope"),
  S("Gamma", "log", "positive", "crossed", nagq = 0),
  S("binomial", "probit", "prop", "int", nagq = 5, fixed = "%F + log(%X)",
    covariate = "positive"),
  S("poisson", "log", "count", "slope", fixed = "%F:%X + %X", covariate = "age",
    offset = "argument"))

GROUP_NAMES <- c("center", "scale", "log", "C", "poly", "g", "subject")
COVARIATE_NAMES <- c("x", "log", "scale", "center", "poly", "C")
FACTOR_NAMES <- c("trt", "C", "poly", "center", "f")
SECOND_NAMES <- c("site", "h", "scale", "item")

pick <- function(choices, s, avoid = character(0)) {
  free <- setdiff(choices, avoid)
  free[(s - 1) %% length(free) + 1]
}

q <- function(name) if (make.names(name) == name) name else paste0("`", name, "`")

## an inverse Gaussian draw (Michael, Schucany & Haas 1976)
rinvgauss <- function(mu, lambda) {
  n <- length(mu)
  y <- rnorm(n)^2
  x <- mu + mu^2 * y / (2 * lambda) - mu / (2 * lambda) * sqrt(4 * mu * lambda * y + mu^2 * y^2)
  ifelse(runif(n) <= mu / (mu + x), x, mu^2 / x)
}

linear_predictor <- function(sp, z, fcode, gi, hi, n_g, n_h) {
  positive <- sp$link %in% c("sqrt", "inverse", "1/mu^2")
  base <- switch(sp$link, sqrt = 2.2, inverse = 1.2, "1/mu^2" = 0.8, 0)
  scale <- if (positive) 0.15 else 1
  b0 <- rnorm(n_g) * runif(1, 0.3, 1.2) * scale
  b1 <- rnorm(n_g) * runif(1, 0.1, 0.5) * scale
  bh <- rnorm(n_h) * runif(1, 0.3, 0.9) * scale
  eta <- base + scale * (-0.2 + 0.5 * z + 0.4 * (fcode - 1)) + b0[gi]
  if (sp$re %in% c("slope", "uncorr")) eta <- eta + b1[gi] * z
  if (sp$re %in% c("crossed", "nested")) eta <- eta + bh[hi]
  if (sp$re == "fslope") eta <- eta + (b1 / scale)[gi] * (fcode > 1)
  if (positive) pmax(eta, 0.2) else eta
}

draw_set <- function(s) {
  sp <- SPECS[[s]]
  set.seed(3000 + s)
  grp <- pick(GROUP_NAMES, s)
  cov <- pick(COVARIATE_NAMES, s + 1, grp)
  fac <- pick(FACTOR_NAMES, s + 2, c(grp, cov))
  second <- pick(SECOND_NAMES, s, c(grp, cov, fac))
  n_g <- sample(8:25, 1)
  sizes <- sample(3:40, n_g, replace = TRUE)
  gi <- rep(seq_len(n_g), sizes)
  n <- length(gi)
  n_lev <- sample(2:3, 1)
  lev <- c("a", "b", "c")[seq_len(n_lev)]
  fcode <- sample(seq_len(n_lev), n, replace = TRUE)
  z <- round(rnorm(n), 6)
  if (sp$re == "nested") {
    within <- sample(c("A", "B", "C"), n, replace = TRUE)
    hkey <- paste(gi, within)
    hi <- match(hkey, unique(hkey))
    hlabel <- within
  } else {
    n_h <- sample(4:9, 1)
    hi <- sample(seq_len(n_h), n, replace = TRUE)
    hlabel <- sprintf("S%d", hi)
  }
  eta <- linear_predictor(sp, z, fcode, gi, hi, n_g, max(hi))
  exposure <- round(runif(n, 0.5, 3), 4)
  if (sp$offset != "none") eta <- eta + log(exposure)
  fam <- get(sp$family)(link = sp$link)
  mu <- fam$linkinv(eta)
  d <- data.frame(set = s, y = NA_real_, yf = NA_character_, succ = NA_real_,
                  fail = NA_real_, trials = NA_real_,
                  x = switch(sp$covariate, standard = z, age = 50 + 10 * z,
                             positive = signif(exp(z / 2), 10)), f = lev[fcode],
                  g = sprintf("G%02d", gi), h = hlabel, exposure = exposure)
  if (sp$family == "binomial" && sp$form %in% c("binary", "factor", "logical")) {
    yy <- rbinom(n, 1, mu)
    if (sp$form == "binary") d$y <- yy
    if (sp$form == "factor") d$yf <- c("absent", "present")[yy + 1]
    if (sp$form == "logical") d$yf <- c("FALSE", "TRUE")[yy + 1]
  } else if (sp$family == "binomial") {
    d$trials <- sample(if (sp$zero_trials) 0:6 else 1:12, n, replace = TRUE)
    d$succ <- rbinom(n, d$trials, mu)
    d$fail <- d$trials - d$succ
    if (sp$form == "prop") d$y <- d$succ / d$trials
  } else if (sp$family == "poisson") {
    d$y <- rpois(n, mu)
  } else if (sp$family == "Gamma") {
    d$y <- signif(rgamma(n, shape = 4, rate = 4 / mu), 10)
  } else {
    d$y <- signif(rinvgauss(mu, 2), 10)
  }
  missing_x <- sample(n, 2)
  if (!grepl("poly(", sp$fixed, fixed = TRUE)) d$x[missing_x] <- NA   # R's poly() refuses NA
  d$f[sample(n, 1)] <- NA
  response_col <- switch(sp$form, binary = "y", count = "y", positive = "y", prop = "y",
                         factor = "yf", logical = "yf", "succ")
  d[[response_col]][sample(n, 1)] <- NA
  response <- switch(sp$form, binary = "y", count = "y", positive = "y", prop = "y",
                     factor = "y", logical = "y", cbind = "cbind(succ, fail)",
                     cbind_expr = "cbind(succ, trials - succ)")
  re <- switch(sp$re,
    int = sprintf("(1 | %s)", q(grp)),
    slope = sprintf("(%s | %s)", q(cov), q(grp)),
    uncorr = sprintf("(%s || %s)", q(cov), q(grp)),
    crossed = sprintf("(1 | %s) + (1 | %s)", q(grp), q(second)),
    nested = sprintf("(1 | %s/%s)", q(grp), q(second)),
    fslope = sprintf("(%s | %s)", q(fac), q(grp)))
  fixed <- gsub("%X", q(cov), gsub("%F", q(fac), sp$fixed, fixed = TRUE), fixed = TRUE)
  if (sp$integer_groups) d$g <- gi
  formula <- sprintf("%s ~ %s%s + %s", response, fixed,
                     if (sp$offset == "formula") " + offset(log(exposure))" else "", re)
  ## generic column -> the set's name (unused columns left out)
  columns <- c(if (sp$form %in% c("factor", "logical")) c(yf = "y") else
                 if (response == "y") c(y = "y"),
               if (grepl("cbind", sp$form)) c(succ = "succ"),
               if (sp$form == "cbind") c(fail = "fail"),
               if (sp$form %in% c("prop", "cbind_expr")) c(trials = "trials"),
               c(x = cov, f = fac, g = grp),
               if (sp$re %in% c("crossed", "nested")) c(h = second),
               if (sp$offset != "none") c(exposure = "exposure"))
  list(spec = sp, set = s, data = d, formula = formula, columns = columns,
       groups = c(grp, if (sp$re %in% c("crossed", "nested")) second),
       factor = fac, factor_levels = lev, covariate = cov)
}

## the set's data as R fits it: generic columns renamed, factors, the response's form
as_model_frame <- function(st) {
  d <- st$data[, names(st$columns), drop = FALSE]
  names(d) <- unname(st$columns)
  if (st$spec$form == "factor") d$y <- factor(d$y)
  if (st$spec$form == "logical") d$y <- as.logical(d$y)
  for (col in st$groups) d[[col]] <- factor(d[[col]])
  d[[st$factor]] <- factor(d[[st$factor]], levels = st$factor_levels)
  d
}

prediction_rows <- function(st, d) {
  kept <- d[complete.cases(d), , drop = FALSE]
  rows <- kept[1:5, , drop = FALSE]
  for (col in st$groups) {
    levels(rows[[col]]) <- c(levels(rows[[col]]), "NEW")
    rows[[col]][5] <- "NEW"
  }
  rownames(rows) <- NULL
  rows
}

glmer_call <- function(st, d, control, devFunOnly = FALSE) {
  sp <- st$spec
  args <- list(formula = as.formula(st$formula), data = d,
               family = get(sp$family)(link = sp$link), nAGQ = sp$nagq, control = control,
               devFunOnly = devFunOnly)
  if (sp$form == "prop") args$weights <- d$trials
  if (sp$offset == "argument") args$offset <- log(d$exposure)
  ## weights/offset given as vectors: rows with a missing value elsewhere are dropped with
  ## them by model.frame (na.omit), as with columns
  do.call(glmer, args)
}

tight_control <- function() glmerControl(optimizer = "bobyqa", tolPwrss = 1e-10,
                                        optCtrl = list(maxfun = 1e5, rhoend = 1e-9))

fit_once <- function(st, d, control) {
  warned <- character(0)
  m <- withCallingHandlers(
    tryCatch(glmer_call(st, d, control), error = function(e) e),
    warning = function(w) { warned <<- c(warned, conditionMessage(w)); invokeRestart("muffleWarning") },
    message = function(msg) invokeRestart("muffleMessage"))
  if (inherits(m, "error")) return(list(error = conditionMessage(m)))
  list(model = m, warnings = warned)
}

parameters_of <- function(m, nagq) {
  if (nagq == 0) unname(getME(m, "theta")) else unname(c(getME(m, "theta"), fixef(m)))
}

summary_of <- function(m, st, d, devfun, warned) {
  nagq <- st$spec$nagq
  par <- parameters_of(m, nagq)
  rows <- prediction_rows(st, d)
  pred <- function(form, type) {
    args <- list(m, newdata = rows, re.form = form, allow.new.levels = TRUE, type = type)
    unname(as.numeric(do.call(predict, args)))
  }
  se_tight <- NULL
  if (nagq > 0) {
    H <- numDeriv::hessian(devfun, par)
    nt <- length(getME(m, "theta"))
    V <- tryCatch(2 * solve(H)[-(1:nt), -(1:nt), drop = FALSE], error = function(e) NULL)
    if (!is.null(V) && all(diag(V) > 0)) se_tight <- as.list(setNames(sqrt(diag(V)), names(fixef(m))))
  }
  vc <- as.data.frame(VarCorr(m))
  list(loglik = as.numeric(logLik(m)), objective_tight = devfun(par),
       deviance = deviance(m), theta = I(unname(getME(m, "theta"))),
       theta_names = I(names(getME(m, "theta"))),
       fixef = as.list(fixef(m)), fixef_se = as.list(sqrt(diag(as.matrix(vcov(m))))),
       fixef_se_tight = se_tight, sigma = sigma(m), singular = isSingular(m),
       varcorr = lapply(seq_len(nrow(vc)), function(i) list(
         grp = vc$grp[i], var1 = if (is.na(vc$var1[i])) NULL else vc$var1[i],
         var2 = if (is.na(vc$var2[i])) NULL else vc$var2[i], vcov = vc$vcov[i],
         sdcor = vc$sdcor[i])),
       fitted_head = I(unname(fitted(m)[1:10])),
       residuals_head = list(deviance = I(unname(residuals(m, type = "deviance")[1:10])),
                             pearson = I(unname(residuals(m, type = "pearson")[1:10]))),
       predict = list(link_all = pred(NULL, "link"), link_none = pred(NA, "link"),
                      response_all = pred(NULL, "response"),
                      response_none = pred(NA, "response")),
       messages = I(as.character(m@optinfo$conv$lme4$messages)),
       warnings = I(warned),
       prediction_rows = lapply(seq_len(nrow(rows)), function(i)
         lapply(rows[i, , drop = FALSE], function(v) if (is.factor(v)) as.character(v) else v)))
}

fit_set <- function(st) {
  d <- as_model_frame(st)
  fits <- list(default = fit_once(st, d, glmerControl()),
               bobyqa_tight = fit_once(st, d, tight_control()),
               nelder_mead = fit_once(st, d, glmerControl(optimizer = "Nelder_Mead",
                                                          optCtrl = list(maxfun = 1e5))))
  devfun <- glmer_call(st, d, glmerControl(tolPwrss = 1e-12), devFunOnly = TRUE)
  ok <- Filter(function(f) is.null(f$error), fits)
  tight <- sapply(ok, function(f) devfun(parameters_of(f$model, st$spec$nagq)))
  best <- names(ok)[which.min(tight)]
  out <- list(set = st$set, family = st$spec$family, link = st$spec$link,
              form = st$spec$form, re = st$spec$re, nagq = st$spec$nagq,
              offset = st$spec$offset, formula = st$formula, columns = as.list(st$columns),
              groups = I(st$groups), factor = st$factor, factor_levels = I(st$factor_levels),
              covariate = st$covariate, integer_groups = st$spec$integer_groups,
              n_obs = nobs(ok[[best]]$model),
              fits = lapply(names(fits), function(name) list(
                name = name, error = fits[[name]]$error,
                loglik = if (name %in% names(ok)) as.numeric(logLik(fits[[name]]$model)),
                objective_tight = if (name %in% names(ok)) unname(tight[name]),
                parameters = if (name %in% names(ok))
                  I(parameters_of(fits[[name]]$model, st$spec$nagq)),
                warnings = I(fits[[name]]$warnings))),
              best_fit = best,
              best = summary_of(ok[[best]]$model, st, d, devfun, ok[[best]]$warnings),
              software = paste("lme4", packageVersion("lme4")))
  cat(sprintf("set %2d %-16s %-8s %-10s %-8s nAGQ %d n %4d best %-12s logLik %.6f\n",
              st$set, st$spec$family, st$spec$link, st$spec$form, st$spec$re, st$spec$nagq,
              out$n_obs, best, out$best$loglik))
  out
}

sets <- lapply(seq_along(SPECS), draw_set)
fits <- lapply(sets, fit_set)
outdir <- "tests/data/glmm_unseen"
dir.create(outdir, showWarnings = FALSE, recursive = TRUE)
long <- do.call(rbind, lapply(sets, function(st) st$data))
con <- gzfile(file.path(outdir, "data.csv.gz"), "w")
write.csv(long, con, row.names = FALSE, na = "")
close(con)
writeLines(toJSON(fits, auto_unbox = TRUE, digits = NA, null = "null", na = "null",
                  pretty = TRUE), file.path(outdir, "sets.json"))
cat("wrote", length(fits), "sets\n")
