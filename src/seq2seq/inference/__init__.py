"""Inference: search (greedy, beam) and translating raw text."""
