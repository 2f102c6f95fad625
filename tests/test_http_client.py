"""The HTTP client under every probe (httpx in `HttpSession`): proxies from the environment
through a real CONNECT/forwarding proxy on 127.0.0.1, TLS verified with SSL_CERT_FILE,
keep-alive, and cancellation of a request in flight; for http.error_rate and llm.token_quota."""

import contextlib
import socket
import socketserver
import threading
import time
from urllib.parse import urlsplit

import pytest

from incident_lab import run
from incident_lab.kinds.http.session import HttpSession
from incident_lab.testing.provider_standin import ProviderStandIn, self_signed_certificate
from incident_lab.verdict import Verdict

SYSTEM_CA = "/etc/ssl/certs/ca-certificates.crt"


class _ProxyHandler(socketserver.StreamRequestHandler):
    """A forward proxy: `CONNECT host:port` opens a tunnel; an absolute-form request is forwarded."""

    def handle(self) -> None:
        while True:
            line = self.rfile.readline().decode("latin-1").strip()
            if not line:
                return
            headers = []
            while (header := self.rfile.readline().decode("latin-1")).strip():
                headers.append(header)
            self.server.seen.append(line)  # type: ignore[attr-defined]
            method, target, _ = line.split(" ", 2)
            if method == "CONNECT":
                host, port = target.rsplit(":", 1)
                upstream = socket.create_connection((host, int(port)), timeout=10)
                self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                self.wfile.flush()
                self._tunnel(upstream)
                return
            self._forward(method, target, headers)

    def _tunnel(self, upstream: socket.socket) -> None:
        def pump(source: socket.socket, sink: socket.socket) -> None:
            try:
                while chunk := source.recv(65536):
                    sink.sendall(chunk)
            except OSError:
                pass
            finally:
                for end in (source, sink):
                    with contextlib.suppress(OSError):
                        end.shutdown(socket.SHUT_RDWR)

        back = threading.Thread(target=pump, args=(upstream, self.connection), daemon=True)
        back.start()
        pump(self.connection, upstream)
        back.join(timeout=5)

    def _forward(self, method: str, target: str, headers: list[str]) -> None:
        parts = urlsplit(target)
        length = next(
            (int(h.split(":", 1)[1]) for h in headers if h.lower().startswith("content-length:")), 0
        )
        body = self.rfile.read(length) if length else b""
        kept = [h for h in headers if not h.lower().startswith(("connection:", "proxy-connection:"))]
        request = f"{method} {parts.path or '/'}{'?' + parts.query if parts.query else ''} HTTP/1.1\r\n"
        request += "".join(kept) + "Connection: close\r\n\r\n"
        with socket.create_connection((parts.hostname, parts.port or 80), timeout=10) as upstream:
            upstream.sendall(request.encode("latin-1") + body)
            while chunk := upstream.recv(65536):
                self.wfile.write(chunk)
        self.wfile.flush()


@pytest.fixture
def proxy():
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _ProxyHandler)
    server.daemon_threads = True
    server.block_on_close = False
    server.seen = []  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    return self_signed_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def tls_standin(certificate):
    with ProviderStandIn(certificate=certificate) as standin:
        yield standin


@pytest.fixture(autouse=True)
def no_proxy_from_this_machine(monkeypatch):
    for name in (
        "HTTPS_PROXY",
        "HTTP_PROXY",
        "ALL_PROXY",
        "NO_PROXY",
        "https_proxy",
        "http_proxy",
        "all_proxy",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.setenv("MISTRAL_API_KEY", "canary-mistral-proxy-3c1d")


def proxy_url(proxy) -> str:
    return f"http://127.0.0.1:{proxy.server_address[1]}"


def test_https_goes_through_the_proxy_in_https_proxy_and_no_proxy_hosts_bypass_it(
    tls_standin, certificate, proxy, monkeypatch
):
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    monkeypatch.setenv("HTTPS_PROXY", proxy_url(proxy))
    result = run("llm.token_quota", tls_standin.reference("mistral-headroom"))
    assert result.verdict is Verdict.FALSE, result.summary
    port = urlsplit(tls_standin.root).port
    # One tunnel for both requests: the connection is kept alive through the proxy.
    assert proxy.seen == [f"CONNECT 127.0.0.1:{port} HTTP/1.1"]
    assert result.test.startswith(f"(proxies from the environment: HTTPS_PROXY={proxy_url(proxy)})")
    assert "canary-mistral-proxy-3c1d" not in result.to_json()

    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    bypassed = run("llm.token_quota", tls_standin.reference("mistral-headroom"))
    assert bypassed.verdict is Verdict.FALSE
    assert len(proxy.seen) == 1  # nothing more went through the proxy


def test_http_error_rate_uses_http_proxy_and_keeps_its_connections_alive(
    provider_standin, proxy, monkeypatch
):
    monkeypatch.setenv("HTTP_PROXY", proxy_url(proxy))
    url = f"{provider_standin.root}/http/ok/through-proxy"
    result = run("http.error_rate", url, {"requests": 6, "concurrency": 2})
    assert result.verdict is Verdict.FALSE, result.summary
    assert proxy.seen == [f"GET {url} HTTP/1.1"] * 6  # absolute-form requests: a forwarding proxy

    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    before = len(provider_standin.peers)
    direct = run(
        "http.error_rate", f"{provider_standin.root}/http/ok/direct", {"requests": 10, "concurrency": 2}
    )
    assert direct.verdict is Verdict.FALSE and len(proxy.seen) == 6
    assert len(set(provider_standin.peers[before:])) <= 2  # ten requests over at most two connections


def test_tls_is_verified_against_ssl_cert_file(tls_standin, certificate, monkeypatch):
    url = f"{tls_standin.root}/http/ok"
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    assert run("http.error_rate", url, {"requests": 2}).verdict is Verdict.FALSE
    monkeypatch.setenv("SSL_CERT_FILE", SYSTEM_CA)  # the system's CAs do not know the stand-in's certificate
    refused = run("http.error_rate", url, {"requests": 2})
    assert refused.verdict is Verdict.INCONCLUSIVE
    assert "TLS error: certificate verify failed: self-signed certificate" in refused.summary
    quota = run("llm.token_quota", tls_standin.reference("mistral-headroom"))
    assert quota.verdict is Verdict.INCONCLUSIVE and "certificate verify failed" in quota.summary


def test_cancel_stops_a_request_in_flight_at_once(provider_standin):
    session = HttpSession(60.0)
    answers = []
    worker = threading.Thread(
        target=lambda: answers.append(session.request("GET", f"{provider_standin.root}/hang/x", timeout=30))
    )
    started = time.monotonic()
    worker.start()
    time.sleep(0.3)
    session.cancel()
    worker.join(timeout=5)
    assert time.monotonic() - started < 1.5
    assert answers[0].failure == "cut_off" and "cancelled" in answers[0].detail
    after = session.request("GET", f"{provider_standin.root}/http/ok")
    assert after.failure == "cut_off"  # a cancelled session sends nothing more
    session.close()


def test_the_total_deadline_bounds_connect_headers_and_body_together(provider_standin):
    with HttpSession(1.0) as session:  # 1 s budget: requests may take at most 0.8 s
        started = time.monotonic()
        answer = session.request("GET", f"{provider_standin.root}/slow/3000/http/ok", timeout=10)
    assert time.monotonic() - started < 1.2
    assert answer.failure == "cut_off" and "time budget ran out" in answer.detail


def test_a_closed_session_opens_new_connections(provider_standin):
    session = HttpSession(10.0)
    assert session.request("GET", f"{provider_standin.root}/http/ok").status == 200
    session.close()
    assert session.request("GET", f"{provider_standin.root}/http/ok").status == 200
    session.close()
