"""The HTTP path of the download stage, against a server on loopback (no traffic leaves the machine)."""

import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

from seq2seq.data.download import USER_AGENT, download
from seq2seq.errors import UserError
from tests.conftest import RAW_LINES


@pytest.fixture
def server(mirror):
    """Serve the mirror folder on 127.0.0.1; yield its base URL and the User-Agents seen."""
    folder, sha = mirror
    agents: list[str] = []

    class Handler(SimpleHTTPRequestHandler):
        def do_GET(self):
            agents.append(self.headers.get("User-Agent", ""))
            super().do_GET()

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(folder)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", sha, agents
    httpd.shutdown()
    httpd.server_close()


def test_http_download_with_browser_user_agent(server, tmp_path):
    base, sha, agents = server
    out = tmp_path / "pairs.txt"
    download(f"{base}/fra-eng.zip", sha, out, None)
    assert out.read_text(encoding="utf-8").splitlines() == RAW_LINES
    assert agents == [USER_AGENT]


def test_http_error_is_reported_without_retrying_client_errors(server, tmp_path):
    base, _, agents = server
    with pytest.raises(UserError, match=r"HTTP 404.*SEQ2SEQ_DATA_DIR"):
        download(f"{base}/missing.zip", "", tmp_path / "pairs.txt", None)
    assert len(agents) == 1
    assert not (tmp_path / "pairs.txt").exists()


def test_mirror_wins_over_network(server, mirror, tmp_path):
    base, sha, agents = server
    folder, _ = mirror
    download(f"{base}/fra-eng.zip", sha, tmp_path / "pairs.txt", folder)
    assert agents == []


def test_mirror_without_the_archive_falls_back_to_the_url(server, tmp_path, caplog):
    base, sha, agents = server
    (tmp_path / "empty").mkdir()
    download(f"{base}/fra-eng.zip", sha, tmp_path / "pairs.txt", tmp_path / "empty")
    assert len(agents) == 1 and "holds no fra-eng.zip" in caplog.text


def test_a_server_that_never_answers_times_out_cleanly(tmp_path):
    import socket

    with socket.socket() as listener:  # accepts connections (the kernel does) but never replies
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/fra-eng.zip"
        with pytest.raises(UserError, match=r"timed out.*SEQ2SEQ_DATA_DIR"):
            download(url, "", tmp_path / "pairs.txt", None, timeout=0.5, retries=1)
    assert not (tmp_path / "pairs.txt").exists()
