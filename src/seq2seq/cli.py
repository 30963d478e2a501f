"""The `seq2seq` command: `translate` turns sentences into translations, `serve` offers them over
HTTP with a page, `compare` tests whether two revisions or experiments differ, `bench` measures speed."""

from __future__ import annotations

import argparse
import dataclasses
import io
import sys
from pathlib import Path

from seq2seq.config import PRECISIONS, EvaluateConfig, PrepareConfig
from seq2seq.errors import UserError
from seq2seq.runner import run_main
from seq2seq.serve.limits import Limits

DEFAULT_MODEL = Path("models/model.pt")
EVALUATE, PREPARE = EvaluateConfig(), PrepareConfig()  # translate decodes as the evaluate stage does
LIMITS = Limits()  # serve's flags


def _domain() -> str:
    """What the default pipeline's model knows, in words, from the prepare defaults."""
    starts = ", ".join(p.strip() for p in PREPARE.eng_prefixes)
    return (f"The default pipeline's model knows only short sentences (fewer than prepare.max_length = "
            f"{PREPARE.max_length} words) whose English starts with one of: {starts} (prepare.eng_prefixes). ")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="seq2seq", description="LSTM encoder-decoder translation.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    commands = parser.add_subparsers(dest="command", required=True)
    tr = commands.add_parser("translate", help="translate sentences (arguments, or stdin one per line)",
                             description="Translate raw sentences with a trained model. Without "
                             "arguments, reads stdin and prints one line per input line.",
                             epilog=_domain() + "Words it never saw become <unk> (word vocabularies) and "
                             "longer lines are "
                             "truncated; both are reported on stderr, once per line. A BPE vocabulary "
                             "(vocab.type=bpe) spells unseen words from pieces instead.")
    tr.add_argument("sentences", nargs="*", help="sentences to translate (default: read stdin)")
    tr.add_argument("--model", type=Path, action="append", metavar="PATH",
                    help=f"checkpoint (default: the pipeline's {DEFAULT_MODEL}); give it again for an ensemble, "
                    "whose log-probabilities are averaged at every step")
    tr.add_argument("--n-best", type=int, default=1, metavar="N",
                    help="print the N best translations of each line (N <= --beam) as a block of lines "
                    "'LINE<TAB>RANK<TAB>SCORE<TAB>TRANSLATION' ended by an empty line; SCORE is the "
                    "log-probability / length ** --length-penalty")
    tr.add_argument("--max-output-length", type=int, default=EVALUATE.max_output_length,
                    help=f"longest translation in tokens (default {EVALUATE.max_output_length}, as evaluate)")
    tr.add_argument("--batch-size", type=int, default=64, help="stdin lines translated together")
    tr.add_argument("--beam", type=int, metavar="N",
                    help=f"hypotheses kept per sentence (default {EVALUATE.beam_size}, as the evaluate stage); "
                    "1 is greedy decoding")
    tr.add_argument("--reference", action="store_true",
                    help="decode greedily with the word-by-word reference model (seq2seq.model.reference, "
                    "docs/from-scratch.md), one sentence and one word at a time: prints what --beam 1 prints, "
                    "slowly")
    tr.add_argument("--length-penalty", type=float, default=EVALUATE.length_penalty, metavar="X",
                    help=f"beam search ranks log-probability / length ** X (default {EVALUATE.length_penalty}, "
                    "as evaluate; 1.0: per token; 0: the plain sum, which favours short translations)")
    tr.add_argument("--device", default="cpu", choices=("auto", "cpu", "cuda"))
    tr.add_argument("--precision", default=EVALUATE.precision, choices=("auto", *PRECISIONS),
                    help="arithmetic of decoding (default auto: the precision the checkpoint was trained in)")
    cmp = commands.add_parser("compare", help="is B better than A? paired tests on the kept test translations",
                              description="Compare the test translations of two revisions or experiments "
                              "(read through DVC, nothing is checked out) on BLEU and chrF, each source against "
                              "all of its references: both scores, B - A with its 95% interval (paired "
                              "bootstrap), a p-value and a verdict. A side may name several runs (training "
                              "seeds), comma-separated, or select experiments by params; then each side's mean "
                              "and standard deviation over runs are compared, and the interval and p-value "
                              "come from a bootstrap over both runs and sentences.",
                              epilog="Examples: seq2seq compare (HEAD against the workspace, as dvc metrics "
                              "diff); seq2seq compare main my-exp; seq2seq compare "
                              "encoder.bidirectional=false encoder.bidirectional=true (every finished "
                              "experiment dvc exp show lists with that param, e.g. three training seeds each).")
    cmp.add_argument("a", nargs="?", default="HEAD", help="side A: revisions or experiments, comma-separated, "
                     "or params conditions key=value,... (default HEAD)")
    cmp.add_argument("b", nargs="?", default="workspace", help="side B, as A (default workspace: the working tree)")
    cmp.add_argument("--repo", type=Path, default=Path("."), help="the DVC repository (default: here)")
    cmp.add_argument("--rev", default="HEAD", help="the commit whose experiments a params selection picks "
                     "from, as dvc exp show --rev (default HEAD)")
    cmp.add_argument("--bootstrap", type=int, default=1000, metavar="N",
                     help="bootstrap resamples for the 95%% interval (default 1000, at least 40)")
    cmp.add_argument("--trials", type=int, default=10000, metavar="N",
                     help="approximate randomization trials for the p-value, or bootstrap resamples when a "
                     "side has several runs (default 10000)")
    cmp.add_argument("--seed", type=int, default=12345, help="seed of the resampling (default 12345)")
    cmp.add_argument("--alpha", type=float, default=0.05, help="significance level of the verdict (default 0.05)")
    shape = cmp.add_mutually_exclusive_group()
    shape.add_argument("--json", action="store_true", help="print one JSON object")
    shape.add_argument("--md", action="store_true", help="print a Markdown table, for a pull request")
    bench = commands.add_parser("bench", help="measure training and decoding throughput against the peak",
                                description="Time the real training step, the original per-word loop and "
                                "greedy decoding for the model that params.yaml describes, on synthetic "
                                "sentences shaped like the prepared data, and compare with the machine's "
                                "matrix-multiply peak.")
    bench.add_argument("--params", type=Path, default=Path("params.yaml"))
    bench.add_argument("--pairs", type=Path, default=Path("data/prepared/pairs.tsv"),
                       help="prepared pairs to draw sentence lengths from (if missing: --length)")
    bench.add_argument("--vocab", type=Path, default=Path("data/vocab"),
                       help="folder with source.txt and target.txt for the vocabulary sizes (if missing: "
                       "--vocab-size)")
    bench.add_argument("--length", type=int, default=8, help="tokens per sentence without prepared pairs")
    bench.add_argument("--vocab-size", type=int, default=3000, help="words per vocabulary without --vocab")
    bench.add_argument("--steps", type=int, default=30, help="training batches to time")
    bench.add_argument("--per-word-seconds", type=float, default=3.0, help="how long to time the per-word loop")
    bench.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    bench.add_argument("--precision", choices=PRECISIONS,
                       help="train.precision to measure (default: the params file's)")
    bench.add_argument("--json", action="store_true", help="print one JSON line instead of a table")
    bench.add_argument("--precision-ratio", action="store_true",
                       help="time only the training step, in fp32 and in bf16 alternated for --rounds rounds in "
                       "one process, and report each round's bf16 / fp32 pairs/s and their median")
    bench.add_argument("--rounds", type=int, default=None,
                       help="with --precision-ratio: rounds, each timing both precisions (default 5)")
    bench.add_argument("--serve", action="store_true",
                       help="measure `seq2seq serve` under load instead: it starts the server on a free port and "
                       "drives 1, 8, 32 and 128 concurrent clients with one-line requests, one client with "
                       "batched ones and clients with maximal requests, sending the sources of --pairs")
    bench.add_argument("--model", type=Path, action="append", metavar="PATH",
                       help=f"with --serve: the checkpoint served (default {DEFAULT_MODEL})")
    serve = commands.add_parser("serve", help="a translation server (HTTP API and a page) on this machine",
                                description="Serve the model over HTTP: POST /translate, GET /health, "
                                "/ready, /metrics (Prometheus), /model, the page at / and the API's "
                                "documentation at /docs. The model is loaded once; the lines of concurrent "
                                "requests are decoded together. Requests beyond the limits below get a 413 or "
                                "422 naming them; a full queue answers 503 with Retry-After, a request past "
                                "--timeout 504.",
                                epilog=_domain())
    serve.add_argument("--model", type=Path, action="append", metavar="PATH",
                       help=f"checkpoint (default: the pipeline's {DEFAULT_MODEL}); again for an ensemble")
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to listen on (default 127.0.0.1: this machine only; 0.0.0.0 for all)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    serve.add_argument("--device", default="cpu", choices=("auto", "cpu", "cuda"))
    serve.add_argument("--precision", default=EVALUATE.precision, choices=("auto", *PRECISIONS),
                       help="arithmetic of decoding (default auto: the checkpoint's)")
    serve.add_argument("--max-lines", type=int, default=LIMITS.max_lines,
                       help=f"most lines per request (default {LIMITS.max_lines}; more: 413)")
    serve.add_argument("--max-chars", type=int, default=LIMITS.max_chars,
                       help=f"most characters per line (default {LIMITS.max_chars}; more: 413)")
    serve.add_argument("--max-beam", type=int, default=LIMITS.max_beam,
                       help=f"largest beam (and n_best) a request may ask (default {LIMITS.max_beam}; more: 422)")
    serve.add_argument("--max-output-length", type=int, default=LIMITS.max_output_length,
                       help=f"longest translation in tokens (default {LIMITS.max_output_length}, as evaluate)")
    serve.add_argument("--length-penalty", type=float, default=LIMITS.length_penalty, metavar="X",
                       help=f"beam scores are log-probability / length ** X (default {LIMITS.length_penalty})")
    serve.add_argument("--max-queue", type=int, default=LIMITS.max_queue, metavar="LINES",
                       help=f"most lines waiting to be decoded, all requests together (default "
                       f"{LIMITS.max_queue}; a request that would overflow it: 503 with Retry-After)")
    serve.add_argument("--batch-size", type=int, default=LIMITS.batch_lines, metavar="LINES",
                       help=f"most lines decoded together (default {LIMITS.batch_lines})")
    serve.add_argument("--max-wait", type=float, default=LIMITS.max_wait, metavar="SECONDS",
                       help=f"how long a batch may wait to fill while requests keep arriving, after its first "
                       f"(default {LIMITS.max_wait:g}; 0 takes what is queued)")
    serve.add_argument("--arrival-gap", type=float, default=LIMITS.arrival_gap, metavar="SECONDS",
                       help=f"a filling batch goes once no request has arrived for this long (default "
                       f"{LIMITS.arrival_gap:g}; equal to --max-wait: always wait the full --max-wait)")
    serve.add_argument("--timeout", type=float, default=LIMITS.timeout, metavar="SECONDS",
                       help=f"longest a request waits for its answer (default {LIMITS.timeout:g}; then 504, "
                       "and its lines are not decoded if they have not started)")
    return parser


def _bench_shape(args: argparse.Namespace) -> tuple[list[tuple[int, int]], int, int, str]:
    """(source, target) token counts with `<eos>`, vocabulary sizes, and where they came from: the
    prepared pairs cut as training cuts them (pieces with a bpe vocabulary in --vocab, else words)."""
    from seq2seq.data.text import tokenize
    from seq2seq.data.vocab import SOURCE_FILE, TARGET_FILE, load_vocabs
    from seq2seq.fileio import read_pairs

    vocabs = None
    if all((args.vocab / name).is_file() for name in (SOURCE_FILE, TARGET_FILE)):
        vocabs = load_vocabs(args.vocab)
    sizes = (len(vocabs[0]), len(vocabs[1])) if vocabs else (args.vocab_size, args.vocab_size)
    if not args.pairs.is_file():
        return [(args.length + 1, args.length + 1)], *sizes, f"{args.length} tokens each"
    split_source, split_target = (vocabs[0].split, vocabs[1].split) if vocabs else (tokenize, tokenize)
    lengths = [(len(split_source(s)) + 1, len(split_target(t)) + 1) for s, t in read_pairs(args.pairs)]
    if not lengths:
        raise UserError(f"{args.pairs} holds no pairs to draw sentence lengths from: rerun the prepare "
                        "stage, or pass --pairs of a file that does not exist to use --length.")
    cut = f"cut by {args.vocab}" if vocabs else "in words"
    return lengths, *sizes, f"{args.pairs}, {cut}"


def _bench(args: argparse.Namespace) -> None:
    import json

    if args.serve:
        _bench_serve(args)
        return
    import torch

    from seq2seq.bench.throughput import BENCH_KEYS, PRECISION_ROUNDS, run_bench
    from seq2seq.config import load_params
    from seq2seq.device import resolve_device

    if min(args.steps, args.length, args.vocab_size - 4) < 1 or args.per_word_seconds <= 0:
        raise UserError("--steps and --length must be at least 1, --vocab-size at least 5 and "
                        "--per-word-seconds above 0.")
    if args.rounds is not None and (not args.precision_ratio or args.rounds < 1):
        raise UserError("--rounds goes with --precision-ratio and must be at least 1.")
    if args.precision_ratio and args.precision is not None:
        raise UserError("--precision-ratio times both precisions: leave out --precision.")
    p = load_params(args.params, "encoder", "decoder", "train", "evaluate")
    lengths, source_size, target_size, origin = _bench_shape(args)
    device = resolve_device(args.device)
    if args.precision_ratio:
        _bench_precisions(args, p, lengths, source_size, target_size, device, args.rounds or PRECISION_ROUNDS)
        return
    if args.precision is not None:
        p["train"] = dataclasses.replace(p["train"], precision=args.precision)
    result = run_bench(p["encoder"], p["decoder"], p["train"], source_size, target_size, lengths, args.steps,
                       p["evaluate"].batch_size, device, args.per_word_seconds)
    config = {"parameters": result.pop("parameters"), "source_vocab": source_size, "target_vocab": target_size,
              "lengths_from": origin, "batch_size": p["train"].batch_size, "threads": torch.get_num_threads(),
              "encoder": dataclasses.asdict(p["encoder"]), "decoder": dataclasses.asdict(p["decoder"]),
              "teacher_forcing_ratio": p["train"].teacher_forcing_ratio, "precision": p["train"].precision}
    if args.json:
        print(json.dumps({**{k: result[k] for k in BENCH_KEYS}, "config": config, "device": str(device)}))
        return
    print(f"device {device} ({config['threads']} threads), {config['parameters']:,} parameters, batch "
          f"{config['batch_size']}, vocabularies {source_size}/{target_size}, lengths from {origin}")
    for key in BENCH_KEYS:
        print(f"  {key:<26}{result[key]:>12,}")


def _bench_precisions(args: argparse.Namespace, p: dict, lengths: list[tuple[int, int]], source_size: int,
                      target_size: int, device, rounds: int) -> None:
    """`seq2seq bench --precision-ratio`: training pairs/s in fp32 and bf16, alternated."""
    import json

    from seq2seq.bench.throughput import precision_ratios

    result = precision_ratios(p["encoder"], p["decoder"], p["train"], source_size, target_size, lengths,
                              args.steps, device, rounds)
    if args.json:
        print(json.dumps({**result, "device": str(device)}))
        return
    print(f"training pairs/s on {device}, {result['pairs_per_round']} pairs a round, fp32 and bf16 alternated:")
    for n, (fp32, bf16, ratio) in enumerate(zip(result["fp32_pairs_per_s"], result["bf16_pairs_per_s"],
                                                result["bf16_over_fp32"]), start=1):
        print(f"  round {n}: fp32 {fp32:,.1f}, bf16 {bf16:,.1f}, bf16 / fp32 {ratio:.3f}")
    print(f"  median bf16 / fp32: {result['median_bf16_over_fp32']:.3f}")


def _bench_serve(args: argparse.Namespace) -> None:
    import json

    from seq2seq.bench.serving import as_table, run_serve_bench
    from seq2seq.fileio import read_pairs

    models = args.model or [DEFAULT_MODEL]
    for path in models:
        if not path.is_file():
            raise UserError(f"no model at {path}: train one with dvc repro, or pass --model PATH.")
    sentences = [source for source, _ in read_pairs(args.pairs)] if args.pairs.is_file() else []
    if not sentences:
        sentences = ["Je suis en retard.", "Il est marié.", "Nous sommes sérieux.", "Elle a peur des chiens."]
    result = run_serve_bench([arg for path in models for arg in ("--model", str(path))], sentences)
    print(json.dumps(result) if args.json else as_table(result))


def _load(args: argparse.Namespace):
    """What `translate` and `serve` decode with: the device, the checkpoint(s) (`--model`, repeated
    for an ensemble) and the precision (`--precision auto`: the one they were trained in)."""
    from seq2seq.device import resolve_device, warn_if_emulated
    from seq2seq.inference.ensemble import load_models

    device = resolve_device(args.device)
    loaded = load_models(args.model or [DEFAULT_MODEL], device)
    precision = loaded.precision if args.precision == "auto" else args.precision
    warn_if_emulated(device, precision, "--precision")
    return device, loaded, precision


def _beam_size(args: argparse.Namespace) -> int:
    """`translate`'s beam: --beam, else the evaluate stage's; 1 with --reference, which refuses a
    beam, n-best lists and ensembles."""
    if not args.reference:
        return EVALUATE.beam_size if args.beam is None else args.beam
    if args.beam not in (None, 1) or args.n_best != 1:
        raise UserError(f"--reference decodes greedily, one word at a time, so it takes no --beam ({args.beam}) "
                        f"or --n-best ({args.n_best}): drop them, or drop --reference to search with the fast "
                        "model.")
    if args.model and len(args.model) > 1:
        raise UserError(f"--reference reads one model, not an ensemble of {len(args.model)}: give --model once, "
                        "or drop --reference to translate with the ensemble.")
    return 1


def _translate(args: argparse.Namespace) -> None:
    # Imported here so `seq2seq --help` stays fast.
    from seq2seq.device import autocast
    from seq2seq.inference.translate import translate_lines

    if args.max_output_length < 1 or args.batch_size < 1:
        raise UserError("--max-output-length and --batch-size must be at least 1.")
    args.beam = _beam_size(args)
    if args.beam < 1:
        raise UserError(f"--beam must be at least 1 (1 is greedy decoding), not {args.beam}.")
    if not 0 <= args.length_penalty < float("inf"):  # nan fails both comparisons
        raise UserError(f"--length-penalty must be 0 or more (1.0 ranks by log-probability per token), "
                        f"not {args.length_penalty}.")
    if not 1 <= args.n_best <= args.beam:
        raise UserError(f"--n-best must be between 1 and --beam ({args.beam}), not {args.n_best}: beam search "
                        "keeps only --beam hypotheses per line.")
    device, loaded, precision = _load(args)
    if args.sentences:
        lines = args.sentences
    else:
        # Invalid UTF-8 is replaced, never fatal; a terminal gets each line translated as it is typed.
        stdin = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace", newline=None)
        lines = (line.rstrip("\n") for line in stdin)
        if sys.stdin.isatty():
            args.batch_size = 1
    with autocast(device, precision):
        results = translate_lines(loaded, lines, args.max_output_length, args.batch_size, args.beam,
                                  args.length_penalty, args.n_best, reference=args.reference)
        for number, result in enumerate(results, start=1):
            if args.n_best == 1:
                print(result.translation, flush=args.batch_size == 1)
                continue
            for rank, (text, score) in enumerate(result.alternatives or [("", None)], start=1):
                print(f"{number}\t{rank}\t{'' if score is None else f'{score:.4f}'}\t{text}")
            print(flush=args.batch_size == 1)


def _compare(args: argparse.Namespace) -> None:
    import json
    import logging

    from seq2seq.evaluation.compare import as_json, as_table, compare_sides, load_side

    if args.bootstrap < 40 or args.trials < 1 or args.seed < 0:
        raise UserError("--bootstrap must be at least 40 (the 2.5th and 97.5th percentiles need it), --trials "
                        "at least 1 and --seed 0 or more.")
    if not 0 < args.alpha < 1:
        raise UserError(f"--alpha must be strictly between 0 and 1 (0.05 is usual), not {args.alpha}.")
    if 1 / (args.trials + 1) >= args.alpha:
        logging.getLogger("seq2seq.compare").warning(
            "with --trials %d no p-value can fall below --alpha %g: nothing can be called significant",
            args.trials, args.alpha)
    a, b = load_side(args.repo, args.a, args.rev), load_side(args.repo, args.b, args.rev)
    result = compare_sides(a, b, args.bootstrap, args.trials, args.seed)
    n_sources = len(a.translations[0].sources)
    if args.json:
        print(json.dumps(as_json(a, b, n_sources, result)))
    else:
        print(as_table(a, b, n_sources, result, args.alpha, markdown=args.md))


def _serve(args: argparse.Namespace) -> None:
    import json
    import socket

    from seq2seq.serve.server import run_server

    if min(args.max_lines, args.max_chars, args.max_beam, args.max_output_length, args.batch_size) < 1:
        raise UserError("--max-lines, --max-chars, --max-beam, --max-output-length and --batch-size must be at "
                        "least 1.")
    if args.max_queue < args.max_lines:
        raise UserError(f"--max-queue ({args.max_queue}) must be at least --max-lines ({args.max_lines}), or a "
                        "request of --max-lines lines could never be taken.")
    if not 0 <= args.max_wait <= 1 or not 0 <= args.arrival_gap <= 1 or not 0 < args.timeout < float("inf"):
        raise UserError(f"--max-wait and --arrival-gap must be between 0 and 1 second (not {args.max_wait} and "
                        f"{args.arrival_gap}) and --timeout above 0 (not {args.timeout}).")
    if not 0 <= args.length_penalty < float("inf"):
        raise UserError(f"--length-penalty must be 0 or more, not {args.length_penalty}.")
    if not 0 <= args.port <= 65535:
        raise UserError(f"--port must be between 0 and 65535, not {args.port}.")
    try:  # before the model loads, so that a taken port fails at once
        sock = socket.create_server((args.host, args.port))
        # Accepted connections inherit it: without it a keep-alive client's second request waits
        # about 40 ms for its own delayed ACK before the answer's body is sent (Nagle's algorithm).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError as err:
        raise UserError(f"cannot listen on {args.host}:{args.port} ({err.strerror or err}): pick another "
                        "--port (0 picks a free one) or stop what uses it.") from None
    paths = args.model or [DEFAULT_MODEL]
    _, loaded, precision = _load(args)
    metrics = None
    if paths == [DEFAULT_MODEL] and Path("results/metrics.json").is_file():  # the workspace's own model
        metrics = json.loads(Path("results/metrics.json").read_text())
    run_server(loaded, sock, args, {"models": [str(p) for p in paths], "metrics": metrics}, precision)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `seq2seq` console script."""
    args = _parser().parse_args(argv)
    command = {"translate": _translate, "serve": _serve, "compare": _compare, "bench": _bench}[args.command]
    run_main(lambda: command(args), debug=True if args.debug else None)
