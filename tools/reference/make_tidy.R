#!/usr/bin/env Rscript
## make_tidy.R -- broom.mixed references for lmmpy's tidy() and glance().
##
## Run from the repository root:  Rscript tools/reference/make_tidy.R
## Writes tests/data/tidy/CASE.json: {case, formula, dataset, REML, conf_method,
##   tidy: rows of broom.mixed::tidy(m, effects = c("fixed", "ran_pars"), conf.int = TRUE,
##         conf.method = ...), ran_vals: the first 6 rows of tidy(m, effects = "ran_vals"),
##   glance: the one row of broom.mixed::glance(m)}.
## Wald cases are fitted with lmerTest::lmer (so fixed-effect df and p are Satterthwaite's,
## as broom.mixed reports them for lmerModLmerTest objects); profile cases with lme4::lmer,
## whose profile intervals broom.mixed takes from lme4's confint (on an lmerTest fit
## broom.mixed 0.2.9.4 reports other fixed-effect profile limits than confint(m) gives;
## such rows then have no df and p). `fitted_with` records which. Needs lme4, lmerTest,
## broom.mixed, jsonlite (Debian: r-cran-*).
suppressMessages({
  library(lmerTest); library(broom.mixed); library(jsonlite)
})

read_data <- function(name) {
  path <- file.path("lmmpy/datasets", paste0(name, ".csv"))
  d <- read.csv(path, stringsAsFactors = TRUE)
  d
}

cases <- list(
  list(case = "sleepstudy_reml_wald", dataset = "sleepstudy",
       formula = "Reaction ~ Days + (Days | Subject)", REML = TRUE, conf_method = "Wald"),
  list(case = "sleepstudy_uncorr_ml_profile", dataset = "sleepstudy",
       formula = "Reaction ~ Days + (Days || Subject)", REML = FALSE, conf_method = "profile"),
  list(case = "penicillin_reml_wald", dataset = "Penicillin",
       formula = "diameter ~ 1 + (1 | plate) + (1 | sample)", REML = TRUE, conf_method = "Wald"),
  list(case = "sleepstudy_quadratic_reml_wald", dataset = "sleepstudy",
       formula = "Reaction ~ Days + I(Days^2) + (Days + I(Days^2) | Subject)", REML = TRUE,
       conf_method = "Wald")
)

rows <- function(df) {
  df <- as.data.frame(df)
  lapply(seq_len(nrow(df)), function(i) as.list(df[i, , drop = FALSE]))
}

for (cs in cases) {
  d <- read_data(cs$dataset)
  if ("Subject" %in% names(d)) d$Subject <- factor(d$Subject)
  fit <- if (cs$conf_method == "profile") lme4::lmer else lmerTest::lmer
  m <- suppressMessages(suppressWarnings(
    fit(as.formula(cs$formula), data = d, REML = cs$REML)))
  td <- suppressMessages(suppressWarnings(
    tidy(m, effects = c("fixed", "ran_pars"), conf.int = TRUE, conf.method = cs$conf_method)))
  rv <- head(tidy(m, effects = "ran_vals"), 6)
  gl <- glance(m)
  out <- list(case = cs$case, dataset = cs$dataset, formula = cs$formula, REML = cs$REML,
              conf_method = tolower(cs$conf_method),
              fitted_with = if (cs$conf_method == "profile") "lme4" else "lmerTest",
              tidy = rows(td), ran_vals = rows(rv),
              glance = rows(gl)[[1]],
              software = list(R = R.version.string,
                              lme4 = as.character(packageVersion("lme4")),
                              lmerTest = as.character(packageVersion("lmerTest")),
                              broom.mixed = as.character(packageVersion("broom.mixed"))))
  write(toJSON(out, auto_unbox = TRUE, digits = 15, na = "null", null = "null", pretty = TRUE),
        file.path("tests/data/tidy", paste0(cs$case, ".json")))
  cat("wrote", cs$case, "\n")
}
