"""The `seq2seq` command: `translate` turns sentences into translations, `bench` measures speed."""

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
    bench = commands.add_parser("bench", help="measure training and decoding throughput",
                                description="Time training steps and greedy decoding for the model that "
                                "params.yaml describes, on synthetic sentences.")
    bench.add_argument("--params", type=Path, default=Path("params.yaml"))
    bench.add_argument("--steps", type=int, default=20, help="training batches to time")
    bench.add_argument("--length", type=int, default=9, help="words per synthetic sentence")
    bench.add_argument("--vocab-size", type=int, default=3000, help="words per synthetic vocabulary")
    bench.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    return parser


def _bench(args: argparse.Namespace) -> None:
    from seq2seq.bench import run_bench
    from seq2seq.config import load_params
    from seq2seq.device import resolve_device

    if min(args.steps, args.length, args.vocab_size - 4) < 1:
        raise UserError("--steps and --length must be at least 1 and --vocab-size at least 5.")
    p = load_params(args.params, "encoder", "decoder", "train")
    cfg = p["train"]
    r = run_bench(p["encoder"], p["decoder"], cfg, args.vocab_size, args.vocab_size, args.length,
                  args.steps, resolve_device(args.device))
    print(f"device {r.device}, {r.parameters:,} parameters, batch {cfg.batch_size}, {args.length} words, "
          f"teacher forcing {cfg.teacher_forcing_ratio}")
    print(f"train: {r.train_pairs_per_s:,.0f} pairs/s")
    print(f"greedy decoding: {r.decode_sentences_per_s:,.0f} sentences/s")


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
    command = {"translate": _translate, "bench": _bench}[args.command]
    run_main(lambda: command(args), debug=True if args.debug else None)
