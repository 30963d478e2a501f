"""DVC stage `train`: fit the LSTM encoder-decoder; write checkpoint, per-epoch history and metrics."""

import argparse
from pathlib import Path

from seq2seq.config import load_params
from seq2seq.errors import run_main
from seq2seq.training import train_file


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--train", type=Path, required=True, help="training pairs TSV")
    parser.add_argument("--vocab", type=Path, required=True, help="folder from the vocab stage")
    parser.add_argument("--text", type=Path, required=True, help="text settings JSON from prepare")
    parser.add_argument("--model", type=Path, required=True, help="output: checkpoint")
    parser.add_argument("--history", type=Path, required=True, help="output: per-epoch TSV")
    parser.add_argument("--metrics", type=Path, required=True, help="output: training metrics JSON")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = parser.parse_args()
    p = load_params(args.params, "encoder", "decoder", "train")
    train_file(args.train, args.vocab, args.text, args.model, args.history,
               args.metrics, p["encoder"], p["decoder"], p["train"])


if __name__ == "__main__":
    run_main(main)
