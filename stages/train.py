"""DVC stage `train`: fit the LSTM encoder-decoder; write checkpoint, per-epoch history and metrics,
and log each epoch through dvclive. With train.processes above 1, torch DDP trains in that many
processes; the first one logs and writes. Started by torchrun (e.g. on several machines), it is one
of torchrun's processes and train.processes is not used (docs/distributed.md)."""

import argparse
import logging
import os
from contextlib import nullcontext
from pathlib import Path

from seq2seq.config import load_params
from seq2seq.device import THREADS_VARIABLE, stage_threads, use_threads
from seq2seq.runner import run_main
from seq2seq.training.distributed import Workers, from_torchrun, launch
from seq2seq.training.live import check_layout, discard, dvclive_epochs
from seq2seq.training.trainer import train_file


def train(workers: Workers, args: argparse.Namespace, params: dict, threads: tuple[int, str]) -> None:
    """One training process (each sets its own thread count: spawned processes start afresh)."""
    use_threads(*threads)
    live = dvclive_epochs(args.live_metrics, args.live_plots) if workers.is_main else nullcontext()
    try:
        with live as on_epoch:
            train_file(args.train, args.vocab, args.text, args.model, args.history, args.metrics,
                       params["encoder"], params["decoder"], params["train"], on_epoch, workers,
                       args.extra)
    except BaseException:
        if workers.is_main:  # dvclive's files of a run that saved no model must not pass for finished
            discard(args.live_metrics, args.live_plots)
        raise


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--train", type=Path, required=True, help="training pairs TSV")
    parser.add_argument("--extra", type=Path, required=True, help="extra training pairs TSV (from split)")
    parser.add_argument("--vocab", type=Path, required=True, help="folder from the vocab stage")
    parser.add_argument("--text", type=Path, required=True, help="text settings JSON from prepare")
    parser.add_argument("--model", type=Path, required=True, help="output: checkpoint")
    parser.add_argument("--history", type=Path, required=True, help="output: per-epoch TSV")
    parser.add_argument("--metrics", type=Path, required=True, help="output: training metrics JSON")
    parser.add_argument("--live-metrics", type=Path, required=True, help="output: dvclive's DIR/metrics.json")
    parser.add_argument("--live-plots", type=Path, required=True, help="output: dvclive's DIR/plots")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = parser.parse_args()
    p = load_params(args.params, "encoder", "decoder", "train")
    check_layout(args.live_metrics, args.live_plots)
    torchrun = from_torchrun()
    processes = torchrun.local_size if torchrun else p["train"].processes
    threads = stage_threads(p["train"].threads, os.environ.get(THREADS_VARIABLE), "train.threads", processes)
    try:
        if torchrun:
            if not torchrun.is_main:  # rank 0 speaks for all, as with train.processes
                logging.getLogger("seq2seq").setLevel(logging.WARNING)
            train(torchrun, args, p, threads)
        else:
            launch(train, processes, args, p, threads)
    except BaseException:
        # Again once every process has ended: rank 0 cannot clean up if it was killed outright.
        if torchrun is None:
            discard(args.live_metrics, args.live_plots)
        raise


if __name__ == "__main__":
    run_main(main)
