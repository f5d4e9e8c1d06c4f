#!/usr/bin/env Rscript
## make_icc_r2.R -- reference ICC and Nakagawa R2 values for lmmpy.
##
## Run from the repository root:  Rscript tools/reference/make_icc_r2.R
## Writes tests/data/extra_cases/icc_r2.json:
##   {MODEL: {formula, dataset, data_file, REML, icc_adjusted, icc_conditional,
##            r2_marginal, r2_conditional, var_fixed, var_random, var_residual,
##            method, definition, software}}
##
## Values come from performance::icc() and performance::r2_nakagawa() when the
## performance package is installed (Debian: r-cran-performance); otherwise they
## are computed by hand with the same definitions (method says which). The hand
## computation is always done as well and must agree with performance to 1e-10.
##
## Definitions (performance 0.10 / insight 0.19, Nakagawa & Schielzeth 2013,
## Johnson 2014 for random slopes, Nakagawa, Johnson & Schielzeth 2017), Gaussian lmer:
##   var_fixed    = var(X beta)   (sample variance, denominator n - 1, over the n rows used)
##   var_random   = sum over random-effects terms k of  mean_i z_ik' Sigma_k z_ik
##                  = sum_k sum(diag(crossprod(Z_k %*% Sigma_k, Z_k))) / n,
##                  Z_k = the columns of the fixed-effects model matrix X named like the
##                  term's random-effect columns ((Intercept), Days, ...), Sigma_k = VarCorr
##                  covariance matrix of term k (terms with as many levels as observations
##                  are left out)
##   var_residual = sigma^2
##   icc_adjusted    = var_random / (var_random + var_residual)
##   icc_conditional = var_random / (var_fixed + var_random + var_residual)
##   r2_marginal     = var_fixed / (var_fixed + var_random + var_residual)
##   r2_conditional  = (var_fixed + var_random) / (var_fixed + var_random + var_residual)

suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})
have_performance <- requireNamespace("performance", quietly = TRUE) &&
  !nzchar(Sys.getenv("LMMPY_NO_PERFORMANCE"))   # set to force the hand computation

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

OUT_FILE <- "tests/data/extra_cases/icc_r2.json"
MAIN_DATA_DIR <- "lmmpy/datasets"

MODELS <- list(
  sleepstudy_slope_reml = list(dataset = "sleepstudy",
    formula = "Reaction ~ Days + (Days | Subject)", REML = TRUE, factors = "Subject"),
  penicillin_reml = list(dataset = "Penicillin",
    formula = "diameter ~ 1 + (1 | plate) + (1 | sample)", REML = TRUE,
    factors = c("plate", "sample"))
)

by_hand <- function(m) {
  X <- getME(m, "X")
  n <- nrow(X)
  var_fixed <- stats::var(as.vector(X %*% fixef(m)))
  vc <- VarCorr(m)
  var_random <- 0
  for (k in names(vc)) {
    Sigma <- as.matrix(vc[[k]])
    g <- sub("\\.[0-9]+$", "", k)          # (x || g) terms appear as g, g.1, ...
    fl <- getME(m, "flist")
    if (g %in% names(fl) && nlevels(fl[[g]]) == n) next   # observation-level terms are left out
    rn <- rownames(Sigma)
    rn <- rn[rn %in% colnames(X)]
    Sigma <- Sigma[rn, rn, drop = FALSE]
    Z <- X[, rn, drop = FALSE]
    var_random <- var_random + sum(diag(crossprod(Z %*% Sigma, Z))) / n
  }
  var_residual <- sigma(m)^2
  tot <- var_fixed + var_random + var_residual
  list(var_fixed = var_fixed, var_random = var_random, var_residual = var_residual,
       icc_adjusted = var_random / (var_random + var_residual),
       icc_conditional = var_random / tot,
       r2_marginal = var_fixed / tot,
       r2_conditional = (var_fixed + var_random) / tot)
}

software <- function() {
  s <- list(R = paste(R.version$major, R.version$minor, sep = "."),
            lme4 = as.character(packageVersion("lme4")),
            Matrix = as.character(packageVersion("Matrix")))
  if (have_performance) {
    s$performance <- as.character(packageVersion("performance"))
    s$insight <- as.character(packageVersion("insight"))
  }
  s
}

DEFINITION <- paste(
  "var_fixed = var(X beta) (denominator n-1);",
  "var_random = sum_k mean_i z_ik' Sigma_k z_ik = sum_k sum(diag(crossprod(Z_k %*% Sigma_k, Z_k)))/n",
  "with Z_k the columns of X named like term k's random-effect columns;",
  "var_residual = sigma^2; icc_adjusted = var_random/(var_random+var_residual);",
  "icc_conditional = var_random/(var_fixed+var_random+var_residual);",
  "r2_marginal = var_fixed/(var_fixed+var_random+var_residual);",
  "r2_conditional = (var_fixed+var_random)/(var_fixed+var_random+var_residual)")

out <- list()
for (name in names(MODELS)) {
  spec <- MODELS[[name]]
  path <- file.path(MAIN_DATA_DIR, paste0(spec$dataset, ".csv"))
  dat <- read.csv(path, stringsAsFactors = FALSE)
  for (col in spec$factors) {
    x <- dat[[col]]
    lev <- if (is.numeric(x)) as.character(sort(unique(x))) else sort(unique(x), method = "radix")
    dat[[col]] <- factor(as.character(x), levels = lev)
  }
  m <- lmer(as.formula(spec$formula), data = dat, REML = spec$REML)
  h <- by_hand(m)
  res <- list(formula = spec$formula, dataset = spec$dataset, data_file = basename(path),
              REML = spec$REML)
  if (have_performance) {
    ic <- performance::icc(m)
    r2 <- performance::r2_nakagawa(m)
    gv <- insight::get_variance(m)
    vals <- list(icc_adjusted = ic$ICC_adjusted, icc_conditional = ic$ICC_conditional,
                 r2_marginal = unname(r2$R2_marginal), r2_conditional = unname(r2$R2_conditional),
                 var_fixed = gv$var.fixed, var_random = gv$var.random,
                 var_residual = gv$var.residual)
    for (k in names(vals)) {
      if (!isTRUE(all.equal(vals[[k]], h[[k]], tolerance = 1e-10)))
        stop(sprintf("%s: %s from performance (%.15g) differs from the hand computation (%.15g)",
                     name, k, vals[[k]], h[[k]]))
    }
    method <- "performance::icc(m), performance::r2_nakagawa(m), insight::get_variance(m) (agree with the hand computation to 1e-10)"
  } else {
    vals <- h[c("icc_adjusted", "icc_conditional", "r2_marginal", "r2_conditional",
                "var_fixed", "var_random", "var_residual")]
    method <- "computed by hand in R (performance not installed), following performance/insight's definitions"
  }
  out[[name]] <- c(res, vals, list(method = method, definition = DEFINITION, software = software()))
  message(sprintf("%-24s ICC adj %.6f cond %.6f  R2 marg %.6f cond %.6f", name,
                  vals$icc_adjusted, vals$icc_conditional, vals$r2_marginal, vals$r2_conditional))
}

dir.create(dirname(OUT_FILE), showWarnings = FALSE, recursive = TRUE)
writeLines(toJSON(out, auto_unbox = TRUE, null = "null", na = "null", digits = I(15), pretty = TRUE),
           OUT_FILE)
message("wrote ", OUT_FILE)
