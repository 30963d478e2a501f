"""DVC stage `evaluate`: score the trained model on the test split; write metrics and every translation.
Run by hand with several --model, it scores their ensemble (docs/serving.md)."""

import argparse
import os
from pathlib import Path

from seq2seq.config import load_params
from seq2seq.device import THREADS_VARIABLE, stage_threads, use_threads
from seq2seq.evaluation.evaluator import EvaluationOutputs, evaluate_file
from seq2seq.runner import run_main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, required=True, action="append",
                        help="checkpoint from train; several (outside DVC) are scored as one ensemble")
    parser.add_argument("--test", type=Path, required=True, help="test pairs TSV")
    parser.add_argument("--metrics", type=Path, required=True, help="output: metrics JSON")
    parser.add_argument("--samples", type=Path, required=True, help="output: sample predictions TSV")
    parser.add_argument("--translations", type=Path, required=True,
                        help="output: every test source's references and translation TSV")
    parser.add_argument("--signatures", type=Path, required=True, help="output: sacrebleu signatures")
    parser.add_argument("--report", type=Path, required=True, help="output: scores by length and novelty TSV")
    parser.add_argument("--attention", type=Path, required=True, help="output: folder of attention heatmaps")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = parser.parse_args()
    cfg = load_params(args.params, "evaluate")["evaluate"]
    use_threads(*stage_threads(cfg.threads, os.environ.get(THREADS_VARIABLE), "evaluate.threads"))
    outputs = EvaluationOutputs(args.metrics, args.samples, args.translations, args.signatures, args.report,
                                args.attention)
    evaluate_file(args.model, args.test, outputs, cfg)


if __name__ == "__main__":
    run_main(main)
