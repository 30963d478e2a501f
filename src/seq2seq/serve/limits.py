"""What one request to `seq2seq serve` may ask for and how the server batches and bounds its work:
the one home of the server's limits and their defaults (its flags are made from them), apart from
the app so that `seq2seq --help` stays light."""

from __future__ import annotations

from dataclasses import dataclass

from seq2seq.config import EvaluateConfig

EVALUATE = EvaluateConfig()


@dataclass(frozen=True)
class Limits:
    max_lines: int = 64  # lines per request (413 above)
    max_chars: int = 1000  # characters per line (413 above)
    max_beam: int = 10  # beam, and so n_best (422 above)
    max_output_length: int = EVALUATE.max_output_length  # tokens per translation, as evaluate
    length_penalty: float = EVALUATE.length_penalty  # beam scores: log-probability / length ** this
    max_queue: int = 256  # lines waiting to be decoded, all requests together (503 above)
    max_wait: float = 0.02  # seconds at most that a batch waits to fill while requests keep arriving
    arrival_gap: float = 0.003  # seconds without a new request after which a filling batch goes
    batch_lines: int = 64  # lines decoded together at most
    timeout: float = 10.0  # seconds a request may wait for its answer (504 after)
