"""A local https server for download tests: 127.0.0.1 only, a throwaway self-signed certificate,
bounded (every socket times out) and self-stopping (a watchdog shuts it down after ``lifetime``)."""

from __future__ import annotations

import http.server
import ssl
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

# A route answers (status, headers, body); ``declared`` > len(body) sends a truncated response.
Route = Callable[[], tuple[int, dict[str, str], bytes]]


def make_cert(folder: Path) -> tuple[Path, Path]:
    """(cert.pem, key.pem) for 127.0.0.1 and localhost, valid two days. With ``cryptography`` if
    it is installed, else with the ``openssl`` binary."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    try:
        _cert_with_cryptography(cert, key)
    except ImportError:
        subprocess.run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-keyout",
                str(key),
                "-out",
                str(cert),
                "-days",
                "2",
                "-subj",
                "/CN=dcellx-test",
                "-addext",
                "subjectAltName=IP:127.0.0.1,DNS:localhost",
            ],  # fmt: skip
            check=True,
            capture_output=True,
            timeout=60,
        )
    return cert, key


def _cert_with_cryptography(cert: Path, key: Path) -> None:
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    pkey = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dcellx-test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    san = x509.SubjectAlternativeName(
        [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
    )
    crt = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(pkey.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(san, critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(pkey, hashes.SHA256())
    )
    key.write_bytes(
        pkey.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    cert.write_bytes(crt.public_bytes(serialization.Encoding.PEM))


class _QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client refusing our certificate is what some tests want


@dataclass
class HttpsServer:
    """Serves ``routes`` (path -> Route) on https://127.0.0.1:<port>; ``hits`` counts requests."""

    cert: Path
    key: Path
    routes: dict[str, Route] = field(default_factory=dict)
    lifetime: float = 120.0
    hits: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            timeout = 10

            def do_GET(self) -> None:  # noqa: N802
                server.hits.append(self.path)
                route = server.routes.get(self.path)
                status, headers, body = route() if route else (404, {}, b"not found\n")
                declared = int(headers.pop("X-Declared-Length", len(body)))
                self.send_response(status)
                self.send_header("Content-Length", str(declared))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)
                if declared != len(body):
                    self.close_connection = True

            def log_message(self, *args: object) -> None:
                pass

        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert, self.key)
        self._httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        # the handshake runs in the request's thread, under its timeout, not in the accept loop
        self._httpd.socket = ctx.wrap_socket(
            self._httpd.socket, server_side=True, do_handshake_on_connect=False
        )
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._watchdog = threading.Timer(self.lifetime, self._httpd.shutdown)
        self._watchdog.daemon = True

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"https://{host}:{self.port}{path}"

    def serve(self, path: str, body: bytes, status: int = 200, **headers: str) -> str:
        """Answer ``path`` with ``body``; returns its URL."""
        self.routes[path] = lambda: (status, dict(headers), body)
        return self.url(path)

    def redirect(self, path: str, to: str, status: int = 302) -> str:
        self.routes[path] = lambda: (status, {"Location": to}, b"")
        return self.url(path)

    def __enter__(self) -> HttpsServer:
        self._thread.start()
        self._watchdog.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._watchdog.cancel()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=10)
