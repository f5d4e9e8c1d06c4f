# A GLMM with two crossed random-effects terms (cbpp: herd and period), the reference
# for PIRLS on a multi-term factorization.
# Run: Rscript tools/reference/make_glmm_two_terms.R  (writes tests/data/glmm/two_terms.json)
suppressMessages(library(lme4))
library(jsonlite)
m <- glmer(cbind(incidence, size - incidence) ~ 1 + (1 | herd) + (1 | period),
           cbpp, binomial)
out <- list(formula = "cbind(incidence, size - incidence) ~ 1 + (1 | herd) + (1 | period)",
            theta = unname(getME(m, "theta")), theta_names = names(getME(m, "theta")),
            fixef = unname(fixef(m)), fixef_se = unname(sqrt(diag(as.matrix(vcov(m))))),
            loglik = as.numeric(logLik(m)), deviance = deviance(m))
writeLines(toJSON(out, digits = 15, auto_unbox = TRUE), "tests/data/glmm/two_terms.json")
