"""Evaluation: scoring, metrics, the per-group breakdown, heatmaps, the kept translations, the
evaluate stage, and comparing runs (significance, `seq2seq compare`)."""
