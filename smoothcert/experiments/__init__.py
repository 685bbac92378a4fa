"""Experiment jobs: train, sample, tabulate and plot into resumable run folders.

One module per line of research: :mod:`.audit` (the cost of smoothing), :mod:`.tradeoff` (training against
smoothing noise), :mod:`.uncertainty` (uncertainty-aware certification) and :mod:`.mixing` (adaptive
smoothing). They sit above :mod:`smoothcert.analysis` and :mod:`smoothcert.report`, which they combine,
and below the command line, which calls them.
"""
