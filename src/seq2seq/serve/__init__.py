"""`seq2seq serve`: the translation API (FastAPI) and its page."""
