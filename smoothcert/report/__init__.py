"""Figures and reports built from certification results.

Plots live in the ``*_plots`` modules; reports are :class:`smoothcert.document.Document` values rendered by
:mod:`smoothcert.report.markdown` (tables by :mod:`smoothcert.report.tables`: Markdown, LaTeX, TSV).
"""
