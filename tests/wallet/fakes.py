"""Throwaway credentials and loopback fakes of Google's Wallet API and Apple's APNs.

Only the external servers are fake; everything of ours runs for real (database, signing,
HTTP clients, TLS with client certificates, HTTP/2).
"""

import datetime
import json
import socket
import ssl
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote

import h2.config
import h2.connection
import h2.events
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PASS_TYPE_ID = "pass.com.example.loyalty"
TEAM_ID = "ABCDE12345"
ISSUER_ID = "3388000000012345678"
SERVICE_ACCOUNT_EMAIL = "wallet-issuer@loyalty-test.iam.gserviceaccount.com"


# --- certificates ------------------------------------------------------------------------


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def make_certificate(
    subject: x509.Name,
    key,
    *,
    issuer: x509.Name | None = None,
    issuer_key=None,
    ca: bool = False,
    days: int = 365,
    not_before: datetime.datetime | None = None,
    san_ip: str | None = None,
    usage: list | None = None,
) -> x509.Certificate:
    start = not_before or datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=1)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer or subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    if san_ip:
        import ipaddress

        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(san_ip)), x509.DNSName("localhost")]),
            critical=False,
        )
    if usage:
        builder = builder.add_extension(x509.ExtendedKeyUsage(usage), critical=False)
    return builder.sign(issuer_key or key, hashes.SHA256())


def name(common_name: str, **extra) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if "uid" in extra:
        attributes.insert(0, x509.NameAttribute(NameOID.USER_ID, extra["uid"]))
    if "ou" in extra:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, extra["ou"]))
    return x509.Name(attributes)


def pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def key_pem(key, password: bytes | None = None) -> bytes:
    encryption = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


@dataclass
class Credentials:
    """Files of a fake Apple WWDR CA and pass certificate, an APNs server CA, a Google key."""

    folder: Path
    wwdr_key: rsa.RSAPrivateKey
    wwdr_cert: x509.Certificate
    pass_key: rsa.RSAPrivateKey
    pass_cert: x509.Certificate
    google_key: rsa.RSAPrivateKey
    paths: dict = field(default_factory=dict)

    def path(self, label: str) -> str:
        return str(self.paths[label])

    def write(self, label: str, content: bytes) -> str:
        target = self.folder / label
        target.write_bytes(content)
        self.paths[label] = target
        return str(target)

    def service_account_json(self, token_uri: str, **overrides) -> dict:
        info = {
            "type": "service_account",
            "project_id": "loyalty-test",
            "private_key_id": "0123456789abcdef0123456789abcdef01234567",
            "private_key": key_pem(self.google_key).decode(),
            "client_email": SERVICE_ACCOUNT_EMAIL,
            "client_id": "123456789012345678901",
            "token_uri": token_uri,
        }
        info.update(overrides)
        return info


def make_credentials(folder: Path) -> Credentials:
    wwdr_key = new_key()
    wwdr_name = name("Fake Apple Worldwide Developer Relations Certification Authority", ou="G4")
    wwdr_cert = make_certificate(wwdr_name, wwdr_key, ca=True, days=3650)
    pass_key = new_key()
    pass_cert = make_certificate(
        name(f"Pass Type ID: {PASS_TYPE_ID}", uid=PASS_TYPE_ID, ou=TEAM_ID),
        pass_key,
        issuer=wwdr_name,
        issuer_key=wwdr_key,
        usage=[ExtendedKeyUsageOID.CLIENT_AUTH],
    )
    apns_ca_key = new_key()
    apns_ca_name = name("Fake APNs root")
    apns_ca = make_certificate(apns_ca_name, apns_ca_key, ca=True)
    apns_key = new_key()
    apns_cert = make_certificate(
        name("127.0.0.1"),
        apns_key,
        issuer=apns_ca_name,
        issuer_key=apns_ca_key,
        san_ip="127.0.0.1",
        usage=[ExtendedKeyUsageOID.SERVER_AUTH],
    )
    credentials = Credentials(
        folder=folder,
        wwdr_key=wwdr_key,
        wwdr_cert=wwdr_cert,
        pass_key=pass_key,
        pass_cert=pass_cert,
        google_key=new_key(),
    )
    credentials.write("wwdr.pem", pem(wwdr_cert))
    credentials.write("pass-cert.pem", pem(pass_cert))
    credentials.write("pass-key.pem", key_pem(pass_key))
    credentials.write("apns-ca.pem", pem(apns_ca))
    credentials.write("apns-server-cert.pem", pem(apns_cert))
    credentials.write("apns-server-key.pem", key_pem(apns_key))
    credentials.write(
        "google-public.pem",
        credentials.google_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
    )
    return credentials


# --- Google Wallet Objects API --------------------------------------------------------------


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict
    body: dict | None


class FakeGoogleWallet:
    """Token endpoint + loyaltyClass/loyaltyObject insert, patch and get, on 127.0.0.1."""

    API_PREFIX = "/walletobjects/v1/"

    def __init__(self):
        self.requests: list[Recorded] = []
        self.token_requests: list[dict] = []
        self.resources: dict[tuple[str, str], dict] = {}
        self.failures: list[int] = []
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                fake.handle(self)

            def do_PATCH(self):
                fake.handle(self)

            def do_GET(self):
                fake.handle(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def api_base_url(self) -> str:
        return self.url + self.API_PREFIX.rstrip("/")

    @property
    def token_uri(self) -> str:
        return self.url + "/token"

    def fail_next(self, *statuses: int) -> None:
        with self.lock:
            self.failures.extend(statuses)

    def api_requests(self, method: str | None = None, resource: str | None = None) -> list[Recorded]:
        return [
            r
            for r in self.requests
            if (method is None or r.method == method) and (resource is None or r.path.split("/")[0] == resource)
        ]

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- the server side --
    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        if handler.path == "/token":
            with self.lock:
                self.token_requests.append({k: v[0] for k, v in parse_qs(raw.decode()).items()})
            return self.respond(
                handler, 200, {"access_token": "fake-access-token", "expires_in": 3600, "token_type": "Bearer"}
            )
        if not handler.path.startswith(self.API_PREFIX):
            return self.respond(handler, 404, {"error": {"code": 404, "message": "not found"}})
        body = json.loads(raw) if raw else None
        path = handler.path[len(self.API_PREFIX) :]
        with self.lock:
            self.requests.append(Recorded(handler.command, path, dict(handler.headers), body))
            failure = self.failures.pop(0) if self.failures else None
        if handler.headers.get("Authorization") != "Bearer fake-access-token":
            return self.respond(handler, 401, {"error": {"code": 401, "message": "no token"}})
        if failure:
            return self.respond(handler, failure, {"error": {"code": failure, "message": "injected failure"}})
        resource, _, resource_id = path.partition("/")
        resource_id = unquote(resource_id)
        with self.lock:
            if handler.command == "POST" and not resource_id:
                key = (resource, body["id"])
                if key in self.resources:
                    return self.respond(handler, 409, {"error": {"code": 409, "message": "exists"}})
                self.resources[key] = body
                return self.respond(handler, 200, body)
            key = (resource, resource_id)
            if key not in self.resources:
                return self.respond(handler, 404, {"error": {"code": 404, "message": "not found"}})
            if handler.command == "PATCH":
                self.resources[key] = {**self.resources[key], **body}
            return self.respond(handler, 200, self.resources[key])

    @staticmethod
    def respond(handler: BaseHTTPRequestHandler, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)


# --- APNs (HTTP/2 over TLS, client certificate required) -----------------------------------


REASONS = {
    400: "BadDeviceToken",
    403: "BadCertificate",
    410: "Unregistered",
    429: "TooManyRequests",
    503: "ServiceUnavailable",
}


class FakeAPNs:
    """Answers ``POST /3/device/<token>``; ``statuses[token]`` lists the answers to give (then 200)."""

    def __init__(self, credentials: Credentials):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(credentials.path("apns-server-cert.pem"), credentials.path("apns-server-key.pem"))
        # Certificate authentication: only a client certificate issued by the (fake) WWDR CA gets in.
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(credentials.path("wwdr.pem"))
        context.set_alpn_protocols(["h2"])
        self.context = context
        self.requests: list[dict] = []
        self.statuses: dict[str, list[int]] = {}
        self.lock = threading.Lock()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.thread = threading.Thread(target=self.accept_loop, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.listener.getsockname()[1]}"

    def answer(self, token: str, *statuses: int) -> None:
        with self.lock:
            self.statuses.setdefault(token, []).extend(statuses)

    def pushes(self) -> list[dict]:
        with self.lock:
            return list(self.requests)

    def close(self) -> None:
        self.listener.close()

    def accept_loop(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(connection,), daemon=True).start()

    def serve(self, connection: socket.socket) -> None:
        try:
            tls = self.context.wrap_socket(connection, server_side=True)
        except (ssl.SSLError, OSError):
            connection.close()
            return
        client = dict(item[0] for item in tls.getpeercert().get("subject", ()))
        h2conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False, header_encoding="utf-8"))
        h2conn.initiate_connection()
        tls.sendall(h2conn.data_to_send())
        streams: dict[int, dict] = {}
        try:
            while True:
                data = tls.recv(65535)
                if not data:
                    break
                for event in h2conn.receive_data(data):
                    if isinstance(event, h2.events.RequestReceived):
                        streams[event.stream_id] = {"headers": dict(event.headers), "body": b""}
                    elif isinstance(event, h2.events.DataReceived):
                        streams[event.stream_id]["body"] += event.data
                        h2conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                    elif isinstance(event, h2.events.StreamEnded):
                        self.respond(h2conn, event.stream_id, streams.pop(event.stream_id), client)
                    elif isinstance(event, h2.events.ConnectionTerminated):
                        tls.sendall(h2conn.data_to_send())
                        return
                tls.sendall(h2conn.data_to_send())
        except (ssl.SSLError, OSError):
            pass
        finally:
            tls.close()

    def respond(self, h2conn, stream_id: int, request: dict, client: dict) -> None:
        headers = request["headers"]
        token = headers.get(":path", "").rsplit("/", 1)[-1]
        with self.lock:
            queue = self.statuses.get(token) or []
            status = queue.pop(0) if queue else 200
            self.requests.append(
                {
                    "method": headers.get(":method"),
                    "path": headers.get(":path"),
                    "topic": headers.get("apns-topic"),
                    "body": request["body"],
                    "token": token,
                    "client_uid": client.get("userId"),
                    "status": status,
                }
            )
        response_headers = [(":status", str(status)), ("apns-id", str(uuid.uuid4()))]
        if status == 200:
            h2conn.send_headers(stream_id, response_headers, end_stream=True)
            return
        payload = {"reason": REASONS.get(status, "Error")}
        if status == 410:
            payload["timestamp"] = 1700000000000
        data = json.dumps(payload).encode()
        h2conn.send_headers(
            stream_id, [*response_headers, ("content-type", "application/json"), ("content-length", str(len(data)))]
        )
        h2conn.send_data(stream_id, data, end_stream=True)
