"""DVC stage `download`: fetch the pairs archive (or take it from SEQ2SEQ_DATA_DIR) and extract the pairs."""

import argparse
import os
from pathlib import Path

from seq2seq.config import load_params
from seq2seq.data.download import MIRROR_ENV, download
from seq2seq.runner import run_main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, required=True, help="where the extracted pairs file goes")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = parser.parse_args()
    cfg = load_params(args.params, "download")["download"]
    mirror = os.environ.get(MIRROR_ENV)
    download(cfg.url, cfg.sha256, args.out, Path(mirror) if mirror else None)


if __name__ == "__main__":
    run_main(main)
