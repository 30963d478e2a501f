"""`seq2seq bench`: throughput against the machine's peak, and the FLOP count it uses."""
