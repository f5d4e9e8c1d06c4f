# lme4 on sleepstudy with a shifted response or a shifted fixed-effect predictor
# (issue 11, item 4): the log-likelihood, sigma, theta and beta of each fit.
# Writes tests/data/conditioning/lme4_shifted.json.
#   Rscript tools/reference/make_shifted.R
suppressPackageStartupMessages({library(lme4); library(jsonlite)})
data(sleepstudy, package = "lme4")
fit_row <- function(label, formula, data, reml, shift_y = 0, shift_x = NA) {
  m <- suppressWarnings(suppressMessages(lmer(formula, data, REML = reml)))
  list(label = label, formula = deparse(formula), REML = reml, shift_y = shift_y,
       shift_x = shift_x, logLik = as.numeric(logLik(m)), sigma = sigma(m),
       theta = unname(getME(m, "theta")), beta = as.list(fixef(m)),
       dropped = ncol(model.matrix(m)) < 2)
}
rows <- list()
for (reml in c(TRUE, FALSE)) {
  for (c in c(0, 1e4, 1e8, 1e9, 1.7e9)) {
    d <- transform(sleepstudy, Reaction = Reaction + c)
    rows[[length(rows) + 1]] <- fit_row("response", Reaction ~ Days + (Days | Subject), d,
                                        reml, shift_y = c)
  }
  for (c in c(1e6, 1.7e9)) {
    d <- transform(sleepstudy, t = Days + c)
    rows[[length(rows) + 1]] <- fit_row("predictor", Reaction ~ t + (Days | Subject), d,
                                        reml, shift_x = c)
  }
  # a Unix timestamp of each day: t = 1.7e9 + 86400 Days
  d <- transform(sleepstudy, t = 1.7e9 + 86400 * Days)
  rows[[length(rows) + 1]] <- fit_row("timestamp", Reaction ~ t + (Days | Subject), d,
                                      reml, shift_x = 1.7e9)
}
out <- list(lme4 = as.character(packageVersion("lme4")), R = R.version.string, fits = rows)
writeLines(toJSON(out, auto_unbox = TRUE, digits = I(15), pretty = TRUE),
           "tests/data/conditioning/lme4_shifted.json")
