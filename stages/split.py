"""DVC stage `split`: train/test split that never puts one sentence, source or target, on both sides."""

import argparse
from pathlib import Path

from seq2seq.config import load_params
from seq2seq.data.split import split_file
from seq2seq.runner import run_main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pairs", type=Path, required=True, help="prepared pairs TSV")
    parser.add_argument("--extra", type=Path, required=True,
                        help="pairs only the prefix filter dropped (from prepare), TSV")
    parser.add_argument("--train", type=Path, required=True, help="output: training pairs TSV")
    parser.add_argument("--extra-train", type=Path, required=True,
                        help="output: extra training pairs TSV (none shares a sentence with the test split)")
    parser.add_argument("--test", type=Path, required=True, help="output: test pairs TSV")
    parser.add_argument("--stats", type=Path, required=True, help="output: split stats JSON (a metric)")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = parser.parse_args()
    cfg = load_params(args.params, "split")["split"]
    split_file(args.pairs, args.extra, args.train, args.extra_train, args.test, args.stats, cfg.test_fraction,
               cfg.seed, cfg.extra_fraction)


if __name__ == "__main__":
    run_main(main)
