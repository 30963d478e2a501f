"""`seq2seq serve`, a real server on a free local port: the API answers as the CLI translates,
requests beyond the limits or malformed get clear 4xx JSON answers and the server keeps serving,
concurrent requests never mix their outputs, and each request is logged in one line."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from seq2seq.bench.serving import hang_up
from tests.conftest import PAIRS, seq2seq_cli, start_server

SENTENCES = ["Je suis froid.", "Tu es grand !", "Il est heureux.", "Je suis ornithorynque.",
             "je suis medecin et je suis froid et ami ."]


def call(base: str, path: str, body: object | bytes | None = None) -> tuple[int, dict]:
    """(status, JSON body) of GET `path`, or of POST `body` (JSON-encoded unless bytes)."""
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


@pytest.fixture(scope="module")
def server(served_checkpoint):
    proc, base, log = start_server("--model", str(served_checkpoint), "--max-lines", "8", "--max-chars", "80",
                                   "--max-beam", "6")
    yield base, log
    proc.terminate()
    assert proc.wait(timeout=30) == 0  # SIGTERM stops it gracefully
    assert log[-1].strip() == "seq2seq.serve: stopped"


def test_health_and_model(server, served_checkpoint):
    base, _ = server
    assert call(base, "/health") == (200, {"status": "alive"})
    assert call(base, "/ready") == (200, {"status": "ready", "queued_lines": 0, "max_queue": 256})
    status, info = call(base, "/model")
    assert status == 200 and info["models"] == [str(served_checkpoint)]
    assert info["settings"]["attention"] == "general" and info["vocabulary"]["type"] == "word"
    assert info["domain"] == "sentences of fewer than 6 words whose English starts with 'i am', 'he is'"
    assert info["limits"]["max_lines"] == 8 and info["metrics"] is None  # not the workspace's model


def test_translations_are_the_cli_s_for_greedy_beam_and_n_best(server, served_checkpoint):
    base, _ = server
    for beam in (1, 5):
        status, body = call(base, "/translate", {"text": SENTENCES, "beam": beam})
        assert status == 200 and len(body["results"]) == len(SENTENCES)
        printed = seq2seq_cli("translate", "--model", str(served_checkpoint), "--beam", str(beam), *SENTENCES,
                              text=True, check=True).stdout
        assert [r["translation"] for r in body["results"]] == printed.splitlines()
    status, body = call(base, "/translate", {"text": SENTENCES[:2], "beam": 4, "n_best": 3})
    blocks = seq2seq_cli("translate", "--model", str(served_checkpoint), "--beam", "4", "--n-best", "3",
                         *SENTENCES[:2], text=True).stdout.split("\n\n")[:2]
    for result, block in zip(body["results"], blocks):
        rows = [line.split("\t") for line in block.splitlines()]
        assert [(a["translation"], f"{a['score']:.4f}") for a in result["alternatives"]] == [(r[3], r[2]) for r in rows]
        assert result["translation"] == rows[0][3] and result["score"] == result["alternatives"][0]["score"]


def test_each_result_says_what_the_model_cannot_know(server):
    base, _ = server
    _, body = call(base, "/translate", {"text": ["Je suis ornithorynque.", SENTENCES[4], "   ", ""]})
    unknown, long, blank, empty = body["results"]
    assert unknown["unknown_words"] == ["ornithorynque"] and not unknown["too_long"]
    assert long["too_long"] and long["source"] == "je suis medecin et je"  # truncated to 5 words
    assert long["unknown_words"] == ["et", "ami"]  # words of the whole line no training source has
    for result in (blank, empty):  # lines that normalise to nothing: empty, as the CLI
        assert result["translation"] == "" and result["score"] is None and result["alternatives"] == []


def test_attention_aligns_output_and_source_tokens(server):
    base, _ = server
    _, body = call(base, "/translate", {"text": ["Je suis froid."], "attention": True})
    result = body["results"][0]
    att = result["attention"]
    assert att["source_tokens"] == ["je", "suis", "froid", ".", "<eos>"]
    assert att["output_tokens"] == result["translation"].split() + ["<eos>"]
    assert len(att["weights"]) == len(att["output_tokens"])
    assert all(len(row) == 5 and abs(sum(row) - 1) < 1e-3 for row in att["weights"])
    assert call(base, "/translate", {"text": ["Je suis froid."]})[1]["results"][0]["attention"] is None


@pytest.mark.parametrize("body, status, detail", [
    ({"text": ["je suis froid ."] * 9}, 413, "9 lines in one request; this server takes at most 8 (--max-lines)"),
    ({"text": ["ok", "je " * 30]}, 413, "line 2 has 90 characters; this server takes at most 80 per line"),
    ({"text": ["ok"], "beam": 7}, 422, "beam 7 is above this server's limit of 6 (--max-beam)"),
    ({"text": ["ok"], "beam": 2, "n_best": 3}, 422, "n_best 3 is above beam 2"),
])
def test_requests_beyond_the_limits_are_refused_naming_the_limit(server, body, status, detail):
    base, _ = server
    got, answer = call(base, "/translate", body)
    assert got == status and answer["detail"].startswith(detail)
    assert call(base, "/translate", {"text": ["Je suis froid."]})[0] == 200  # and it keeps serving


@pytest.mark.parametrize("body, field", [
    (b"{not json", None), ({"text": []}, "text"), ({"text": "je suis froid"}, "text"),
    ({"text": ["ok"], "beam": "5"}, "beam"), ({"text": ["ok"], "beam": 0}, "beam"),
    ({"text": [3]}, "text"), ({"text": ["ok"], "attention": "yes"}, "attention"), ({"txt": ["ok"]}, "text"),
])
def test_malformed_requests_get_a_422_naming_the_field(server, body, field):
    base, _ = server
    status, answer = call(base, "/translate", body)
    assert status == 422 and isinstance(answer["detail"], list)
    if field is not None:
        assert any(field in error["loc"] for error in answer["detail"]), answer
    assert call(base, "/health")[0] == 200


def test_concurrent_requests_get_their_own_answers(server):
    base, _ = server
    requests = [{"text": [SENTENCES[i % 3], SENTENCES[(i + 1) % 3]][: 1 + i % 2], "beam": 1 + i % 3}
                for i in range(24)]
    expected = [call(base, "/translate", r)[1] for r in requests]  # one at a time
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda r: call(base, "/translate", r)[1], requests))
    # Decoded together now, in batches of other shapes: the same translations, scores to rounding.
    for answer, alone in zip(answers, expected, strict=True):
        assert len(answer["results"]) == len(alone["results"])
        for got, want in zip(answer["results"], alone["results"]):
            assert {**got, "score": None, "alternatives": None} == {**want, "score": None, "alternatives": None}
            assert [a["translation"] for a in got["alternatives"]] == [a["translation"] for a in want["alternatives"]]
            assert got["score"] == pytest.approx(want["score"], abs=1e-5)


def test_one_log_line_per_request_and_no_traceback(server):
    base, log = server
    before = len(log)
    call(base, "/health")
    call(base, "/translate", {"text": ["ok"], "beam": 99})
    for _ in range(50):  # the log thread may lag a moment
        if any("POST /translate 422" in line for line in log[before:]):
            break
        __import__("time").sleep(0.1)
    # One line each, in order (an earlier test's last line may still arrive first: a request is
    # logged once its answer has been sent).
    new = log[before:]
    health = [i for i, line in enumerate(new) if "GET /health 200" in line]
    refused = [i for i, line in enumerate(new) if "POST /translate 422" in line]
    assert len(health) == len(refused) == 1 and health[0] < refused[0]
    assert not any("Traceback" in line for line in log)


def test_the_page_and_the_api_docs_are_served(server):
    base, _ = server
    with urllib.request.urlopen(base + "/") as response:
        page = response.read().decode()
    assert response.headers["content-type"].startswith("text/html") and 'id="heatmap"' in page
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "")  # nothing from the network
    assert call(base, "/openapi.json")[1]["paths"]["/translate"]["post"]


def test_a_taken_port_and_a_missing_model_are_named(served_checkpoint, tmp_path):
    proc, base, _ = start_server("--model", str(served_checkpoint))
    try:
        port = base.rsplit(":", 1)[1]
        taken = seq2seq_cli("serve", "--model", str(served_checkpoint), "--port", port, text=True, timeout=60)
        assert taken.returncode == 1 and "Traceback" not in taken.stderr
        assert f"error: cannot listen on 127.0.0.1:{port}" in taken.stderr
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    missing = seq2seq_cli("serve", "--model", str(tmp_path / "none.pt"), "--port", "0", text=True, timeout=60)
    assert missing.returncode == 1 and f"error: no model at {tmp_path / 'none.pt'}" in missing.stderr


def test_the_pairs_the_model_learnt_come_back(server):
    base, _ = server
    _, body = call(base, "/translate", {"text": [s for s, _ in PAIRS]})
    assert [r["translation"] for r in body["results"]] == [t for _, t in PAIRS]


def test_an_ensemble_serves_as_translate_decodes_it(server, served_checkpoint):
    base, _ = server
    proc, ensemble, _ = start_server("--model", str(served_checkpoint), "--model", str(served_checkpoint))
    try:
        assert call(ensemble, "/model")[1]["models"] == [str(served_checkpoint)] * 2
        body = {"text": SENTENCES, "beam": 3, "n_best": 2}
        # Two copies of one model average to that model: the same translations, scores to rounding.
        alone, both = call(base, "/translate", body)[1]["results"], call(ensemble, "/translate", body)[1]["results"]
        assert [r["translation"] for r in both] == [r["translation"] for r in alone]
        assert all(abs(a["score"] - b["score"]) < 1e-4 for a, b in zip(alone, both) if a["score"] is not None)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_an_error_inside_the_server_is_a_json_500_without_traceback(served_checkpoint, caplog):
    # The app in this process, its model made to fail mid-search: the client gets a JSON 500 that
    # names no internals, the log keeps the traceback, and the server goes on serving.
    import socket
    import threading

    import uvicorn

    from seq2seq.checkpoint import load_checkpoint
    from seq2seq.serve.app import Limits, create_app

    loaded = load_checkpoint(served_checkpoint)

    def fail(*args, **kwargs):
        raise RuntimeError("a secret internal detail")

    loaded.model.decoder.step = fail
    sock = socket.create_server(("127.0.0.1", 0))
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(uvicorn.Config(create_app(loaded, Limits(), {"models": []}), log_config=None,
                                           log_level="critical"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        for _ in range(100):
            if server.started:
                break
            __import__("time").sleep(0.05)
        with caplog.at_level("ERROR", logger="seq2seq.serve"):
            status, body = call(base, "/translate", {"text": ["Je suis froid."]})
        assert status == 500
        assert body == {"detail": "internal error (RuntimeError); the server log has the details"}
        assert any("a secret internal detail" in (r.exc_text or str(r.exc_info)) for r in caplog.records)
        assert call(base, "/health") == (200, {"status": "alive"})
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def post(base: str, lines: list[str]) -> tuple[int, dict, dict]:
    """(status, JSON body, headers with lower-case names) of POST /translate with `lines`."""
    request = urllib.request.Request(base + "/translate", data=json.dumps({"text": lines, "beam": 1}).encode(),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read()), {k.lower(): v for k, v in response.headers.items()}
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read()), {k.lower(): v for k, v in err.headers.items()}


def metric(base: str, name: str) -> float:
    """The value of one sample of GET /metrics, e.g. 'seq2seq_lines_dropped_total{reason="gone"}' (0 if absent)."""
    with urllib.request.urlopen(base + "/metrics") as response:
        text = response.read().decode()
    values = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name + " ")]
    return values[0] if values else 0.0


def wait_for(condition, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the server never reached the state the test waits for"
        time.sleep(0.05)


def test_a_full_queue_answers_503_with_retry_after_and_the_queued_work_completes(served_checkpoint):
    # The worker waits up to a second for a batch of 64 to fill, so the first request's 8 lines
    # fill the queue (8) meanwhile: the next request is refused at once, and readiness says busy.
    proc, base, _ = start_server("--model", str(served_checkpoint), "--max-lines", "8", "--max-queue", "8",
                                 "--max-wait", "1", "--arrival-gap", "1")
    try:
        with ThreadPoolExecutor(1) as pool:
            first = pool.submit(post, base, SENTENCES + ["Nous sommes amis."] * 3)
            wait_for(lambda: call(base, "/ready")[1]["queued_lines"] == 8)
            assert call(base, "/ready") == (503, {"status": "busy", "queued_lines": 8, "max_queue": 8})
            status, body, headers = post(base, ["Je suis froid."])
            assert status == 503 and headers["retry-after"] == "1" and "--max-queue" in body["detail"]
            status, body, _ = first.result(timeout=60)
        assert status == 200 and len(body["results"]) == 8
        assert call(base, "/ready")[0] == 200 and call(base, "/health") == (200, {"status": "alive"})
        assert metric(base, 'seq2seq_lines_dropped_total{reason="refused"}') == 1
        assert metric(base, "seq2seq_lines_translated_total") == 8
        assert metric(base, 'seq2seq_requests_total{route="/translate",status="503"}') == 1
        assert metric(base, 'seq2seq_requests_total{route="/translate",status="200"}') == 1
        assert metric(base, "seq2seq_batch_lines_count") == 1 and metric(base, "seq2seq_batch_lines_sum") == 8
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_past_the_deadline_a_request_gets_504_and_its_lines_are_not_decoded(served_checkpoint):
    proc, base, _ = start_server("--model", str(served_checkpoint), "--max-wait", "1", "--arrival-gap", "1",
                                 "--timeout", "0.3")
    try:
        status, body, _ = post(base, ["Je suis froid.", "Tu es grand !"])
        assert status == 504 and "--timeout" in body["detail"]
        wait_for(lambda: metric(base, 'seq2seq_lines_dropped_total{reason="expired"}') == 2)
        assert metric(base, "seq2seq_lines_translated_total") == 0 and metric(base, "seq2seq_batch_lines_count") == 0
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_the_lines_of_a_client_that_has_gone_are_not_decoded(served_checkpoint):
    proc, base, log = start_server("--model", str(served_checkpoint), "--max-wait", "1", "--arrival-gap", "1")
    try:
        hang_up(base, 1, {"text": ["Je suis froid.", "Tu es grand !", "Il est heureux."]})  # sends, hangs up
        wait_for(lambda: metric(base, 'seq2seq_lines_dropped_total{reason="gone"}') == 3)
        assert metric(base, "seq2seq_batch_lines_count") == 0
        assert post(base, ["Je suis froid."])[0] == 200  # and it goes on serving
        assert any("POST /translate 499" in line for line in log)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
