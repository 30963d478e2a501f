"""The process runner: a UserError, Ctrl-C and SIGTERM become one line on stderr and the exit status
a shell would report; with debug on, the exception and its traceback go through."""

import io
import signal
import sys

import pytest

from seq2seq.errors import Terminated, UserError
from seq2seq.runner import interactive, run_main


def raises(exc: BaseException):
    def main() -> None:
        raise exc
    return main


@pytest.fixture(autouse=True)
def restore_sigterm():
    previous = signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGTERM, previous)


@pytest.mark.parametrize("exc, code, message", [
    (UserError("bad value x: use y."), 1, "error: bad value x: use y.\n"),
    (KeyboardInterrupt(), 130, "error: interrupted; no output was written"),
    (Terminated(), 143, "error: terminated; no output was written"),
])
def test_errors_become_one_line_and_an_exit_status(capsys, exc, code, message):
    with pytest.raises(SystemExit) as stop:
        run_main(raises(exc), debug=False)
    assert stop.value.code == code
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1


def test_debug_lets_the_exception_through():
    with pytest.raises(UserError, match="bad"):
        run_main(raises(UserError("bad")), debug=True)


def test_sigterm_is_raised_as_terminated_inside_main():
    def main() -> None:
        signal.raise_signal(signal.SIGTERM)
    with pytest.raises(Terminated):
        run_main(main, debug=True)


def test_progress_bars_only_on_a_terminal(monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True
    monkeypatch.setattr(sys, "stderr", io.StringIO())  # a log file, CI, `dvc queue logs`
    assert interactive() is False
    monkeypatch.setattr(sys, "stderr", Terminal())
    assert interactive() is True
