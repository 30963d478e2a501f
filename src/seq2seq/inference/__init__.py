"""Inference: search (greedy, beam, one entry point) and translating raw text or encoded sources."""
