"""Tests of lmmpy.formula."""
