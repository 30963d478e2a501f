"""Where torch runs: the device (CUDA when present and asked for, else CPU), its deterministic
settings, the precision of its arithmetic, moving a model onto it, and how many CPU threads each
process uses."""

from __future__ import annotations

import contextlib
import logging
import os

import torch
from torch import nn

from seq2seq.errors import UserError

log = logging.getLogger("seq2seq.device")
# Read by the stage scripts (never by the library) and passed in: it overrides train.threads and
# evaluate.threads without touching params.yaml, so DVC reruns nothing when only it changes.
THREADS_VARIABLE = "SEQ2SEQ_THREADS"


def resolve_device(name: str, key: str = "--device") -> torch.device:
    """`auto` -> cuda if available else cpu; `cuda` fails clearly (naming `key`) when no GPU is visible."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError(f"{key} is cuda but no CUDA GPU is visible: set {key} to auto or cpu.")
    return torch.device(name)


def make_deterministic(device: torch.device) -> None:
    """Settings that make a rerun on CUDA repeat the first: deterministic kernels (cuDNN's LSTM, cuBLAS
    with a fixed workspace, which must be set before its first use), no autotuning that picks kernels
    by timing, and no TF32, so that fp32 means float32 there too. On the CPU torch is deterministic
    already; nothing changes. What still differs on CUDA: results across GPU models, drivers and
    library versions, and between CUDA and the CPU (docs/speed.md)."""
    if device.type != "cuda":
        return
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    # warn_only: an operation without a deterministic CUDA kernel warns instead of stopping a run.
    torch.use_deterministic_algorithms(True, warn_only=True)


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """Where the model runs in `precision`: bf16 runs matrix products and LSTMs in bfloat16 under
    torch's autocast (weights stay float32, and softmax, losses and sums float32); fp32 changes nothing."""
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def cpu_has_bf16() -> bool:
    """Whether this CPU has bfloat16 units that oneDNN uses (AVX-512 BF16 or AMX); without them
    bfloat16 products are emulated, far slower than float32 (docs/precision.md)."""
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def warn_if_emulated(device: torch.device, precision: str, key: str) -> None:
    """Log a warning when `precision` (the value of `key`) is bf16 on a CPU without bfloat16 units."""
    if precision == "bf16" and device.type == "cpu" and not cpu_has_bf16():
        log.warning("%s is bf16 but this CPU has no bfloat16 units (AVX-512 BF16 or AMX): products are emulated, "
                    "many times slower than fp32 (docs/precision.md). Set %s to fp32 here.", key, key)


def move(model: nn.Module, device: torch.device) -> nn.Module:
    """`model` on `device`, or a one-paragraph error saying why not: a GPU out of memory, or a CUDA
    error (a device that is gone, a driver that does not match) in torch's own words."""
    try:
        return model.to(device)
    except torch.cuda.OutOfMemoryError:
        raise UserError(f"the model does not fit in the memory of {device} ({_parameters(model)} parameters): free "
                        "the GPU (nvidia-smi lists what uses it), pick another with CUDA_VISIBLE_DEVICES, or "
                        "use the CPU (--device cpu, or device: cpu in params.yaml).") from None
    except (RuntimeError, AssertionError) as err:
        detail = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise UserError(f"could not move the model to {device}: {detail}. Check the GPU with nvidia-smi, or use "
                        "the CPU (--device cpu, or device: cpu in params.yaml).") from None


def _parameters(model: nn.Module) -> str:
    return f"{sum(p.numel() for p in model.parameters()):,}"


def thread_count(param: int, override: str | None = None, processes: int = 1) -> int:
    """Torch threads for each of `processes` processes: `override` (the value of SEQ2SEQ_THREADS,
    unless unset or empty) wins over `param` (a params.yaml value); 0 means torch's default (as many
    as cores, or OMP_NUM_THREADS), shared out among the processes so that they do not fight."""
    count = param
    if _given(override):
        try:
            count = int(override)
        except ValueError:
            count = -1
        if count < 0:
            raise UserError(f"{THREADS_VARIABLE}={override!r} is not a thread count: set it to an integer "
                            ">= 0 (0: torch's default, as many as cores) or unset it to use the threads "
                            "value in params.yaml.")
    return count or max(1, torch.get_num_threads() // processes)


def thread_origin(param: int, override: str | None, key: str) -> str:
    """Which setting `thread_count` obeyed, for the log: a queue worker keeps the environment of the
    `dvc queue start` that started it, so the log must show whether SEQ2SEQ_THREADS reached a run."""
    if _given(override):
        return f"{THREADS_VARIABLE}={override.strip()}"
    return f"{key}: {param}" if param else f"{key}: 0, torch's default"


def stage_threads(param: int, override: str | None, key: str, processes: int = 1) -> tuple[int, str]:
    """What a stage passes to `use_threads`: the count for each process and the setting it came from
    (`key` names the param, e.g. train.threads)."""
    return thread_count(param, override, processes), thread_origin(param, override, key)


def _given(override: str | None) -> bool:
    """SEQ2SEQ_THREADS set and not empty (empty counts as unset)."""
    return override is not None and bool(override.strip())


def use_threads(count: int, origin: str = "") -> None:
    """Make torch use `count` threads in this process (intra-op: matrix products, LSTM steps)."""
    torch.set_num_threads(count)
    log.info("torch uses %d CPU thread(s)%s", count, f" ({origin})" if origin else "")
