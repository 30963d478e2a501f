"""The `seq2seq` command: `seq2seq translate` turns sentences into translations."""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

from seq2seq.errors import UserError, run_main

DEFAULT_MODEL = Path("models/model.pt")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="seq2seq", description="LSTM encoder-decoder translation.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    commands = parser.add_subparsers(dest="command", required=True)
    tr = commands.add_parser("translate", help="translate sentences (arguments, or stdin one per line)",
                             description="Translate raw sentences with a trained model. Without "
                             "arguments, reads stdin and prints one line per input line.")
    tr.add_argument("sentences", nargs="*", help="sentences to translate (default: read stdin)")
    tr.add_argument("--model", type=Path, default=DEFAULT_MODEL,
                    help=f"checkpoint (default: the pipeline's {DEFAULT_MODEL})")
    tr.add_argument("--max-output-length", type=int, default=20, help="longest translation in tokens")
    tr.add_argument("--batch-size", type=int, default=64, help="stdin lines translated together")
    tr.add_argument("--device", default="cpu", choices=("auto", "cpu", "cuda"))
    return parser


def _translate(args: argparse.Namespace) -> None:
    # Imported here so `seq2seq --help` stays fast.
    from seq2seq.device import resolve_device
    from seq2seq.model.seq2seq import load_checkpoint
    from seq2seq.translate import translate_lines

    if args.max_output_length < 1 or args.batch_size < 1:
        raise UserError("--max-output-length and --batch-size must be at least 1.")
    loaded = load_checkpoint(args.model, resolve_device(args.device))
    if args.sentences:
        lines = args.sentences
    else:
        # Invalid UTF-8 is replaced, never fatal; a terminal gets each line translated as it is typed.
        stdin = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace", newline=None)
        lines = (line.rstrip("\n") for line in stdin)
        if sys.stdin.isatty():
            args.batch_size = 1
    for translation in translate_lines(loaded, lines, args.max_output_length, args.batch_size):
        print(translation, flush=args.batch_size == 1)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `seq2seq` console script."""
    args = _parser().parse_args(argv)
    run_main(lambda: _translate(args), debug=True if args.debug else None)
