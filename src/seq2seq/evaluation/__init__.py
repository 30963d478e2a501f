"""Evaluation: scoring, metrics (BLEU, chrF), the per-group breakdown, heatmaps, the kept
translations, the evaluator the evaluate stage calls, and comparing runs (significance,
`seq2seq compare`)."""
