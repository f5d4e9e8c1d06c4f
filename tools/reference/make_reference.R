#!/usr/bin/env Rscript
## make_reference.R -- extra lme4 reference fits for lmmpy.
##
## Run from the repository root:
##     Rscript tools/reference/make_reference.R             # all CASES below
##     Rscript tools/reference/make_reference.R CASE ...    # only these
##     Rscript tools/reference/make_reference.R --check     # refit CHECK_CASES
##         (duplicates of tests/data/cases/*.json) into a scratch directory
##         and compare them with the committed reference files
##
## Writes
##   tests/data/extra_datasets/*.csv   the small data sets the cases need
##                                     (regenerated every run; see make_datasets())
##   tests/data/extra_cases/CASE.json  one lme4 fit per case, in the schema of
##                                     tests/data/cases (see /work/shared/reference/README.md
##                                     or tools/reference/README.md)
##
## Needs R with lme4, lmerTest, pbkrtest, jsonlite, nlme (Debian: r-cran-*).
## Data sets are read from tests/data/extra_datasets/ first, then lmmpy/datasets/;
## every fit is computed on the data as read back from the CSV file.
##
## Data sources
##   Machines.csv           nlme::Machines (nlme 3.1-162; = MEMSS::Machines), columns
##                          Worker, Machine, score. nlme stores Worker as an ordered
##                          factor ordered by mean score; here Worker is a plain factor
##                          with levels 1..6 (ordered-ness is irrelevant for a
##                          grouping factor; only the level order of ranef changes).
##   sleepstudy_w.csv       lmmpy/datasets/sleepstudy.csv (= lme4::sleepstudy) plus
##                          w = 1 + (Days %% 3) (prior weights), o = Days / 10 (offset),
##                          ReactionNA = Reaction with rows 5, 50, 77 set to NA.
##   sim_three_level.csv    simulated, set.seed(1): 8 regions x 4 sites x 5 units x 3 obs,
##                          region/site/unit effects N(0, 2^2), N(0, 1.5^2), N(0, 1),
##                          x ~ N(0, 1), y = 10 + 0.5 x + effects + N(0, 1) noise.
##                          site / unit labels are re-used across regions / sites
##                          (implicit nesting, hence region/site/unit in the formula).
##                          x and y are rounded to 6 decimals before writing.
##   sim_singular_slope.csv simulated, set.seed(2): 30 groups x 10 obs, random
##                          intercept only (sd 2), x ~ N(0, 1), y = 5 + x + b_g + N(0, 1).
##                          x, y rounded to 6 decimals. (Not singular for this draw:
##                          the slope SD is estimated at 0.156; recorded as is.)
##   sleepstudy, cake, Penicillin: lmmpy/datasets/*.csv (lme4's bundled data).

suppressPackageStartupMessages({
  library(lme4)
  library(lmerTest)
  library(pbkrtest)
  library(jsonlite)
})

## The committed files were made with Debian's reference (netlib) BLAS/LAPACK, as were
## tests/data/cases. With OpenBLAS installed as the system alternative, run
##   R_LD_LIBRARY_PATH=/usr/lib/R/lib:/usr/lib/x86_64-linux-gnu/blas:/usr/lib/x86_64-linux-gnu/lapack:/usr/lib/x86_64-linux-gnu Rscript ...
## (results then differ in the last digits, profile intervals at ~1e-6).
## lme4's results also depend on memory alignment (address-space randomisation): e.g.
## Penicillin's theta takes one of two values differing at ~1e-10 from run to run.
## The committed files were made with ASLR off, which makes runs repeatable:
##   setarch x86_64 -R Rscript tools/reference/make_reference.R
if (!grepl("/blas/libblas", extSoftVersion()[["BLAS"]], fixed = TRUE))
  message("NOTE: BLAS is ", extSoftVersion()[["BLAS"]], ", not the reference BLAS the committed files were made with")

OUT_DIR  <- "tests/data/extra_cases"
DATA_DIR <- "tests/data/extra_datasets"
MAIN_DATA_DIR <- "lmmpy/datasets"
REF_DIR  <- "tests/data/cases"     # existing reference fits (for --check)

## ---------------------------------------------------------------------------
## Cases.  factors: column -> "factor" | "ordered" (levels: sorted numerically
## for numeric-looking columns, else in C-locale order).
## ---------------------------------------------------------------------------
CASES <- list(
  list(case = "machines_reml", dataset = "Machines",
       formula = "score ~ Machine + (1 | Worker) + (1 | Worker:Machine)", REML = TRUE,
       factors = c(Worker = "factor", Machine = "factor")),
  list(case = "machines_catlhs_reml", dataset = "Machines",
       formula = "score ~ Machine + (0 + Machine | Worker)", REML = TRUE,
       factors = c(Worker = "factor", Machine = "factor"),
       notes = "categorical variable on the left of the bar: the random-effects model matrix of (0 + Machine | Worker) has one indicator column per Machine level (MachineA, MachineB, MachineC), a 3x3 unstructured covariance per Worker"),
  list(case = "sleepstudy_two_terms_reml", dataset = "sleepstudy",
       formula = "Reaction ~ Days + (1 | Subject) + (0 + Days | Subject)", REML = TRUE,
       factors = c(Subject = "factor"),
       notes = "two random-effects terms on the same grouping factor: ngrps and ranef have one entry Subject (columns (Intercept), Days); varcorr has groups Subject and Subject.1"),
  list(case = "sleepstudy_weights_reml", dataset = "sleepstudy_w",
       formula = "Reaction ~ Days + (Days | Subject)", REML = TRUE, weights = "w",
       factors = c(Subject = "factor")),
  list(case = "sleepstudy_offset_ml", dataset = "sleepstudy_w",
       formula = "Reaction ~ Days + (1 | Subject)", REML = FALSE, offset = "o",
       factors = c(Subject = "factor")),
  list(case = "sleepstudy_na_reml", dataset = "sleepstudy_w",
       formula = "ReactionNA ~ Days + (Days | Subject)", REML = TRUE,
       factors = c(Subject = "factor"),
       notes = "ReactionNA is NA in data rows 5, 50 and 77: na.omit drops them (n_obs 177); fitted_head, resid_head and the predict_newdata rows refer to the 177 rows kept"),
  list(case = "pastes_three_level_reml", dataset = "sim_three_level",
       formula = "y ~ x + (1 | region/site/unit)", REML = TRUE,
       factors = c(region = "factor", site = "factor", unit = "factor"),
       notes = "simulated three-level nested data (set.seed(1), see tools/reference/make_reference.R); site and unit labels are re-used across regions/sites, so region/site/unit = (1 | region) + (1 | region:site) + (1 | region:site:unit), which lme4 names unit:(site:region), site:region, region"),
  list(case = "cake_ml_poly", dataset = "cake",
       formula = "angle ~ recipe + temperature + (1 | recipe:replicate)", REML = FALSE,
       factors = c(replicate = "factor", recipe = "factor", temperature = "ordered"),
       notes = "temperature is an ordered factor: R's default contrasts are contr.poly (names .L .Q .C ^4 ^5); recipe uses contr.treatment"),
  list(case = "sleepstudy_quadratic_reml", dataset = "sleepstudy",
       formula = "Reaction ~ Days + I(Days^2) + (Days | Subject)", REML = TRUE,
       factors = c(Subject = "factor"),
       notes = "I(Days^2) is an arithmetic term in the fixed-effects formula; its coefficient is named I(Days^2)"),
  list(case = "penicillin_ml", dataset = "Penicillin",
       formula = "diameter ~ 1 + (1 | plate) + (1 | sample)", REML = FALSE,
       factors = c(plate = "factor", sample = "factor")),
  list(case = "sim_singular_slope_reml", dataset = "sim_singular_slope",
       formula = "y ~ x + (x | g)", REML = TRUE,
       factors = c(g = "factor"),
       notes = "simulated with a random intercept only (set.seed(2), see tools/reference/make_reference.R) and fitted with a random slope (x | g): the true slope variance is zero, so a boundary (singular) fit was expected",
       expect_singular = TRUE)
)

## Duplicates of committed reference cases, used by --check only (never committed).
CHECK_CASES <- list(
  list(case = "sleepstudy_slope_reml", dataset = "sleepstudy",
       formula = "Reaction ~ Days + (Days | Subject)", REML = TRUE,
       factors = c(Subject = "factor")),
  list(case = "pastes_reml", dataset = "Pastes",
       formula = "strength ~ 1 + (1 | batch/cask)", REML = TRUE,
       factors = c(batch = "factor", cask = "factor", sample = "factor")),
  list(case = "cake_reml", dataset = "cake",
       formula = "angle ~ recipe * temperature + (1 | recipe:replicate)", REML = TRUE,
       factors = c(replicate = "factor", recipe = "factor", temperature = "ordered"))
)

## ---------------------------------------------------------------------------
## Data sets
## ---------------------------------------------------------------------------
write_csv <- function(df, name) {
  dir.create(DATA_DIR, showWarnings = FALSE, recursive = TRUE)
  for (j in seq_along(df)) if (is.factor(df[[j]])) df[[j]] <- as.character(df[[j]])
  ## write.csv writes numbers with 15 significant digits; NA as an empty field
  write.csv(df, file.path(DATA_DIR, paste0(name, ".csv")), row.names = FALSE,
            quote = FALSE, na = "")
}

make_datasets <- function() {
  ## Machines (nlme)
  data("Machines", package = "nlme", envir = environment())
  mach <- data.frame(Worker = as.character(Machines$Worker),
                     Machine = as.character(Machines$Machine),
                     score = Machines$score)
  write_csv(mach, "Machines")

  ## sleepstudy with weights, offset and NA response
  ss <- read.csv(file.path(MAIN_DATA_DIR, "sleepstudy.csv"))
  ss$w <- 1L + (ss$Days %% 3L)
  ss$o <- ss$Days / 10
  ss$ReactionNA <- ss$Reaction
  ss$ReactionNA[c(5, 50, 77)] <- NA
  write_csv(ss, "sleepstudy_w")

  ## three-level nested simulation
  set.seed(1)
  n_region <- 8; n_site <- 4; n_unit <- 5; n_rep <- 3
  d3 <- expand.grid(rep = seq_len(n_rep), unit = seq_len(n_unit),
                    site = seq_len(n_site), region = seq_len(n_region))
  d3 <- d3[, c("region", "site", "unit", "rep")]
  region_eff <- rnorm(n_region, 0, 2)
  site_eff   <- rnorm(n_region * n_site, 0, 1.5)
  unit_eff   <- rnorm(n_region * n_site * n_unit, 0, 1)
  site_id <- (d3$region - 1) * n_site + d3$site
  unit_id <- (site_id - 1) * n_unit + d3$unit
  x <- rnorm(nrow(d3))
  e <- rnorm(nrow(d3))
  y <- 10 + 0.5 * x + region_eff[d3$region] + site_eff[site_id] + unit_eff[unit_id] + e
  sim3 <- data.frame(region = paste0("R", d3$region), site = paste0("S", d3$site),
                     unit = paste0("U", d3$unit), x = round(x, 6), y = round(y, 6))
  write_csv(sim3, "sim_three_level")

  ## singular random-slope simulation
  set.seed(2)
  n_g <- 30; n_per <- 10
  g <- rep(seq_len(n_g), each = n_per)
  b <- rnorm(n_g, 0, 2)
  x <- rnorm(n_g * n_per)
  y <- 5 + 1 * x + b[g] + rnorm(n_g * n_per, 0, 1)
  sims <- data.frame(g = sprintf("G%02d", g), x = round(x, 6), y = round(y, 6))
  write_csv(sims, "sim_singular_slope")
}

data_path <- function(dataset) {
  for (dir in c(DATA_DIR, MAIN_DATA_DIR)) {
    for (ext in c(".csv", ".csv.gz")) {
      p <- file.path(dir, paste0(dataset, ext))
      if (file.exists(p)) return(p)
    }
  }
  stop("data set not found: ", dataset)
}

read_data <- function(cs) {
  path <- data_path(cs$dataset)
  dat <- read.csv(path, stringsAsFactors = FALSE)
  for (col in names(cs$factors)) {
    x <- dat[[col]]
    lev <- if (is.numeric(x)) as.character(sort(unique(x))) else sort(unique(x), method = "radix")
    dat[[col]] <- factor(as.character(x), levels = lev,
                         ordered = identical(unname(cs$factors[col]), "ordered"))
  }
  list(data = dat, path = path)
}

## ---------------------------------------------------------------------------
## Helpers
## ---------------------------------------------------------------------------
num <- function(x) if (is.null(x) || length(x) == 0 || is.na(x)) NULL else unname(as.numeric(x))
arr <- function(x) I(unname(x))                    # always a JSON array
named <- function(x) as.list(setNames(as.numeric(x), names(x)))
rows_of_matrix <- function(m) lapply(seq_len(nrow(m)), function(i) arr(as.numeric(m[i, ])))
strip_nl <- function(s) sub("\n+$", "", s)

coef_rows <- function(tab) {
  lapply(seq_len(nrow(tab)), function(i) list(
    term = rownames(tab)[i], estimate = num(tab[i, "Estimate"]),
    se = num(tab[i, "Std. Error"]), df = num(tab[i, "df"]),
    t = num(tab[i, "t value"]), p = num(tab[i, "Pr(>|t|)"])))
}

anova_rows <- function(tab) {
  if (is.null(tab) || nrow(tab) == 0) return(I(list()))
  lapply(seq_len(nrow(tab)), function(i) list(
    term = rownames(tab)[i], SumSq = num(tab[i, "Sum Sq"]), MeanSq = num(tab[i, "Mean Sq"]),
    NumDF = num(tab[i, "NumDF"]), DenDF = num(tab[i, "DenDF"]),
    F = num(tab[i, "F value"]), p = num(tab[i, "Pr(>F)"])))
}

confint_rows <- function(ci) {
  lapply(seq_len(nrow(ci)), function(i) list(
    parm = rownames(ci)[i], lower = num(ci[i, 1]), upper = num(ci[i, 2])))
}

## run expr collecting warnings and messages (muffled)
capture <- function(expr) {
  warns <- character(); msgs <- character()
  val <- withCallingHandlers(expr,
    warning = function(w) { warns <<- c(warns, strip_nl(conditionMessage(w))); invokeRestart("muffleWarning") },
    message = function(m) { msgs <<- c(msgs, strip_nl(conditionMessage(m))); invokeRestart("muffleMessage") })
  list(value = val, warnings = warns, messages = msgs)
}

software <- function() list(
  R = paste(R.version$major, R.version$minor, sep = "."),
  lme4 = as.character(packageVersion("lme4")),
  Matrix = as.character(packageVersion("Matrix")),
  lmerTest = as.character(packageVersion("lmerTest")),
  pbkrtest = as.character(packageVersion("pbkrtest")))

## grouping-factor columns in lme4's flist order, e.g. "unit:(site:region)" -> unit, site, region
grouping_columns <- function(m) {
  parts <- unlist(strsplit(names(getME(m, "flist")), ":", fixed = TRUE))
  unique(gsub("[() ]", "", parts))
}

## ---------------------------------------------------------------------------
## One case
## ---------------------------------------------------------------------------
fit_case <- function(cs) {
  rd <- read_data(cs)
  dat <- rd$data
  notes <- if (is.null(cs$notes)) character() else cs$notes

  env <- new.env(parent = globalenv())
  env$dat <- dat
  fml <- as.formula(cs$formula, env = env)
  args <- list(quote(lme4::lmer), formula = fml, data = quote(dat), REML = cs$REML)
  if (!is.null(cs$weights)) args$weights <- as.name(cs$weights)
  if (!is.null(cs$offset))  args$offset  <- as.name(cs$offset)
  cl <- as.call(args)

  fit <- capture(eval(cl, env))
  m <- fit$value
  conv_msgs <- m@optinfo$conv$lme4$messages
  if (is.null(conv_msgs)) conv_msgs <- character()

  ## model columns, in file column order
  model_vars <- unique(c(all.vars(fml), cs$weights, cs$offset))
  model_cols <- names(dat)[names(dat) %in% model_vars]
  keep <- complete.cases(dat[, model_cols, drop = FALSE])
  dkeep <- dat[keep, model_cols, drop = FALSE]
  n <- nrow(dkeep)
  stopifnot(n == nobs(m))

  factors <- list()
  for (col in model_cols) if (is.factor(dat[[col]])) {
    lev <- levels(dat[[col]])
    factors[[col]] <- list(nlevels = nlevels(dat[[col]]), ordered = is.ordered(dat[[col]]),
                           levels = if (length(lev) > 200) NULL else arr(lev))
  }

  vc <- as.matrix(vcov(m))
  beta_names <- colnames(vc)
  ll <- logLik(m)
  reml <- isREML(m)

  vcdf <- as.data.frame(VarCorr(m))
  varcorr <- lapply(seq_len(nrow(vcdf)), function(i) list(
    grp = vcdf$grp[i],
    var1 = if (is.na(vcdf$var1[i])) NULL else vcdf$var1[i],
    var2 = if (is.na(vcdf$var2[i])) NULL else vcdf$var2[i],
    vcov = vcdf$vcov[i], sdcor = vcdf$sdcor[i]))

  re <- ranef(m, condVar = TRUE)
  ranef_out <- list()
  for (g in names(re)) {
    df <- re[[g]]
    pv <- attr(df, "postVar")
    L <- nrow(df)
    condsd <- lapply(seq_len(L), function(i) {
      if (is.list(pv)) {
        arr(sqrt(unlist(lapply(pv, function(a) diag(matrix(a[, , i], dim(a)[1], dim(a)[2]))))))
      } else {
        arr(sqrt(diag(matrix(pv[, , i], dim(pv)[1], dim(pv)[2]))))
      }
    })
    ranef_out[[g]] <- list(levels = arr(rownames(df)), terms = arr(colnames(df)),
                           values = rows_of_matrix(as.matrix(df)), condsd = condsd)
  }

  ## predict on new data: rows 1, (n+1) %/% 2, n of the kept data; row 2 with every
  ## grouping column (not used in the fixed effects) set to "NEW"; with two or more
  ## such columns also row 3 with only the first one set to "NEW".
  fixed_vars <- all.vars(nobars(fml)[[3]])
  gcols <- setdiff(grouping_columns(m), fixed_vars)
  nd <- dkeep[c(1, (n + 1) %/% 2, n), , drop = FALSE]
  new1 <- dkeep[2, , drop = FALSE]
  for (col in gcols) { levels(new1[[col]]) <- c(levels(new1[[col]]), "NEW"); new1[[col]][] <- "NEW" }
  extra <- list(new1)
  if (length(gcols) >= 2) {
    new2 <- dkeep[3, , drop = FALSE]
    levels(new2[[gcols[1]]]) <- c(levels(new2[[gcols[1]]]), "NEW"); new2[[gcols[1]]][] <- "NEW"
    extra <- c(extra, list(new2))
  }
  for (col in gcols) levels(nd[[col]]) <- c(levels(nd[[col]]), "NEW")
  nd <- do.call(rbind, c(list(nd), extra))
  rownames(nd) <- NULL
  new_level <- apply(nd[, gcols, drop = FALSE], 1, function(r) any(r == "NEW"))
  p_cond <- predict(m, newdata = nd, re.form = NULL, allow.new.levels = TRUE, type = "response")
  p_fix  <- predict(m, newdata = nd, re.form = NA, allow.new.levels = TRUE, type = "response")
  nd_rows <- lapply(seq_len(nrow(nd)), function(i) {
    r <- lapply(nd[i, , drop = FALSE], function(v) if (is.factor(v)) as.character(v) else v)
    r
  })
  if (!is.null(cs$offset)) {
    notes <- c(notes, sprintf(paste0(
      "predict_newdata: lme4 %s's predict(newdata = ...) leaves out an offset given with the ",
      "offset= argument (lme4 GitHub issue #447); fitted() includes it. re_form_NULL/re_form_NA ",
      "are lme4's numbers (without the offset); add column %s for offset-inclusive predictions"),
      as.character(packageVersion("lme4")), cs$offset))
  }

  ## inference
  mt <- NULL; satt <- NULL; kr <- NULL; an3 <- NULL
  if (reml) {
    mt <- lmerTest::as_lmerModLmerTest(m)
    satt <- tryCatch(coef_rows(summary(mt, ddf = "Satterthwaite")$coefficients),
                     error = function(e) { notes <<- c(notes, paste("satterthwaite failed:", conditionMessage(e))); NULL })
    an3 <- tryCatch(anova_rows(anova(mt, type = 3)),
                    error = function(e) { notes <<- c(notes, paste("anova type 3 failed:", conditionMessage(e))); NULL })
    if (n < 2000) {
      krc <- capture(tryCatch(summary(mt, ddf = "Kenward-Roger")$coefficients,
                              error = function(e) { notes <<- c(notes, paste("kenward_roger failed:", conditionMessage(e))); NULL }))
      if (!is.null(krc$value)) kr <- coef_rows(krc$value)
      if (length(krc$warnings)) notes <- c(notes, paste("kenward_roger warning:", krc$warnings))
      if (!is.null(cs$weights) && !is.null(kr)) {
        notes <- c(notes, paste0(
          "kenward_roger set to null: pbkrtest ", as.character(packageVersion("pbkrtest")),
          " ignores prior weights in the Kenward-Roger adjustment (.get_SigmaG builds the marginal covariance ",
          "as sum_k theta_k G_k + sigma^2 I, not sigma^2 W^-1, while Phi = vcov(m) is weighted), so its numbers ",
          "are not a weighted Kenward-Roger; pbkrtest gave (term, se, df): ",
          paste(sprintf("%s %.15g %.15g", rownames(krc$value), krc$value[, "Std. Error"], krc$value[, "df"]),
                collapse = "; ")))
        kr <- NULL
      }
    }
  }
  ci_prof <- NULL; ci_wald <- NULL
  if (n < 2000) {
    cp <- capture(tryCatch(confint(m, method = "profile", oldNames = FALSE),
                           error = function(e) { notes <<- c(notes, paste("confint_profile failed:", conditionMessage(e))); NULL }))
    if (!is.null(cp$value)) ci_prof <- confint_rows(cp$value)
    if (length(cp$warnings)) notes <- c(notes, paste("confint_profile warning:", unique(cp$warnings)))
    if (!is.null(cs$weights) && !is.null(cp$value)) {
      notes <- c(notes, paste0(
        "confint_profile set to null: lme4's profile() does not handle prior weights (lme4 GitHub issue #192: ",
        "devfun2 leaves out the prior-weights terms), the fixed-effect profile intervals come out far narrower ",
        "than Wald; lme4 gave (parm, lower, upper): ",
        paste(sprintf("%s %.15g %.15g", rownames(cp$value), cp$value[, 1], cp$value[, 2]), collapse = "; ")))
      ci_prof <- NULL
    }
    cw <- capture(confint(m, method = "Wald", oldNames = FALSE))
    ci_wald <- confint_rows(cw$value)
  }
  if (isSingular(m)) {
    notes <- c(notes, "singular fit (isSingular TRUE): a variance component / the random-effects covariance is on the boundary")
  } else if (isTRUE(cs$expect_singular)) {
    vcs <- vcdf[is.na(vcdf$var2) & vcdf$grp != "Residual", ]
    notes <- c(notes, sprintf(
      "not singular for this draw (isSingular FALSE, min theta diagonal %.4g): estimated SDs %s",
      min(getME(m, "theta")[getME(m, "lower") == 0]),
      paste(sprintf("%s|%s %.6g", vcs$var1, vcs$grp, vcs$sdcor), collapse = ", ")))
  }

  list(
    kind = "fit",
    case = cs$case,
    dataset = cs$dataset,
    data_file = basename(rd$path),
    formula = cs$formula,
    family = NULL, link = NULL,
    REML = reml,
    nAGQ = NULL,
    weights = cs$weights, offset = cs$offset,
    response = NULL,
    factors = factors,
    na_action = "na.omit",
    n_rows_data = nrow(dat),
    n_obs = nobs(m),
    ngrps = as.list(ngrps(m)),
    fixef = named(fixef(m)),
    fixef_se = named(setNames(sqrt(diag(vc)), beta_names)),
    vcov = list(names = arr(beta_names), matrix = rows_of_matrix(vc)),
    theta = named(getME(m, "theta")),
    beta_names = arr(beta_names),
    sigma = sigma(m),
    loglik = as.numeric(ll),
    loglik_df = as.integer(attr(ll, "df")),
    minus2loglik = -2 * as.numeric(ll),
    loglik_saturated = NULL,
    deviance = if (reml) deviance(m, REML = FALSE) else deviance(m),
    reml_criterion = if (reml) as.numeric(REMLcrit(m)) else NULL,
    AIC = AIC(m), BIC = BIC(m),
    df_resid = df.residual(m),
    is_singular = isSingular(m),
    varcorr = varcorr,
    ranef = ranef_out,
    fitted_head = arr(head(as.numeric(fitted(m)), 10)),
    resid_head = arr(head(as.numeric(residuals(m, type = "response")), 10)),
    predict_newdata = list(
      rows = nd_rows,
      new_level = arr(unname(new_level)),
      grouping_columns_set_to_new = arr(gcols),
      allow_new_levels = TRUE,
      type = "response",
      re_form_NULL = arr(as.numeric(p_cond)),
      re_form_NA = arr(as.numeric(p_fix))),
    satterthwaite = satt,
    kenward_roger = kr,
    anova_type3_satterthwaite = an3,
    confint_profile = ci_prof,
    confint_wald = ci_wald,
    lme4_time_s = NULL, lme4_time_nfits = NULL, lme4_times_s = NULL,
    optimizer = m@optinfo$optimizer,
    feval = m@optinfo$feval,
    warnings = arr(fit$warnings),
    messages = arr(fit$messages),
    conv_messages = arr(conv_msgs),
    notes = arr(notes),
    software = software()
  )
}

write_case <- function(res, out_dir) {
  dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)
  js <- toJSON(res, auto_unbox = TRUE, null = "null", na = "null",
               digits = I(15), pretty = TRUE)
  f <- file.path(out_dir, paste0(res$case, ".json"))
  writeLines(js, f)
  f
}

## compare numeric leaves of two parsed JSON trees; returns max relative difference
compare_json <- function(a, b, path = "") {
  if (is.null(a) || is.null(b)) return(list())
  if (is.list(a) && is.list(b)) {
    keys <- if (!is.null(names(a))) intersect(names(a), names(b)) else seq_len(min(length(a), length(b)))
    if (!is.null(names(a)) && any(c("lme4_time_s", "lme4_times_s", "lme4_time_nfits") %in% keys))
      keys <- setdiff(keys, c("lme4_time_s", "lme4_times_s", "lme4_time_nfits"))
    return(do.call(c, lapply(keys, function(k) compare_json(a[[k]], b[[k]], paste0(path, "/", k)))))
  }
  if (is.numeric(a) && is.numeric(b) && length(a) == length(b) && length(a) > 0) {
    if (any(is.na(a) != is.na(b))) return(setNames(list(Inf), path))
    ok <- !is.na(a)
    if (!any(ok)) return(list())
    d <- max(abs(a[ok] - b[ok]) / pmax(abs(b[ok]), 1e-8))
    return(setNames(list(d), path))
  }
  list()
}

## ---------------------------------------------------------------------------
## Main
## ---------------------------------------------------------------------------
main <- function(argv) {
  check <- "--check" %in% argv
  argv <- setdiff(argv, "--check")
  make_datasets()
  cases <- if (check) CHECK_CASES else CASES
  if (length(argv)) cases <- Filter(function(cs) cs$case %in% argv, cases)
  if (!check && !length(argv)) unlink(file.path(OUT_DIR, "_failed_cases.json"))
  out_dir <- if (check) Sys.getenv("LMMPY_REF_CHECK_DIR", file.path(tempdir(), "lmmpy_ref_check")) else OUT_DIR
  failed <- character()
  for (cs in cases) {
    cs$data_file <- NULL
    res <- tryCatch(fit_case(cs), error = function(e) {
      failed <<- c(failed, sprintf("%s: %s", cs$case, conditionMessage(e)))
      NULL
    })
    if (is.null(res)) { message("FAILED ", cs$case); next }
    f <- write_case(res, out_dir)
    message(sprintf("%-28s n=%d logLik=%.6f singular=%s -> %s", cs$case, res$n_obs,
                    res$loglik, res$is_singular, f))
    if (check) {
      ref <- fromJSON(file.path(REF_DIR, paste0(cs$case, ".json")), simplifyVector = TRUE)
      new <- fromJSON(f, simplifyVector = TRUE)
      d <- unlist(compare_json(new, ref))
      message(sprintf("  check vs %s: %d numeric fields, max rel diff %.3g (%s)",
                      REF_DIR, length(d), max(d), names(d)[which.max(d)]))
      big <- d[d > 1e-6]
      if (length(big)) message("  fields differing by > 1e-6: ", paste(names(big), collapse = ", "))
    }
  }
  if (length(failed)) {
    message("Failed cases (skipped):\n  ", paste(failed, collapse = "\n  "))
    if (!check) {
      dir.create(OUT_DIR, showWarnings = FALSE, recursive = TRUE)
      writeLines(toJSON(list(notes = failed, software = software()), auto_unbox = TRUE, pretty = TRUE),
                 file.path(OUT_DIR, "_failed_cases.json"))
    }
  }
  invisible(failed)
}

## run as a script; source()d (by make_names_predict.R) it only defines the functions
if (sys.nframe() == 0L) main(commandArgs(trailingOnly = TRUE))
