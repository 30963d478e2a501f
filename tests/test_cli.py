"""The `seq2seq` command: its subcommands, defaults taken from the params' one home, and bad
options refused with one paragraph and exit status 1."""

import pytest

from seq2seq.cli import _beam_size, _parser, main
from seq2seq.config import EvaluateConfig, PrepareConfig


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
