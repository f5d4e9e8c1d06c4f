"""From fit to report: tidy tables of estimates and model statistics (broom.mixed's layout)
and models side by side (a report's regression table)."""

from lmmpy.report._model_table import ModelTable, model_table
from lmmpy.report._tidy import glance, tidy

__all__ = ["ModelTable", "glance", "model_table", "tidy"]
