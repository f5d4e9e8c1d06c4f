"""From fit to report: tidy tables of estimates and model statistics (broom.mixed's layout),
models side by side (a report's regression table) and estimated marginal means and trends
(R's emmeans)."""

from lmmpy.report._emmeans import MarginalMeans, MarginalTable, emmeans, emtrends
from lmmpy.report._model_table import ModelTable, model_table
from lmmpy.report._tidy import glance, tidy

__all__ = ["MarginalMeans", "MarginalTable", "ModelTable", "emmeans", "emtrends", "glance",
           "model_table", "tidy"]
