#!/usr/bin/env Rscript
## make_glmm_uncentred.R -- lme4's glmer on GLMMs with a random slope on a covariate far
## from centred (lmmpy issue 11/12: the optimizer works on centred, scaled columns).
##
## Run from the repository root:  Rscript tools/reference/make_glmm_uncentred.R
##
## 12 sets, set.seed(500 + s): 20-35 groups of 8-14 rows, z ~ N(0, 1), random intercept SD
## 0.8 and slope SD 0.5 (on z); binomial logit for odd s, Poisson log for even s; the
## covariate x = location + spread * z with location 500 (s = 1..4), 1e4 (5..8) or 0
## (9..12, a control), spread 100, 10 or 1 by s %% 3.  Each set is fitted by
## glmer(y ~ x + (x | g)) on x as given and on x centred (x - mean(x): the same model);
## recorded: logLik, fixef (the centred fit's intercept mapped back to x's origin) and
## the slope's standard error of each (as_given is {error: message} where lme4 fails on x as
## given, as it does on some of these sets: "Downdated VtV is not positive definite").
## Writes tests/data/glmm_uncentred/data.csv.gz and sets.json.
suppressPackageStartupMessages({library(lme4); library(jsonlite)})

fit_summary <- function(m, mu = 0) {
  beta <- fixef(m)
  se <- sqrt(diag(as.matrix(vcov(m))))
  if (mu != 0) beta["(Intercept)"] <- beta["(Intercept)"] - mu * beta["x"]
  list(loglik = as.numeric(logLik(m)), fixef = as.list(beta), slope_se = unname(se[2]),
       messages = I(as.character(m@optinfo$conv$lme4$messages)))
}

draw <- function(s) {
  set.seed(500 + s)
  G <- sample(20:35, 1)
  g <- rep(seq_len(G), sample(8:14, G, replace = TRUE))
  z <- rnorm(length(g))
  eta <- -0.3 + 0.6 * z + rnorm(G, 0, 0.8)[g] + rnorm(G, 0, 0.5)[g] * z
  family <- if (s %% 2) "binomial" else "poisson"
  y <- if (family == "binomial") rbinom(length(g), 1, plogis(eta)) else
    rpois(length(g), exp(eta))
  location <- c(500, 1e4, 0)[(s - 1) %/% 4 + 1]
  spread <- c(100, 10, 1)[s %% 3 + 1]
  data.frame(set = s, family = family, y = y, x = signif(location + spread * z, 12),
             g = sprintf("G%02d", g))
}

sets <- lapply(1:12, draw)
fits <- lapply(sets, function(d) {
  d$g <- factor(d$g)
  family <- d$family[1]
  fit <- function(data) suppressWarnings(suppressMessages(
    glmer(y ~ x + (x | g), data, family = family)))
  mu <- mean(d$x)
  centred <- transform(d, x = x - mu)
  as_given <- tryCatch(fit_summary(fit(d)), error = function(e) list(error = conditionMessage(e)))
  list(set = d$set[1], family = family, n_obs = nrow(d),
       as_given = as_given, centred = fit_summary(fit(centred), mu),
       software = paste("lme4", packageVersion("lme4")))
})
out <- "tests/data/glmm_uncentred"
dir.create(out, showWarnings = FALSE, recursive = TRUE)
con <- gzfile(file.path(out, "data.csv.gz"), "w")
write.csv(do.call(rbind, sets), con, row.names = FALSE)
close(con)
writeLines(toJSON(fits, auto_unbox = TRUE, digits = NA, pretty = TRUE),
           file.path(out, "sets.json"))
cat("wrote", length(fits), "sets\n")
