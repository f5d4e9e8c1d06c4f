#!/usr/bin/env Rscript
## make_emmeans_glmm.R -- R emmeans references for lmmpy's emmeans() of glmer fits.
##
## Run from the repository root:  Rscript tools/reference/make_emmeans_glmm.R
## Writes tests/data/emmeans_glmm/CASE.json: {case, dataset or csv, formula, family, link,
##   logLik, queries: [{id, specs, by, type ("link" | "response"), method, adjust, infer,
##   rows: as.data.frame(summary(...))}]}.  emmeans' df for glmer fits are asymptotic (Inf,
##   written null).  With type = "response" the means are back-transformed (SE by the delta
##   method, intervals from the link scale); contrasts of a log or logit link become ratios.
## The simulated data set tests/data/emmeans_glmm/counts.csv (made here, fixed seed): counts of
## 30 subjects in 3 arms at 3 visits, with a subject random intercept.
## The fits use bobyqa alone with tight tolerances: lme4's default two-stage optimizer stops
## short on cbpp (logLik -92.02657 against -92.02628), which lmmpy reaches, and emmeans'
## numbers are then compared at the same optimum.
## Needs lme4, emmeans, jsonlite (Debian: r-cran-*).
suppressMessages({
  library(lme4); library(emmeans); library(jsonlite)
})
out_dir <- "tests/data/emmeans_glmm"
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)

simulate_counts <- function() {
  set.seed(20261204)
  n_subject <- 30
  subject <- sprintf("s%02d", seq_len(n_subject))
  arm <- rep(c("control", "drug", "placebo"), each = n_subject / 3)
  d <- expand.grid(visit = c("v1", "v2", "v3"), subject = subject, stringsAsFactors = FALSE)
  i <- match(d$subject, subject)
  d$arm <- arm[i]
  eta <- 1.2 + c(control = 0, drug = -0.5, placebo = 0.1)[d$arm] +
    c(v1 = 0, v2 = 0.2, v3 = 0.3)[d$visit] + rnorm(n_subject, 0, 0.4)[i]
  d$count <- rpois(nrow(d), exp(eta))
  d[, c("subject", "arm", "visit", "count")]
}

rows <- function(df) {
  df <- as.data.frame(df)
  for (column in names(df)) if (is.factor(df[[column]])) df[[column]] <- as.character(df[[column]])
  lapply(seq_len(nrow(df)), function(i) as.list(df[i, , drop = FALSE]))
}

run_query <- function(m, q) {
  args <- list(object = m, specs = q$specs, type = q$type)
  if (!is.null(q$by)) args$by <- q$by
  em <- do.call(emmeans, args)
  result <- if (!is.null(q$method)) {
    contrast_args <- list(em, method = q$method)
    if (!is.null(q$adjust)) contrast_args$adjust <- q$adjust
    summary(do.call(contrast, contrast_args),
            infer = if (isTRUE(q$infer)) c(TRUE, TRUE) else c(FALSE, TRUE))
  } else summary(em)
  q$rows <- rows(result)
  q
}

queries <- function(specs, by = NULL) list(
  list(specs = specs, by = by, type = "link"),
  list(specs = specs, by = by, type = "response"),
  list(specs = specs, by = by, type = "link", method = "pairwise"),
  list(specs = specs, by = by, type = "response", method = "pairwise"),
  list(specs = specs, by = by, type = "response", method = "trt.vs.ctrl"),
  list(specs = specs, by = by, type = "response", method = "eff", adjust = "holm"),
  list(specs = specs, by = by, type = "response", method = "pairwise", infer = TRUE),
  list(specs = specs, by = by, type = "link", method = "trt.vs.ctrl", adjust = "sidak",
       infer = TRUE))

cbpp <- read.csv("lmmpy/datasets/cbpp.csv", stringsAsFactors = TRUE)
cbpp$period <- factor(cbpp$period)
cbpp$herd <- factor(cbpp$herd)
cases <- list(
  list(case = "cbpp", dataset = "cbpp", family = "binomial", link = "logit",
       formula = "cbind(incidence, size - incidence) ~ period + (1 | herd)",
       queries = queries("period")),
  list(case = "cbpp_probit", dataset = "cbpp", family = "binomial", link = "probit",
       formula = "cbind(incidence, size - incidence) ~ period + (1 | herd)",
       queries = queries("period")),
  list(case = "counts", csv = "counts.csv", family = "poisson", link = "log",
       formula = "count ~ arm + visit + (1 | subject)",
       queries = c(queries("arm"), queries("visit", by = "arm")))
)

for (cs in cases) {
  if (!is.null(cs$csv)) {
    write.csv(simulate_counts(), file.path(out_dir, cs$csv), row.names = FALSE)
    d <- read.csv(file.path(out_dir, cs$csv), stringsAsFactors = TRUE)
  } else d <- cbpp
  family <- get(cs$family)(link = cs$link)
  m <- glmer(as.formula(cs$formula), data = d, family = family,
             control = glmerControl(optimizer = "bobyqa", optCtrl = list(maxfun = 1e5),
                                    tolPwrss = 1e-10))
  qs <- lapply(seq_along(cs$queries), function(i)
    c(list(id = sprintf("%s_%02d", cs$case, i)), run_query(m, cs$queries[[i]])))
  out <- list(case = cs$case, dataset = cs$dataset, csv = cs$csv, formula = cs$formula,
              family = cs$family, link = cs$link, logLik = as.numeric(logLik(m)),
              queries = qs,
              software = list(R = R.version.string,
                              lme4 = as.character(packageVersion("lme4")),
                              emmeans = as.character(packageVersion("emmeans"))))
  write_json(out, file.path(out_dir, paste0(cs$case, ".json")), auto_unbox = TRUE,
             digits = NA, pretty = TRUE, null = "null", na = "null")
  cat("wrote", cs$case, "\n")
}
