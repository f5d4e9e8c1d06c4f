# lme4's nAGQ = 0 fits (the first stage of glmer alone), the reference for lmmpy's nagq=0.
# Run: Rscript tools/reference/make_glmm_nagq0.R  (writes tests/data/glmm/nagq0.json)
suppressMessages(library(lme4))
library(jsonlite)
epil <- read.csv("tests/data/extra_datasets/epil.csv")
epil$trt <- factor(epil$trt, levels = c("placebo", "progabide"))
epil$subject <- factor(epil$subject, levels = as.character(sort(unique(epil$subject))))
fits <- list(
  cbpp = glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), cbpp, binomial,
               nAGQ = 0),
  epil = glmer(y ~ trt + lbase + lage + V4 + (1 | subject), epil, poisson, nAGQ = 0))
out <- lapply(fits, function(m) list(
  theta = unname(getME(m, "theta")), fixef = unname(fixef(m)),
  fixef_se = unname(sqrt(diag(as.matrix(vcov(m))))), loglik = as.numeric(logLik(m)),
  deviance = deviance(m), use_hessian = !is.null(m@optinfo$derivs)))
writeLines(toJSON(out, digits = 15, auto_unbox = TRUE), "tests/data/glmm/nagq0.json")
