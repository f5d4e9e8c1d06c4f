#!/usr/bin/env Rscript
## make_emmeans.R -- R emmeans references for lmmpy's emmeans(), emtrends() and pairs().
##
## Run from the repository root:  Rscript tools/reference/make_emmeans.R
## Writes tests/data/emmeans/CASE.json:
##   {case, dataset (a bundled data set) or csv (a file beside the JSON), formula, REML,
##    drop (rows of the data set left out: those with all these values), logLik, theta, queries: [{id, what ("emmeans" | "emtrends" | "pairs"), specs, by, at, var,
##    ddf, adjust, weights, method (a contrast family or a list of custom contrasts; then
##    contrast(em, method, ref, adjust) instead of pairs(em)), ref, infer (TRUE: the
##    contrasts' simultaneous intervals too, summary(..., infer = c(TRUE, TRUE))),
##    rows: as.data.frame(summary(...))}]}
## cake_missing_cell leaves out recipe C at 225 degrees: an empty cell of the interaction, so
## some marginal means are not estimable (R's "nonEst", null here).
## The simulated data sets tests/data/emmeans/*.csv (made here, with fixed seeds):
##   schools  -- pupils in 40 schools, a school-level 3-level `sector`, a pupil-level `ses`;
##   clinics  -- an unbalanced repeated-measures trial: treat x visit, age, 15% visits missing;
##   growth   -- a quadratic in x with a log(w) covariate, fitted by ML;
##   trial    -- an unbalanced multi-centre trial: treatment x sex, a 0/1 smoker covariate
##               and age, so that emmeans' weights ("proportional", "cells", ...) matter.
## `ddf` is emmeans' lmer.df ("kenward-roger", "satterthwaite", "asymptotic"); the default
## limits (pbkrtest.limit = lmerTest.limit = 3000) do not bind on these data.
## Needs lme4, lmerTest, pbkrtest, emmeans, jsonlite (Debian: r-cran-*).
suppressMessages({
  library(lme4); library(emmeans); library(jsonlite)
})
out_dir <- "tests/data/emmeans"
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)

simulate_schools <- function() {
  set.seed(20261202)
  n_school <- 40
  sector <- rep(c("public", "catholic", "private"), length.out = n_school)
  size <- sample(8:22, n_school, replace = TRUE)
  school <- rep(sprintf("s%02d", seq_len(n_school)), size)
  sec <- rep(sector, size)
  u0 <- rep(rnorm(n_school, 0, 2), size)
  u1 <- rep(rnorm(n_school, 0, 0.7), size)
  ses <- round(rnorm(length(school), ifelse(sec == "public", -0.3, 0.2), 0.9), 3)
  shift <- c(public = 0, catholic = 2.5, private = 1.5)[sec]
  slope <- c(public = 2.8, catholic = 1.4, private = 2.0)[sec]
  mathach <- round(12 + shift + (slope + u1) * ses + u0 + rnorm(length(school), 0, 5), 3)
  data.frame(school, sector = sec, ses, mathach)
}

simulate_clinics <- function() {
  set.seed(13)
  n_patient <- 36
  patient <- sprintf("p%02d", seq_len(n_patient))
  treat <- rep(c("control", "high", "low"), each = n_patient / 3)
  age <- round(runif(n_patient, 30, 70))
  d <- expand.grid(visit = sprintf("v%d", 1:4), patient = patient, stringsAsFactors = FALSE)
  i <- match(d$patient, patient)
  d$treat <- treat[i]
  d$age <- age[i]
  effect <- c(control = 0, high = 1.2, low = 0.5)[d$treat] * (as.integer(substr(d$visit, 2, 2)) - 1)
  d$score <- round(20 + effect + 0.08 * d$age + rnorm(n_patient, 0, 2)[i] +
                   rnorm(nrow(d), 0, 1.5), 3)
  d <- d[runif(nrow(d)) > 0.15, ]
  d[, c("patient", "treat", "visit", "age", "score")]
}

simulate_growth <- function() {
  set.seed(7)
  n_id <- 30
  id <- sprintf("id%02d", seq_len(n_id))
  group <- rep(c("a", "b"), each = n_id / 2)
  d <- expand.grid(x = 0:6, id = id, stringsAsFactors = FALSE)
  j <- match(d$id, id)
  d$group <- group[j]
  d$w <- round(exp(rnorm(nrow(d), 1, 0.4)), 3)
  d$y <- round(5 + ifelse(d$group == "b", 1, 0) + (1.5 + ifelse(d$group == "b", 0.6, 0)) * d$x -
               0.12 * d$x^2 + 0.8 * log(d$w) + rnorm(n_id, 0, 1)[j] + rnorm(n_id, 0, 0.3)[j] * d$x +
               rnorm(nrow(d), 0, 0.8), 3)
  d[, c("id", "group", "x", "w", "y")]
}

simulate_trial <- function() {
  set.seed(20261203)
  n_center <- 12
  size <- sample(10:30, n_center, replace = TRUE)
  center <- rep(sprintf("c%02d", seq_len(n_center)), size)
  n <- length(center)
  treatment <- sample(c("placebo", "low", "high"), n, replace = TRUE, prob = c(0.5, 0.3, 0.2))
  sex <- ifelse(runif(n) < ifelse(treatment == "high", 0.7, 0.4), "F", "M")
  smoker <- as.integer(runif(n) < 0.3)
  age <- round(runif(n, 25, 75))
  effect <- c(placebo = 0, low = 1.5, high = 2.5)[treatment] +
    ifelse(sex == "F", 0.8, 0) + ifelse(sex == "F" & treatment == "high", 1, 0)
  y <- round(10 + effect - 1.2 * smoker + 0.03 * age + rnorm(n_center, 0, 1)[match(center,
             sprintf("c%02d", seq_len(n_center)))] + rnorm(n, 0, 1.5), 3)
  data.frame(center, treatment, sex, smoker, age, y)
}

read_bundled <- function(name) {
  d <- read.csv(file.path("lmmpy/datasets", paste0(name, ".csv")), stringsAsFactors = TRUE)
  if (name == "cake") {
    d$replicate <- factor(d$replicate)
    d$temperature <- factor(d$temperature, ordered = TRUE)
  }
  d
}

rows <- function(df) {
  df <- as.data.frame(df)
  for (column in names(df)) if (is.factor(df[[column]])) df[[column]] <- as.character(df[[column]])
  lapply(seq_len(nrow(df)), function(i) as.list(df[i, , drop = FALSE]))
}

run_query <- function(m, q) {
  args <- list(object = m, specs = q$specs, lmer.df = q$ddf)
  if (!is.null(q$by)) args$by <- q$by
  if (!is.null(q$at)) args$at <- q$at
  if (!is.null(q$weights)) args$weights <- q$weights
  if (q$what == "emtrends") {
    args$var <- q$var
    em <- do.call(emtrends, args)
  } else {
    em <- do.call(emmeans, args)
  }
  infer <- if (isTRUE(q$infer)) c(TRUE, TRUE) else c(FALSE, TRUE)
  result <- if (!is.null(q$method)) {
    contrast_args <- list(em, method = q$method)
    if (!is.null(q$ref)) contrast_args$ref <- q$ref
    if (!is.null(q$adjust)) contrast_args$adjust <- q$adjust
    summary(do.call(contrast, contrast_args), infer = infer)
  } else if (is.null(q$adjust)) summary(em) else
    summary(pairs(em), adjust = q$adjust, infer = infer)
  q$rows <- rows(result)
  q
}

cases <- list(
  list(case = "cake", dataset = "cake", REML = TRUE,
       formula = "angle ~ recipe * temperature + (1 | recipe:replicate)",
       queries = c(
         lapply(c("kenward-roger", "satterthwaite", "asymptotic"), function(ddf)
           list(what = "emmeans", specs = "recipe", ddf = ddf)),
         lapply(c("tukey", "holm"), function(adjust)
           list(what = "emmeans", specs = "recipe", ddf = "kenward-roger", adjust = adjust)),
         list(list(what = "emmeans", specs = "temperature", by = "recipe",
                   ddf = "kenward-roger"),
              list(what = "emmeans", specs = "temperature", by = "recipe",
                   ddf = "kenward-roger", adjust = "tukey"),
              list(what = "emmeans", specs = "recipe", ddf = "satterthwaite", adjust = "tukey"),
              list(what = "emmeans", specs = c("recipe", "temperature"),
                   ddf = "kenward-roger"),
              list(what = "emmeans", specs = "recipe", ddf = "asymptotic", adjust = "tukey"),
              list(what = "emmeans", specs = "recipe", ddf = "kenward-roger", method = "eff"),
              list(what = "emmeans", specs = "recipe", ddf = "kenward-roger",
                   method = "revpairwise"),
              list(what = "emmeans", specs = "temperature", by = "recipe",
                   ddf = "satterthwaite", method = "trt.vs.ctrl"),
              list(what = "emmeans", specs = "recipe", ddf = "kenward-roger", adjust = "scheffe"),
              list(what = "emmeans", specs = "recipe", ddf = "kenward-roger", adjust = "sidak"),
              list(what = "emmeans", specs = "temperature", ddf = "asymptotic",
                   method = "trt.vs.ctrl", adjust = "scheffe"),
              list(what = "emmeans", specs = "recipe", ddf = "kenward-roger", method = "eff",
                   adjust = "tukey"),
              list(what = "emmeans", specs = "recipe", ddf = "kenward-roger", adjust = "tukey",
                   infer = TRUE),
              list(what = "emmeans", specs = "recipe", ddf = "kenward-roger", adjust = "holm",
                   infer = TRUE),
              list(what = "emmeans", specs = "recipe", ddf = "satterthwaite",
                   adjust = "scheffe", infer = TRUE),
              list(what = "emmeans", specs = "temperature", by = "recipe",
                   ddf = "kenward-roger", adjust = "sidak", infer = TRUE),
              list(what = "emmeans", specs = "recipe", ddf = "asymptotic", adjust = "none",
                   infer = TRUE)))),
  list(case = "cake_missing_cell", dataset = "cake", REML = TRUE,
       drop = list(recipe = "C", temperature = "225"),
       formula = "angle ~ recipe * temperature + (1 | recipe:replicate)",
       queries = list(
         list(what = "emmeans", specs = "recipe", ddf = "kenward-roger"),
         list(what = "emmeans", specs = "recipe", ddf = "kenward-roger", adjust = "tukey"),
         list(what = "emmeans", specs = "temperature", by = "recipe", ddf = "satterthwaite"),
         list(what = "emmeans", specs = "temperature", by = "recipe", ddf = "satterthwaite",
              adjust = "holm"),
         list(what = "emmeans", specs = c("recipe", "temperature"), ddf = "asymptotic",
              adjust = "tukey"))),
  list(case = "schools", csv = "schools.csv", REML = TRUE, make = simulate_schools,
       formula = "mathach ~ sector * ses + (ses | school)",
       queries = c(
         lapply(c("kenward-roger", "satterthwaite", "asymptotic"), function(ddf)
           list(what = "emmeans", specs = "sector", ddf = ddf)),
         lapply(c("tukey", "holm"), function(adjust)
           list(what = "emmeans", specs = "sector", ddf = "kenward-roger", adjust = adjust)),
         lapply(c("kenward-roger", "satterthwaite"), function(ddf)
           list(what = "emmeans", specs = "sector", by = "ses", at = list(ses = c(-1, 1)),
                ddf = ddf)),
         list(list(what = "emmeans", specs = "sector", by = "ses", at = list(ses = c(-1, 1)),
                   ddf = "kenward-roger", adjust = "tukey")),
         lapply(c("kenward-roger", "satterthwaite", "asymptotic"), function(ddf)
           list(what = "emtrends", specs = "sector", var = "ses", ddf = ddf)),
         list(list(what = "emtrends", specs = "sector", var = "ses", ddf = "kenward-roger",
                   adjust = "tukey")))),
  list(case = "clinics", csv = "clinics.csv", REML = TRUE, make = simulate_clinics,
       formula = "score ~ treat * visit + age + (1 | patient)",
       queries = c(
         lapply(c("kenward-roger", "satterthwaite"), function(ddf)
           list(what = "emmeans", specs = "treat", ddf = ddf)),
         list(list(what = "emmeans", specs = c("treat", "visit"), ddf = "satterthwaite"),
              list(what = "emmeans", specs = "visit", by = "treat", ddf = "kenward-roger",
                   adjust = "bonferroni"),
              list(what = "emmeans", specs = "treat", ddf = "satterthwaite", adjust = "none"),
              list(what = "emmeans", specs = "treat", at = list(age = 60),
                   ddf = "kenward-roger", adjust = "holm"),
              list(what = "emtrends", specs = "treat", var = "age", ddf = "kenward-roger"),
              list(what = "emmeans", specs = "treat", ddf = "kenward-roger",
                   weights = "proportional"),
              list(what = "emmeans", specs = "treat", ddf = "satterthwaite", weights = "cells"),
              list(what = "emmeans", specs = "treat", ddf = "satterthwaite", weights = "outer"),
              list(what = "emmeans", specs = "treat", ddf = "satterthwaite", weights = "flat"),
              list(what = "emmeans", specs = "visit", by = "treat", ddf = "kenward-roger",
                   weights = "cells"),
              list(what = "emmeans", specs = "treat", ddf = "kenward-roger",
                   weights = "proportional", adjust = "tukey"),
              list(what = "emmeans", specs = "treat", ddf = "kenward-roger",
                   method = "trt.vs.ctrl", ref = "low"),
              list(what = "emmeans", specs = "visit", by = "treat", ddf = "kenward-roger",
                   method = "trt.vs.ctrl"),
              list(what = "emmeans", specs = "visit", by = "treat", ddf = "satterthwaite",
                   adjust = "fdr"),
              list(what = "emmeans", specs = "visit", ddf = "satterthwaite", adjust = "hochberg"),
              list(what = "emmeans", specs = "visit", ddf = "satterthwaite", adjust = "BY"),
              list(what = "emmeans", specs = "visit", ddf = "satterthwaite", method = "eff",
                   adjust = "bonferroni"),
              list(what = "emmeans", specs = "treat", ddf = "kenward-roger",
                   method = list("active - control" = c(-1, 0.5, 0.5),
                                 "high - low" = c(0, 1, -1))),
              list(what = "emmeans", specs = "visit", by = "treat", ddf = "kenward-roger",
                   adjust = "tukey", infer = TRUE),
              list(what = "emmeans", specs = "treat", ddf = "kenward-roger",
                   method = "trt.vs.ctrl", adjust = "sidak", infer = TRUE),
              list(what = "emmeans", specs = "visit", ddf = "satterthwaite", method = "eff",
                   adjust = "fdr", infer = TRUE)))),
  list(case = "growth", csv = "growth.csv", REML = FALSE, make = simulate_growth,
       formula = "y ~ group * (x + I(x^2)) + log(w) + (x | id)",
       queries = c(
         lapply(c("satterthwaite", "asymptotic"), function(ddf)
           list(what = "emmeans", specs = "group", ddf = ddf)),
         list(list(what = "emtrends", specs = "group", var = "x", ddf = "satterthwaite"),
              list(what = "emtrends", specs = "group", var = "x", ddf = "satterthwaite",
                   adjust = "tukey"),
              list(what = "emmeans", specs = "group", by = "x", at = list(x = c(0, 3, 6)),
                   ddf = "satterthwaite", adjust = "none"),
              list(what = "emtrends", specs = "group", var = "w", ddf = "asymptotic")))),
  list(case = "trial", csv = "trial.csv", REML = TRUE, make = simulate_trial,
       formula = "y ~ treatment * sex + smoker + age + (1 | center)",
       queries = list(
         list(what = "emmeans", specs = "treatment", ddf = "kenward-roger"),
         list(what = "emmeans", specs = "treatment", ddf = "kenward-roger",
              weights = "proportional"),
         list(what = "emmeans", specs = "treatment", ddf = "kenward-roger", weights = "outer"),
         list(what = "emmeans", specs = "treatment", ddf = "satterthwaite", weights = "cells"),
         list(what = "emmeans", specs = "sex", ddf = "satterthwaite", weights = "proportional"),
         list(what = "emmeans", specs = "treatment", by = "sex", ddf = "kenward-roger",
              weights = "proportional"),
         list(what = "emmeans", specs = "treatment", ddf = "kenward-roger",
              method = "trt.vs.ctrl", ref = "placebo"),
         list(what = "emmeans", specs = "treatment", ddf = "kenward-roger",
              weights = "proportional", method = "trt.vs.ctrl", ref = "placebo"),
         list(what = "emmeans", specs = "treatment", by = "sex", ddf = "satterthwaite",
              method = "revpairwise", adjust = "holm"),
         list(what = "emmeans", specs = c("treatment", "sex"), ddf = "kenward-roger",
              adjust = "scheffe"),
         list(what = "emmeans", specs = "treatment", ddf = "asymptotic", method = "eff"),
         list(what = "emtrends", specs = "treatment", var = "age", ddf = "kenward-roger",
              weights = "cells")))
)

for (cs in cases) {
  if (!is.null(cs$csv)) {
    d <- cs$make()
    write.csv(d, file.path(out_dir, cs$csv), row.names = FALSE)
    d <- read.csv(file.path(out_dir, cs$csv), stringsAsFactors = TRUE)
  } else {
    d <- read_bundled(cs$dataset)
    if (!is.null(cs$drop)) {
      dropped <- Reduce(`&`, lapply(names(cs$drop), function(v) d[[v]] == cs$drop[[v]]))
      d <- droplevels(d[!dropped, ])
    }
  }
  m <- lmer(as.formula(cs$formula), data = d, REML = cs$REML)
  queries <- lapply(seq_along(cs$queries), function(i) {
    q <- run_query(m, cs$queries[[i]])
    c(list(id = sprintf("%s_%02d", cs$case, i)), q)
  })
  out <- list(case = cs$case, dataset = cs$dataset, csv = cs$csv, drop = cs$drop,
              formula = cs$formula,
              REML = cs$REML, logLik = as.numeric(logLik(m)),
              theta = as.numeric(getME(m, "theta")), queries = queries,
              software = list(R = R.version.string,
                              lme4 = as.character(packageVersion("lme4")),
                              emmeans = as.character(packageVersion("emmeans")),
                              pbkrtest = as.character(packageVersion("pbkrtest")),
                              lmerTest = as.character(packageVersion("lmerTest"))))
  write_json(out, file.path(out_dir, paste0(cs$case, ".json")), auto_unbox = TRUE,
             digits = NA, pretty = TRUE, null = "null", na = "null")
  cat("wrote", cs$case, "\n")
}
