"""DVC stage `prepare`: normalise, filter and orient the raw pairs; write pairs, settings and counts."""

import argparse
from pathlib import Path

from seq2seq.config import load_params
from seq2seq.data.text import TextOptions, prepare_file
from seq2seq.runner import run_main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--raw", type=Path, required=True, help="raw pairs file from download")
    parser.add_argument("--pairs", type=Path, required=True, help="output: normalised pairs TSV")
    parser.add_argument("--extra", type=Path, required=True,
                        help="output: the pairs only the English prefix filter dropped, TSV")
    parser.add_argument("--meta", type=Path, required=True, help="output: text settings JSON")
    parser.add_argument("--stats", type=Path, required=True, help="output: counts JSON")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = parser.parse_args()
    cfg = load_params(args.params, "prepare")["prepare"]
    options = TextOptions(keep_accents=cfg.keep_accents, keep_apostrophes=cfg.keep_apostrophes)
    prepare_file(args.raw, args.pairs, args.extra, args.meta, args.stats, cfg.direction, cfg.max_length,
                 cfg.eng_prefixes, options)


if __name__ == "__main__":
    run_main(main)
