# lme4's VerbAgg (verbal aggression, 316 respondents x 24 items) for lmmpy.datasets
# and the VerbAgg speed benchmark (benchmarks/run_all.py --cases verbagg ...).
#   Rscript tools/reference/export_verbagg.R
# Factor level orders are recorded in lmmpy/datasets/__init__.py (_CATALOG).
suppressMessages(library(lme4))
out <- gzfile("lmmpy/datasets/VerbAgg.csv.gz", "w")
write.csv(VerbAgg, out, row.names = FALSE)
close(out)
