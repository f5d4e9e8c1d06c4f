# performance::check_overdispersion on binomial GLMMs with trials > 1 (cbpp) and the
# Poisson fit of epil: the reference for lmmpy/diagnostics/_overdispersion.py (the
# negative binomial and simulated Poisson fits are in make_glmm_nb.R's nb_cases.json).
# Run: Rscript tools/reference/make_overdispersion.R  (writes tests/data/glmm/overdispersion.json)
suppressMessages({library(lme4); library(performance); library(jsonlite)})
cbpp_fit <- glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), cbpp, binomial)
cbpp$share <- cbpp$incidence / cbpp$size
cbpp_prop <- glmer(share ~ period + (1 | herd), cbpp, binomial, weights = size)
epil <- read.csv("tests/data/extra_datasets/epil.csv")
epil$subject <- factor(epil$subject)
epil_fit <- glmer(y ~ trt + lbase + lage + V4 + (1 | subject), epil, poisson)
record <- function(name, formula, family, m) {
  o <- check_overdispersion(m)
  list(name = name, formula = formula, family = family, chisq = o$chisq_statistic,
       ratio = o$dispersion_ratio, rdf = o$residual_df, p = o$p_value,
       printed = paste(capture.output(print(o), type = "output"), collapse = "\n"))
}
out <- list(
  record("cbpp", "cbind(incidence, size - incidence) ~ period + (1 | herd)", "binomial", cbpp_fit),
  record("cbpp_prop", "share ~ period + (1 | herd)", "binomial", cbpp_prop),
  record("epil", "y ~ trt + lbase + lage + V4 + (1 | subject)", "poisson", epil_fit))
writeLines(toJSON(out, digits = 15,
                  auto_unbox = TRUE, pretty = TRUE), "tests/data/glmm/overdispersion.json")
