"""Data stages' logic: download, text normalisation, splitting, vocabularies and batching."""
