"""Scoring: transfer scores on the device, the meta score, merging and intervals."""
