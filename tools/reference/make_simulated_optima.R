#!/usr/bin/env Rscript
## make_simulated_optima.R -- lme4's optima on the simulated optimizer suite (issue 11).
##
## Run from the repository root, after the data are drawn:
##   python tools/reference/make_simulated_optima.py
##   Rscript tools/reference/make_simulated_optima.R          # ~1 min
## Reads tests/data/simulated_optima/sets.csv and data.csv.gz (see the Python script for
## the simulations) and writes tests/data/simulated_optima/lme4.csv, one row per set:
##   set, loglik (logLik: REML or ML as fitted), objective (lme4's deviance or REML
##   criterion, -2 logLik), singular (isSingular(), tol 1e-4), warned (TRUE when lmer
##   raised a warning: convergence or other), message (the warnings, "; "-joined),
##   theta_1 .. theta_6 (getME(m, "theta") in lme4's order; NA beyond the model's).
## Every fit is lme4's default: lmer(formula, data, REML = reml[, weights = w]) with
## lmerControl() (nloptwrap BOBYQA, restart_edge, boundary.tol 1e-5, checkConv).
## Numbers are written with 17 significant digits.

suppressPackageStartupMessages(library(lme4))

DIR <- "tests/data/simulated_optima"
sets <- read.csv(file.path(DIR, "sets.csv"), stringsAsFactors = FALSE)
data <- read.csv(gzfile(file.path(DIR, "data.csv.gz")))
data$g <- factor(data$g)
N_THETA <- 6

fit_one <- function(row) {
  d <- data[data$set == row$set, ]
  d$g <- droplevels(d$g)
  messages <- character(0)
  fit <- withCallingHandlers(
    if (row$weighted) lmer(as.formula(row$formula), d, REML = row$reml, weights = w)
    else lmer(as.formula(row$formula), d, REML = row$reml),
    warning = function(w) {
      messages <<- c(messages, conditionMessage(w))
      invokeRestart("muffleWarning")
    })
  theta <- getME(fit, "theta")
  out <- data.frame(set = row$set, loglik = as.numeric(logLik(fit)),
                    objective = as.numeric(-2 * logLik(fit)),
                    singular = isSingular(fit), warned = length(messages) > 0,
                    message = paste(gsub("[\r\n]+", " ", messages), collapse = "; "))
  for (i in seq_len(N_THETA)) out[[paste0("theta_", i)]] <- if (i <= length(theta)) theta[[i]] else NA
  out
}

started <- Sys.time()
results <- suppressMessages(do.call(rbind, lapply(seq_len(nrow(sets)), function(i) fit_one(sets[i, ]))))
numeric <- vapply(results, is.double, logical(1))
results[numeric] <- lapply(results[numeric], function(v) ifelse(is.na(v), NA, sprintf("%.17g", v)))
write.csv(results, file.path(DIR, "lme4.csv"), row.names = FALSE, na = "")
cat(sprintf("%d fits (%d singular, %d with warnings) in %.1f s (lme4 %s)\n", nrow(results),
            sum(results$singular), sum(results$warned),
            as.numeric(difftime(Sys.time(), started, units = "secs")),
            as.character(packageVersion("lme4"))))
