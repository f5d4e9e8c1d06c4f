# Profile intervals of a GLMM fitted by adaptive Gauss-Hermite quadrature (nAGQ = 25): lme4
# profiles the AGQ criterion. Reference for lmmpy's confint(method="profile") with nagq > 1.
# Run: Rscript tools/reference/make_glmm_profile_agq.R  (writes tests/data/glmm/profile_agq.json)
suppressMessages(library(lme4))
library(jsonlite)
m <- glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), cbpp, binomial, nAGQ = 25)
ci <- confint(m, method = "profile", oldNames = FALSE)
out <- list(formula = "cbind(incidence, size - incidence) ~ period + (1 | herd)", nAGQ = 25,
            loglik = as.numeric(logLik(m)),
            confint_profile = data.frame(parm = rownames(ci), lower = ci[, 1], upper = ci[, 2]))
writeLines(toJSON(out, digits = 15, auto_unbox = TRUE), "tests/data/glmm/profile_agq.json")
