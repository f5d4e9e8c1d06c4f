# lmerTest's ranova() tables for tests/inference/test_ranova_reference.py.
#
#     Rscript tools/reference/make_ranova.R      (from the repository root, ~10 s)
#
# Writes tests/data/ranova/dogs.csv (a simulated data set shaped like the
# Dog/Side example of issue 11: 30 dogs x 3 sides x 4 replicates, a random
# intercept and side-specific deviations per dog) and tests/data/ranova/ranova.json:
# one entry per (data, formula, REML, reduce.terms) with lmerTest's table
# (row names, npar, logLik, AIC, LRT, Df, Pr(>Chisq)) and the reduced formulae.
suppressPackageStartupMessages({
  library(lmerTest)
  library(jsonlite)
})

out_dir <- file.path("tests", "data", "ranova")
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)
datasets_dir <- file.path("lmmpy", "datasets")

set.seed(20261202)
n_dog <- 30; sides <- c("L", "M", "R"); reps <- 4
dogs <- expand.grid(rep = seq_len(reps), Side = sides, Dog = sprintf("d%02d", seq_len(n_dog)),
                    stringsAsFactors = FALSE)
dog_intercept <- rnorm(n_dog, sd = 1.0)
side_dev <- matrix(rnorm(n_dog * 3, sd = 0.6), n_dog, 3)
dog_index <- match(dogs$Dog, sprintf("d%02d", seq_len(n_dog)))
side_index <- match(dogs$Side, sides)
dogs$x <- round(rnorm(nrow(dogs)), 4)
dogs$y <- round(10 + c(0, 0.5, -0.3)[side_index] + 0.4 * dogs$x + dog_intercept[dog_index] +
                side_dev[cbind(dog_index, side_index)] + rnorm(nrow(dogs), sd = 0.8), 4)
dogs$rep <- NULL
write.csv(dogs, file.path(out_dir, "dogs.csv"), row.names = FALSE)
dogs <- read.csv(file.path(out_dir, "dogs.csv"), stringsAsFactors = TRUE)

data_sets <- list(
  sleepstudy = read.csv(file.path(datasets_dir, "sleepstudy.csv"),
                        colClasses = c(Subject = "factor")),
  Pastes = read.csv(file.path(datasets_dir, "Pastes.csv"), stringsAsFactors = TRUE),
  Penicillin = read.csv(file.path(datasets_dir, "Penicillin.csv"), stringsAsFactors = TRUE),
  dogs = dogs
)

cases <- list(
  list(data = "sleepstudy", formula = "Reaction ~ Days + (Days | Subject)", reml = TRUE),
  list(data = "sleepstudy", formula = "Reaction ~ Days + (Days | Subject)", reml = FALSE),
  list(data = "sleepstudy", formula = "Reaction ~ Days + (Days | Subject)", reml = TRUE,
       reduce = FALSE),
  list(data = "sleepstudy", formula = "Reaction ~ Days + (Days || Subject)", reml = TRUE),
  list(data = "sleepstudy", formula = "Reaction ~ Days + (0 + Days | Subject)", reml = TRUE),
  list(data = "dogs", formula = "y ~ Side + (0 + Side | Dog)", reml = TRUE),
  list(data = "dogs", formula = "y ~ Side + (0 + Side | Dog)", reml = TRUE, reduce = FALSE),
  list(data = "dogs", formula = "y ~ Side + x + (1 + x | Dog) + (1 | Side:Dog)", reml = TRUE),
  list(data = "dogs", formula = "y ~ Side + (Side | Dog)", reml = FALSE),
  list(data = "Penicillin", formula = "diameter ~ 1 + (1 | plate) + (1 | sample)", reml = TRUE),
  list(data = "Pastes", formula = "strength ~ 1 + (1 | batch/cask)", reml = TRUE)
)

ctrl <- lmerControl(check.conv.singular = "ignore")
results <- lapply(cases, function(case) {
  reduce <- if (is.null(case$reduce)) TRUE else case$reduce
  fit <- lmer(as.formula(case$formula), data = data_sets[[case$data]], REML = case$reml,
              control = ctrl)
  tab <- ranova(fit, reduce.terms = reduce)
  forms <- vapply(attr(tab, "formulae"), function(f) paste(deparse(f), collapse = ""), "")
  list(data = case$data, formula = case$formula, reml = case$reml, reduce_terms = reduce,
       rows = rownames(tab), reduced_formulae = unname(forms),
       npar = tab$npar, logLik = tab$logLik, AIC = tab$AIC, LRT = tab$LRT, Df = tab$Df,
       p_value = tab[["Pr(>Chisq)"]])
})
versions <- list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
                 lmerTest = as.character(packageVersion("lmerTest")))
write(toJSON(list(versions = versions, cases = results), digits = NA, auto_unbox = TRUE,
             pretty = TRUE, na = "null"),
      file.path(out_dir, "ranova.json"))
cat("wrote", length(results), "ranova tables\n")
