"""The `seq2seq` command: its subcommands, defaults taken from the params' one home, bad options
refused with one paragraph and exit status 1, and the sentence lengths `bench` draws. What each
command prints is tested with its module (test_translate.py, test_reference.py, test_bench.py,
test_serve.py)."""

import argparse

import pytest

from seq2seq.cli import _beam_size, _bench_shape, _parser, main
from seq2seq.config import EvaluateConfig, PrepareConfig
from seq2seq.data.batching import encode_pairs
from seq2seq.data.vocab import build_vocabs
from seq2seq.fileio import read_pairs, write_pairs
from tests.conftest import REPO, seq2seq_cli


def run(capsys, *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as stop:
        main(list(argv))
    out, err = capsys.readouterr()
    return stop.value.code, out, err


def test_help_lists_every_command(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0 and all(name in out for name in ("translate", "compare", "bench"))


def test_translate_decodes_as_the_evaluate_stage_by_default():
    args = _parser().parse_args(["translate", "x"])
    evaluate = EvaluateConfig()
    assert (_beam_size(args), args.length_penalty, args.max_output_length) == (
        evaluate.beam_size, evaluate.length_penalty, evaluate.max_output_length)
    assert _beam_size(_parser().parse_args(["translate", "--reference", "x"])) == 1
    epilog = _parser()._subparsers._group_actions[0].choices["translate"].epilog
    assert f"prepare.max_length = {PrepareConfig().max_length} words" in epilog and "they re" in epilog


def test_compare_defaults_are_head_against_the_workspace():
    args = _parser().parse_args(["compare"])
    assert (args.a, args.b, args.bootstrap, args.trials, args.alpha) == ("HEAD", "workspace", 1000, 10000, 0.05)


@pytest.mark.parametrize("argv, message", [
    (["compare", "--alpha", "1.5"], "--alpha must be strictly between 0 and 1"),
    (["compare", "--bootstrap", "10"], "--bootstrap must be at least 40"),
    (["translate", "--beam", "0", "x"], "--beam must be at least 1"),
    (["translate", "--model", "absent/model.pt", "x"], "no model at absent/model.pt"),
])
def test_bad_options_get_one_paragraph_and_exit_1(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 1 and out == ""
    assert err.startswith(f"error: {message}") and "Traceback" not in err and err.count("\n") == 1


@pytest.mark.parametrize("option, value, message", [
    ("--beam", "0", b"--beam must be at least 1"),
    ("--length-penalty", "-1", b"--length-penalty must be 0 or more"),
    ("--length-penalty", "nan", b"--length-penalty must be 0 or more"),
])
def test_translate_refuses_bad_beam_settings(served_checkpoint, option, value, message):
    result = seq2seq_cli("translate", "--model", str(served_checkpoint), option, value, "Je suis froid.")
    assert result.returncode == 1 and message in result.stderr
    assert b"Traceback" not in result.stderr and result.stdout == b""


def test_n_best_above_the_beam_is_refused(served_checkpoint):
    result = seq2seq_cli("translate", "--model", str(served_checkpoint), "--beam", "2", "--n-best", "3",
                         "Je suis froid.")
    assert result.returncode == 1 and b"Traceback" not in result.stderr
    assert result.stderr.decode().strip() == ("error: --n-best must be between 1 and --beam (2), not 3: beam search "
                                              "keeps only --beam hypotheses per line.")


@pytest.mark.parametrize("args, message", [(["--beam", "3"], "--reference decodes greedily"),
                                           (["--n-best", "2", "--beam", "2"], "--reference decodes greedily"),
                                           (["--model", "SECOND"], "--reference reads one model")])
def test_translate_reference_refuses_a_beam_and_an_ensemble(served_checkpoint, args, message):
    args = [str(served_checkpoint) if a == "SECOND" else a for a in args]
    result = seq2seq_cli("translate", "--model", str(served_checkpoint), "--reference", *args,
                         stdin="je suis froid .\n", cwd=REPO)
    assert result.returncode == 1 and message in result.stderr and "Traceback" not in result.stderr
    assert result.stdout == ""


def test_bench_draws_lengths_cut_as_training_cuts_them(tmp_path):
    # With a piece vocabulary the bench's sentences must be as long as training's examples, in pieces,
    # not in words (pieces are more: "parlerons" is no single piece of a 40-piece vocabulary).
    pairs = [("nous parlerons demain .", "we will talk tomorrow ."), ("je suis la .", "i am here ."),
             ("ils mangeaient des pommes .", "they were eating apples .")] * 20
    write_pairs(tmp_path / "pairs.tsv", pairs)
    source, target = build_vocabs(tmp_path / "pairs.tsv", tmp_path / "vocab", "bpe", size=40)
    args = argparse.Namespace(pairs=tmp_path / "pairs.tsv", vocab=tmp_path / "vocab", length=8, vocab_size=3000)
    lengths, source_size, target_size, origin = _bench_shape(args)
    assert (source_size, target_size) == (len(source), len(target))
    assert lengths == [(len(s), len(t)) for s, t in encode_pairs(read_pairs(tmp_path / "pairs.tsv"), source, target)]
    assert lengths[0][0] > 4 + 1 and origin.endswith("cut by " + str(args.vocab))
    words, *_ = _bench_shape(argparse.Namespace(**{**vars(args), "vocab": tmp_path / "none"}))
    assert words[:3] == [(5, 6), (5, 5), (6, 6)]  # words and <eos>
