"""Figures and reports built from certification results."""
