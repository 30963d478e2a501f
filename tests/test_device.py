"""Where torch runs: the device, and the thread counts (params.yaml's value, the SEQ2SEQ_THREADS
override, torch's default shared out)."""

import logging

import pytest
import torch

from seq2seq.device import resolve_device, thread_count, thread_origin, use_threads, warn_if_emulated
from seq2seq.errors import UserError


def test_the_variable_overrides_the_param_and_zero_shares_out_the_cores():
    cores = torch.get_num_threads()
    assert thread_count(3) == 3
    assert thread_count(3, "2") == 2 and thread_count(0, " 5 ") == 5
    assert thread_count(3, "") == 3 and thread_count(3, None) == 3  # set but empty counts as unset
    assert thread_count(0) == cores
    assert thread_count(0, "0", processes=2) == max(1, cores // 2)
    assert thread_count(0, processes=cores + 1) == 1  # never below one thread


@pytest.mark.parametrize("value", ["two", "-1", "1.5"])
def test_a_bad_variable_is_named(value):
    with pytest.raises(UserError, match=rf"SEQ2SEQ_THREADS='{value}' is not a thread count.*integer >= 0"):
        thread_count(0, value)


def test_use_threads_sets_torch():
    before = torch.get_num_threads()
    try:
        use_threads(1)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_the_log_names_the_setting_obeyed():
    assert thread_origin(2, " 1 ", "train.threads") == "SEQ2SEQ_THREADS=1"
    assert thread_origin(2, "", "train.threads") == "train.threads: 2"
    assert thread_origin(0, None, "evaluate.threads") == "evaluate.threads: 0, torch's default"


def test_use_threads_logs_the_count_and_its_origin(caplog):
    before = torch.get_num_threads()
    try:
        with caplog.at_level("INFO", logger="seq2seq.device"):
            use_threads(1, "SEQ2SEQ_THREADS=1")
    finally:
        torch.set_num_threads(before)
    assert caplog.messages == ["torch uses 1 CPU thread(s) (SEQ2SEQ_THREADS=1)"]


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto") == torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(UserError, match="train.device is cuda but no CUDA GPU is visible: set train.device"):
            resolve_device("cuda", "train.device")


def test_bf16_on_a_cpu_without_bfloat16_units_is_warned_about(caplog):
    # oneDNN tells whether this CPU has bfloat16 units; the warning follows it, and fp32 never warns.
    with caplog.at_level(logging.WARNING, logger="seq2seq.device"):
        warn_if_emulated(torch.device("cpu"), "fp32", "train.precision")
        assert caplog.records == []
        warn_if_emulated(torch.device("cpu"), "bf16", "train.precision")
    expected = 0 if torch.ops.mkldnn._is_mkldnn_bf16_supported() else 1
    assert len(caplog.records) == expected
    assert all("train.precision is bf16 but this CPU has no bfloat16 units" in r.getMessage() for r in caplog.records)
