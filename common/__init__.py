"""Primitives every layer shares: the clock, durations, text normalisation and fingerprints.

Nothing here imports `monitor`, `connectors`, `rules` or `storage`.
"""
