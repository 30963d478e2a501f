"""DVC stage `vocab`: source and target vocabularies (words or BPE pieces) from the training split."""

import argparse
from pathlib import Path

from seq2seq.config import load_params
from seq2seq.data.vocab import build_vocabs
from seq2seq.runner import run_main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--train", type=Path, required=True, help="training pairs TSV")
    parser.add_argument("--extra", type=Path, required=True, help="extra training pairs TSV (from split)")
    parser.add_argument("--out", type=Path, required=True, help="output folder: source.txt, target.txt "
                        "(and source.model, target.model for bpe)")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = parser.parse_args()
    cfg = load_params(args.params, "vocab")["vocab"]
    build_vocabs(args.train, args.out, cfg.type, cfg.min_count, cfg.max_size, cfg.pieces, cfg.joint,
                 args.extra)


if __name__ == "__main__":
    run_main(main)
