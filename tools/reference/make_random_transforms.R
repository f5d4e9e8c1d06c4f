#!/usr/bin/env Rscript
## make_random_transforms.R -- lme4 on models whose random-effects terms hold data-dependent
## transforms (scale(x), poly(x, 2)) while another variable has missing values (lmmpy
## issue 12: R's model.frame evaluates the transforms on every row before na.omit drops
## the rows missing the other variable, for the random terms as for the fixed part).
##
## Run from the repository root:  Rscript tools/reference/make_random_transforms.R
##
## set.seed(812): 15 groups g of 8 rows, x ~ N(3, 2), z ~ N(0, 1); y normal and yb
## binary from a random intercept and slope on x; z missing in rows 4, 19, 33, 70 and y,
## yb in rows 11, 58, 101.  Fits (lme4 defaults, REML for lmer):
##   lmer_scale:  lmer(y ~ z + (scale(x) | g))
##   lmer_poly:   lmer(y ~ z + (1 | g) + (0 + poly(x, 2) | g))
##   glmer_scale: glmer(yb ~ z + (scale(x) | g), binomial)
## recorded: n_obs, each term's model matrix (getME(m, "mmList"), the kept rows), logLik,
## theta, fixef.  Writes tests/data/random_transforms/data.csv and fits.json.
suppressPackageStartupMessages({library(lme4); library(jsonlite)})

set.seed(812)
G <- 15
g <- rep(sprintf("G%02d", seq_len(G)), each = 8)
n <- length(g)
x <- rnorm(n, 3, 2)
z <- rnorm(n)
gi <- as.integer(factor(g))
eta <- 0.5 + 0.4 * z + rnorm(G, 0, 0.8)[gi] + rnorm(G, 0, 0.3)[gi] * (x - 3)
y <- eta + rnorm(n, 0, 0.7)
yb <- rbinom(n, 1, plogis(eta))
z[c(4, 19, 33, 70)] <- NA
y[c(11, 58, 101)] <- NA
yb[c(11, 58, 101)] <- NA
data <- data.frame(y = signif(y, 12), yb = yb, x = signif(x, 12), z = signif(z, 12), g = g)
out <- "tests/data/random_transforms"
dir.create(out, showWarnings = FALSE, recursive = TRUE)
write.csv(data, file.path(out, "data.csv"), row.names = FALSE)
data <- read.csv(file.path(out, "data.csv"))

record <- function(m, formula, family = NULL) {
  mm <- getME(m, "mmList")
  list(formula = formula, family = family, n_obs = nobs(m),
       terms = lapply(seq_along(mm), function(i) list(
         name = names(mm)[i], columns = I(colnames(mm[[i]])),
         values = unname(as.matrix(mm[[i]])))),
       loglik = as.numeric(logLik(m)), theta = unname(getME(m, "theta")),
       fixef = as.list(fixef(m)),
       software = paste("lme4", packageVersion("lme4")))
}

fits <- list(
  lmer_scale = record(lmer(y ~ z + (scale(x) | g), data), "y ~ z + (scale(x) | g)"),
  lmer_poly = record(lmer(y ~ z + (1 | g) + (0 + poly(x, 2) | g), data),
                     "y ~ z + (1 | g) + (0 + poly(x, 2) | g)"),
  glmer_scale = record(glmer(yb ~ z + (scale(x) | g), data, family = binomial),
                       "yb ~ z + (scale(x) | g)", "binomial"))
writeLines(toJSON(fits, auto_unbox = TRUE, digits = NA, pretty = TRUE),
           file.path(out, "fits.json"))
