#!/usr/bin/env Rscript
## make_names_predict.R -- lme4 references for column names that are formula functions
## and for predict(re.form = ...) (lmmpy issue 11, items 2 and 3).
##
## Run from the repository root (same set-up as make_reference.R, whose functions it uses):
##     Rscript tools/reference/make_names_predict.R
##
## Writes
##   tests/data/extra_datasets/RatPupWeight.csv  nlme::RatPupWeight (nlme 3.1-162): weight,
##       sex (levels Male, Female), Litter (1..27, a plain factor here; nlme's is ordered
##       by litter mean, irrelevant for a grouping factor), Lsize, Treatment (ordered
##       Control < Low < High).
##   tests/data/extra_datasets/sim_center.csv  simulated, set.seed(11): 20 groups C
##       ("G01".."G20") x 8 obs; center an ordered factor low < mid < high < max drawn
##       uniformly, scale ~ N(0, 1); y = 2 + 0.5 * code(center) - 0.3 * scale + b_C + e,
##       b_C ~ N(0, 1), e ~ N(0, 0.5^2); center is NA in row 7 and scale in row 30
##       (na.omit drops both: n_obs 158). y, scale rounded to 6 decimals.
##   tests/data/extra_cases/ratpup_reml.json, sim_center_na_reml.json  fit cases in the
##       schema of make_reference.R (factors with their levels in R's order), each with an
##       extra field predict_re_form (below).
##   tests/data/extra_cases/predict_re_form.json  (no "kind": not a fit case)
##       {model: {formula, dataset, data_file, REML, factors, rows, predictions}} for
##       Penicillin (two terms), sleepstudy (Days | Subject), Pastes (1 | batch/cask)
##       and RatPupWeight, where
##       predictions = [{re_form, allow_new_levels, values}] are lme4's
##       predict(m, newdata = rows, re.form = ..., allow.new.levels = TRUE,
##       na.action = na.pass) (NA -> null).  rows: a few rows of the data, one with a
##       new level of each grouping factor, and one with a missing value (NA in a numeric
##       column, or in a grouping factor: lme4 1.1-31's predict fails with "non-conformable
##       arguments" on an NA in a fixed-effect factor, so none is recorded).

source("tools/reference/make_reference.R")

## read_data with explicit level orders (cs$levels) for the columns that have them
read_data <- function(cs) {
  path <- data_path(cs$dataset)
  dat <- read.csv(path, stringsAsFactors = FALSE)
  for (col in names(cs$factors)) {
    x <- dat[[col]]
    lev <- cs$levels[[col]]
    if (is.null(lev))
      lev <- if (is.numeric(x)) as.character(sort(unique(x))) else sort(unique(x), method = "radix")
    dat[[col]] <- factor(ifelse(is.na(x), NA, as.character(x)), levels = lev,
                         ordered = identical(unname(cs$factors[col]), "ordered"))
  }
  list(data = dat, path = path)
}

make_names_datasets <- function() {
  data("RatPupWeight", package = "nlme", envir = environment())
  rp <- as.data.frame(RatPupWeight)
  write_csv(data.frame(weight = rp$weight, sex = as.character(rp$sex),
                       Litter = as.integer(as.character(rp$Litter)), Lsize = rp$Lsize,
                       Treatment = as.character(rp$Treatment)), "RatPupWeight")

  set.seed(11)
  n_g <- 20; n_per <- 8; n <- n_g * n_per
  g <- rep(seq_len(n_g), each = n_per)
  lev <- c("low", "mid", "high", "max")
  center <- sample(lev, n, replace = TRUE)
  scale <- rnorm(n)
  b <- rnorm(n_g)
  y <- 2 + 0.5 * (match(center, lev) - 1) - 0.3 * scale + b[g] + rnorm(n, 0, 0.5)
  center[7] <- NA
  scale[30] <- NA
  write_csv(data.frame(y = round(y, 6), center = center, scale = round(scale, 6),
                       C = sprintf("G%02d", g)), "sim_center")
}

NAMES_CASES <- list(
  list(case = "ratpup_reml", dataset = "RatPupWeight",
       formula = "weight ~ Treatment + sex + Lsize + (1 | Litter)", REML = TRUE,
       factors = c(Treatment = "ordered", sex = "factor", Litter = "factor"),
       levels = list(Treatment = c("Control", "Low", "High"), sex = c("Male", "Female")),
       missing = "Lsize",
       notes = "nlme::RatPupWeight: Treatment is an ordered factor named like formulaic's Treatment() contrast: polynomial contrasts (Treatment.L, Treatment.Q); sex levels Male, Female"),
  list(case = "sim_center_na_reml", dataset = "sim_center",
       formula = "y ~ center + scale + (1 | C)", REML = TRUE,
       factors = c(center = "ordered", C = "factor"),
       levels = list(center = c("low", "mid", "high", "max")), missing = "scale",
       notes = "simulated (set.seed(11), see tools/reference/make_names_predict.R): columns named like formulaic's center(), scale() and C(); center is an ordered factor (polynomial contrasts) with an NA in row 7 and scale has an NA in row 30: na.omit drops both (n_obs 158)")
)

## prediction rows: rows 1, n %/% 2, n of the data kept; one row with every grouping
## column set to a new level; one row with a missing value (in missing_column)
prediction_frame <- function(m, dat, missing_column) {
  keep <- complete.cases(dat[, all.vars(formula(m)), drop = FALSE])
  d <- dat[keep, , drop = FALSE]
  n <- nrow(d)
  rows <- d[c(1, n %/% 2, n, 2, 3), , drop = FALSE]
  for (col in grouping_columns(m)) {
    levels(rows[[col]]) <- c(levels(rows[[col]]), "NEW")
    rows[[col]][4] <- "NEW"
  }
  rows[[missing_column]][5] <- NA
  rownames(rows) <- NULL
  rows
}

re_form_predictions <- function(m, rows, re_forms) {
  lapply(re_forms, function(rf) {
    form <- if (identical(rf, "NULL")) NULL else if (identical(rf, "NA")) NA else as.formula(rf)
    p <- predict(m, newdata = rows, re.form = form, allow.new.levels = TRUE,
                 na.action = na.pass)
    list(re_form = rf, allow_new_levels = TRUE, values = arr(unname(as.numeric(p))))
  })
}

rows_json <- function(rows) {
  lapply(seq_len(nrow(rows)), function(i)
    lapply(rows[i, , drop = FALSE], function(v) if (is.factor(v)) as.character(v) else v))
}

PREDICT_MODELS <- list(
  list(model = "penicillin_two_terms", dataset = "Penicillin",
       formula = "diameter ~ 1 + (1 | plate) + (1 | sample)", REML = TRUE,
       factors = c(plate = "factor", sample = "factor"), missing = "plate",
       re_forms = c("NULL", "NA", "~(1 | plate)", "~(1 | sample)", "~0")),
  list(model = "sleepstudy_slope", dataset = "sleepstudy",
       formula = "Reaction ~ Days + (Days | Subject)", REML = TRUE,
       factors = c(Subject = "factor"), missing = "Days",
       re_forms = c("NULL", "NA", "~(1 | Subject)", "~(0 + Days | Subject)")),
  list(model = "pastes_nested", dataset = "Pastes",
       formula = "strength ~ 1 + (1 | batch/cask)", REML = TRUE,
       factors = c(batch = "factor", cask = "factor"), missing = "cask",
       re_forms = c("NULL", "NA", "~(1 | batch)", "~(1 | cask:batch)", "~(1 | batch/cask)")),
  list(model = "ratpup", dataset = "RatPupWeight",
       formula = "weight ~ Treatment + sex + Lsize + (1 | Litter)", REML = TRUE,
       factors = c(Treatment = "ordered", sex = "factor", Litter = "factor"),
       levels = list(Treatment = c("Control", "Low", "High"), sex = c("Male", "Female")),
       missing = "Lsize", re_forms = c("NULL", "NA", "~(1 | Litter)"))
)

predict_model <- function(pm) {
  rd <- read_data(pm)
  env <- new.env(parent = globalenv()); env$dat <- rd$data
  m <- eval(bquote(lme4::lmer(.(as.formula(pm$formula)), data = dat, REML = .(pm$REML))), env)
  rows <- prediction_frame(m, rd$data, pm$missing)
  factors <- lapply(names(pm$factors), function(col) list(
    ordered = is.ordered(rd$data[[col]]), levels = arr(levels(rd$data[[col]]))))
  names(factors) <- names(pm$factors)
  list(formula = pm$formula, dataset = pm$dataset, data_file = basename(rd$path),
       REML = pm$REML, factors = factors, rows = rows_json(rows),
       predictions = re_form_predictions(m, rows, pm$re_forms))
}

names_main <- function() {
  make_names_datasets()
  for (cs in NAMES_CASES) {
    res <- fit_case(cs)
    pm <- modifyList(cs, list(re_forms = c("NULL", "NA", sprintf("~(1 | %s)", tail(names(cs$factors), 1)))))
    pm$case <- NULL
    res$predict_re_form <- predict_model(pm)
    f <- write_case(res, OUT_DIR)
    message(sprintf("%-22s n=%d logLik=%.6f -> %s", cs$case, res$n_obs, res$loglik, f))
  }
  out <- lapply(PREDICT_MODELS, predict_model)
  names(out) <- vapply(PREDICT_MODELS, function(pm) pm$model, "")
  out$software <- software()
  js <- toJSON(out, auto_unbox = TRUE, null = "null", na = "null", digits = I(15), pretty = TRUE)
  writeLines(js, file.path(OUT_DIR, "predict_re_form.json"))
  message("predict_re_form.json: ", paste(names(out), collapse = ", "))
}

names_main()
