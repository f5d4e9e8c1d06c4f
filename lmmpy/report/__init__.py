"""From fit to report: tidy tables of estimates and model statistics (broom.mixed's layout)."""

from lmmpy.report._tidy import glance, tidy

__all__ = ["glance", "tidy"]
