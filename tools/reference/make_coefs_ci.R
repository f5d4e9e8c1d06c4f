#!/usr/bin/env Rscript
## make_coefs_ci.R -- lmerTest references for the interval columns of lmmpy's coefs().
##
## Run from the repository root:  Rscript tools/reference/make_coefs_ci.R
## Writes tests/data/coefs/CASE.json: {case, dataset, formula, REML, queries: [{ddf, level,
##   rows: as.data.frame(contest(m, diag(p), joint = FALSE, ddf = ddf, confint = TRUE,
##   level = level)) with the coefficient names}]}: estimate, SE, df, t, lower, upper, p of
## each coefficient, the interval t(df)-based with lmerTest's Satterthwaite df or pbkrtest's
## Kenward-Roger df and adjusted SE.  Needs lme4, lmerTest, pbkrtest, jsonlite.
suppressMessages({
  library(lmerTest); library(jsonlite)
})
out_dir <- "tests/data/coefs"
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)

read_data <- function(name) {
  d <- read.csv(file.path("lmmpy/datasets", paste0(name, ".csv")), stringsAsFactors = TRUE)
  if (name == "sleepstudy") d$Subject <- factor(d$Subject)
  if (name == "cake") d$replicate <- factor(d$replicate)
  d
}

cases <- list(
  list(case = "sleepstudy", dataset = "sleepstudy", REML = TRUE,
       formula = "Reaction ~ Days + (Days | Subject)"),
  list(case = "cake", dataset = "cake", REML = TRUE,
       formula = "angle ~ recipe + temp + (1 | recipe:replicate)")
)
queries <- list(list(ddf = "Satterthwaite", level = 0.95),
                list(ddf = "Kenward-Roger", level = 0.95),
                list(ddf = "Satterthwaite", level = 0.9),
                list(ddf = "Kenward-Roger", level = 0.99))

for (cs in cases) {
  d <- read_data(cs$dataset)
  m <- lmer(as.formula(cs$formula), data = d, REML = cs$REML)
  p <- length(fixef(m))
  out_queries <- lapply(queries, function(q) {
    table <- as.data.frame(contest(m, diag(p), joint = FALSE, ddf = q$ddf, confint = TRUE,
                                   level = q$level))
    table$term <- names(fixef(m))
    q$rows <- lapply(seq_len(nrow(table)), function(i) as.list(table[i, , drop = FALSE]))
    q
  })
  out <- c(cs, list(queries = out_queries,
                    software = list(R = R.version.string,
                                    lmerTest = as.character(packageVersion("lmerTest")),
                                    pbkrtest = as.character(packageVersion("pbkrtest")))))
  write_json(out, file.path(out_dir, paste0(cs$case, ".json")), auto_unbox = TRUE,
             digits = NA, pretty = TRUE, null = "null", na = "null")
}
