# R's family objects evaluated on a grid: the reference for lmmpy/_families.py.
# Run: Rscript tools/reference/make_glmm_families.R  (writes tests/data/glmm/families.json)
library(jsonlite)
eta <- c(-40, -3, -0.5, 0, 0.7, 2.5, 40)
families <- list(
  list("binomial", c("logit", "probit", "cloglog", "cauchit", "log")),
  list("poisson", c("log", "identity", "sqrt")),
  list("Gamma", c("inverse", "log", "identity")),
  list("inverse.gaussian", c("1/mu^2", "inverse", "identity", "log")))
grid <- function(name) {
  if (name == "binomial")
    list(y = c(0, 0.25, 0.5, 1, 0.3, 0.8), mu = c(0.1, 0.3, 0.5, 0.9, 0.3, 0.6),
         wt = c(4, 4, 2, 1, 10, 5), trials = c(4, 4, 2, 1, 10, 5))
  else if (name == "poisson")
    list(y = c(0, 1, 3, 7, 2, 0), mu = c(0.5, 1.2, 2.5, 6, 2, 3),
         wt = c(1, 2, 1, 1, 0.5, 1), trials = rep(1, 6))
  else
    list(y = c(0.5, 1.2, 3, 7, 2.2, 0.9), mu = c(0.6, 1, 2.5, 6, 2.4, 1.3),
         wt = c(1, 2, 1, 1, 0.5, 1), trials = rep(1, 6))
}
out <- list()
for (f in families) {
  for (link in f[[2]]) {
    fam <- get(f[[1]])(link = link)
    g <- grid(f[[1]])
    e <- if (link %in% c("inverse", "1/mu^2", "sqrt", "identity")) c(0.3, 0.8, 1.5, 2.5) else eta
    d <- fam$dev.resids(g$y, g$mu, g$wt)
    out[[length(out) + 1]] <- list(
      family = f[[1]], link = link, eta = e,
      linkinv = fam$linkinv(e), mu_eta = fam$mu.eta(e),
      mu = g$mu, linkfun = fam$linkfun(g$mu), variance = fam$variance(g$mu),
      y = g$y, wt = g$wt, trials = g$trials, dev_resids = d,
      aic = fam$aic(g$y, g$trials, g$mu, g$wt, sum(d)))
  }
}
writeLines(toJSON(out, digits = 15, auto_unbox = TRUE), "tests/data/glmm/families.json")
