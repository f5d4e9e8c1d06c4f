#!/usr/bin/env Rscript
## make_unseen_trust.R -- lme4 on simulated data sets written the way users write them
## (lmmpy issue 11, "the same checks also run on cases you have not seen").
##
## Run from the repository root:  Rscript tools/reference/make_unseen_trust.R
##
## 36 data sets, set.seed(1000 + s) for s = 1..36, each drawn with its own choices:
##  * column names taken from formula functions and contrast names: the grouping factor
##    is one of log, center, scale, C, poly, Sum, Treatment, g; the fixed factor one of
##    Treatment, center, Poly, Sum, Helmert, C (3 or 4 levels, ordered in every other set:
##    polynomial contrasts); the covariate one of scale, log, poly, C, center, x;
##  * 6-25 groups of 3-12 rows (unbalanced); a second, crossed grouping factor `site`
##    (4-8 levels) in every third set;
##  * a random slope on the covariate in every other set (correlated; uncorrelated `||`
##    in every fifth set);
##  * the covariate uncentred (location 0, 1e3 or 1e6 ± its scale 1 or 50) and the
##    response shifted by 0, 1e6 or 1e9 (set-dependent);
##  * a few missing values in the covariate and the factor (rows dropped by na.omit);
##  * REML for odd s, ML for even s.
## For each set lme4 1.1-31 fits lmer(); recorded: n_obs, logLik, the REML criterion or
## deviance (objective = -2 logLik), theta, fixef, sigma, and predictions on new rows
## (rows 1..4 of the data kept, a row with a new level of every grouping factor, a row
## with a missing covariate; allow.new.levels = TRUE, na.action = na.pass) with
## re.form NULL (all terms) and NA (none).
##
## Writes tests/data/unseen_trust/data.csv.gz (all sets, long: set plus the set's own
## columns, named in sets.json) and tests/data/unseen_trust/sets.json.
suppressPackageStartupMessages({library(lme4); library(jsonlite)})

GROUP_NAMES <- c("log", "center", "scale", "C", "poly", "Sum", "Treatment", "g")
FACTOR_NAMES <- c("Treatment", "center", "Poly", "Sum", "Helmert", "C")
COVARIATE_NAMES <- c("scale", "log", "poly", "C", "center", "x")

pick <- function(choices, s, avoid) {
  free <- setdiff(choices, avoid)
  free[(s - 1) %% length(free) + 1]
}

draw_set <- function(s) {
  set.seed(1000 + s)
  grp <- pick(GROUP_NAMES, s, character(0))
  fac <- pick(FACTOR_NAMES, s + 1, grp)
  cov <- pick(COVARIATE_NAMES, s + 2, c(grp, fac))
  n_g <- sample(6:25, 1)
  sizes <- sample(3:12, n_g, replace = TRUE)
  gi <- rep(seq_len(n_g), sizes)
  n <- length(gi)
  n_lev <- sample(3:4, 1)
  lev <- c("a", "b", "c", "d")[seq_len(n_lev)]
  f <- sample(lev, n, replace = TRUE)
  z <- rnorm(n)
  location <- c(0, 1e3, 1e6)[(s %% 3) + 1]
  spread <- if (s %% 4 == 0) 50 else 1
  x <- location + spread * z
  slope <- s %% 2 == 0
  crossed <- s %% 3 == 0
  b0 <- rnorm(n_g) * runif(1, 0.2, 1.5)
  b1 <- if (slope) rnorm(n_g) * runif(1, 0, 0.5) else rep(0, n_g)
  y <- 1 + 0.4 * z + 0.3 * (match(f, lev) - 1) + b0[gi] + b1[gi] * z + rnorm(n)
  d <- data.frame(y = y + c(0, 1e6, 1e9)[((s + 1) %% 3) + 1],
                  g = sprintf("G%02d", gi), f = f, x = x)
  if (crossed) {
    site <- sample(sprintf("S%d", seq_len(sample(4:8, 1))), n, replace = TRUE)
    d$site <- site
    d$y <- d$y + rnorm(length(unique(site)))[match(site, sort(unique(site)))]
  }
  d$x[sample(n, 2)] <- NA
  d$f[sample(n, 1)] <- NA
  d$y <- signif(d$y, 15)
  d$x <- signif(d$x, 12)
  names(d)[match(c("g", "f", "x"), names(d))] <- c(grp, fac, cov)
  q <- function(name) if (make.names(name) == name) name else paste0("`", name, "`")
  re <- if (!slope) sprintf("(1 | %s)", q(grp)) else if (s %% 5 == 0)
    sprintf("(%s || %s)", q(cov), q(grp)) else sprintf("(%s | %s)", q(cov), q(grp))
  formula <- sprintf("y ~ %s + %s + %s%s", q(fac), q(cov), re,
                     if (crossed) " + (1 | site)" else "")
  ordered <- s %% 2 == 1
  list(set = s, data = d, formula = formula, REML = s %% 2 == 1, group = grp,
       factor = fac, factor_levels = lev, ordered = ordered, covariate = cov,
       groups = c(grp, if (crossed) "site"))
}

as_model_frame <- function(st) {
  d <- st$data
  for (col in st$groups) d[[col]] <- factor(d[[col]])
  d[[st$factor]] <- factor(d[[st$factor]], levels = st$factor_levels, ordered = st$ordered)
  d
}

prediction_rows <- function(st, d) {
  kept <- d[complete.cases(d), , drop = FALSE]
  rows <- kept[1:6, , drop = FALSE]
  for (col in st$groups) {
    levels(rows[[col]]) <- c(levels(rows[[col]]), "NEW")
    rows[[col]][5] <- "NEW"
  }
  rows[[st$covariate]][6] <- NA
  rownames(rows) <- NULL
  rows
}

## theta of the fit on the covariate centred (x - mu), in the coordinates of x: for the
## correlated term with the covariate, Sigma = C Sigma_c C' with C = [[1, -mu], [0, 1]]
## (the columns [1, x - mu] are [1, x] C), and T the lower-triangular factor of
## (C T_c)(C T_c)' by a QR factorisation (no product squared); other terms unchanged.
## inverse = TRUE maps the other way (C^-1 = [[1, mu], [0, 1]]).
map_theta <- function(theta, st, mu, inverse = FALSE) {
  idx <- grep(paste0("^", st$group, "\\."), names(theta))
  if (length(idx) != 3) return(theta)   # no correlated (x | g) term: nothing changes
  T <- matrix(c(theta[idx[1]], theta[idx[2]], 0, theta[idx[3]]), 2, 2)
  C <- matrix(c(1, 0, if (inverse) mu else -mu, 1), 2, 2)
  qrM <- qr(t(C %*% T))
  R <- qr.R(qrM)
  L <- t(R) %*% diag(ifelse(diag(R) < 0, -1, 1))
  theta[idx] <- c(L[1, 1], L[2, 1], abs(L[2, 2]))
  theta
}

summary_of <- function(m, rows, mu, st) {
  beta <- fixef(m)
  if (mu != 0) beta["(Intercept)"] <- beta["(Intercept)"] - mu * beta[st$covariate]
  predict_with <- function(form) unname(as.numeric(predict(
    m, newdata = rows, re.form = form, allow.new.levels = TRUE, na.action = na.pass)))
  list(loglik = as.numeric(logLik(m)), objective = as.numeric(-2 * logLik(m)),
       theta = I(unname(map_theta(getME(m, "theta"), st, mu))), fixef = as.list(beta),
       sigma = sigma(m), singular = isSingular(m),
       messages = I(as.character(m@optinfo$conv$lme4$messages)),
       predict_all = predict_with(NULL), predict_none = predict_with(NA))
}

## lme4 on the data as given, and on the covariate centred: the same model (the columns'
## span is the same) unless the covariate is in an uncorrelated `||` term, where centring
## changes the model; lme4 is exact only on the centred one when the covariate is far from
## centred.  `exact_objective_at_theta`: the centred fit's devfun at the as-given fit's
## theta (mapped), the criterion at that theta without lme4's lost digits.
fit_set <- function(st) {
  d <- as_model_frame(st)
  formula <- as.formula(st$formula)
  fit <- function(data) suppressWarnings(suppressMessages(lmer(formula, data, REML = st$REML)))
  m <- fit(d)
  rows <- prediction_rows(st, d)
  out <- list(set = st$set, formula = st$formula, REML = st$REML, group = st$group,
              groups = I(st$groups), factor = st$factor, factor_levels = st$factor_levels,
              ordered = st$ordered, covariate = st$covariate, n_obs = nobs(m),
              prediction_rows = lapply(seq_len(nrow(rows)), function(i)
                lapply(rows[i, , drop = FALSE],
                       function(v) if (is.factor(v)) as.character(v) else v)),
              as_given = summary_of(m, rows, 0, st), centred = NULL,
              exact_objective_at_theta = NA, software = paste("lme4", packageVersion("lme4")))
  if (!grepl("||", st$formula, fixed = TRUE)) {
    used <- complete.cases(d[, all.vars(formula)])
    mu <- mean(d[[st$covariate]][used])
    d2 <- d
    d2[[st$covariate]] <- d2[[st$covariate]] - mu
    rows2 <- rows
    rows2[[st$covariate]] <- rows2[[st$covariate]] - mu
    out$centred <- summary_of(fit(d2), rows2, mu, st)
    devfun <- lmer(formula, data = d2, REML = st$REML, devFunOnly = TRUE)
    out$exact_objective_at_theta <- devfun(map_theta(getME(m, "theta"), st, mu, inverse = TRUE))
  }
  out
}

sets <- lapply(1:36, draw_set)
fits <- lapply(sets, fit_set)
out <- "tests/data/unseen_trust"
dir.create(out, showWarnings = FALSE, recursive = TRUE)
long <- do.call(rbind, lapply(sets, function(st) {
  d <- st$data
  names(d)[match(c(st$group, st$factor, st$covariate), names(d))] <- c("g", "f", "x")
  if (is.null(d$site)) d$site <- NA
  cbind(set = st$set, d[, c("y", "g", "f", "x", "site")])
}))
con <- gzfile(file.path(out, "data.csv.gz"), "w")
write.csv(long, con, row.names = FALSE, na = "")
close(con)
writeLines(toJSON(fits, auto_unbox = TRUE, digits = NA, null = "null", na = "null",
                  pretty = TRUE), file.path(out, "sets.json"))
cat("wrote", length(fits), "sets\n")
