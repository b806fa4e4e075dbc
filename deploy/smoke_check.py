"""The production smoke test's driver (run by deploy/smoke, in the dev virtualenv).

It installs the product the way README "Production" tells an operator, on loopback: the
`deploy/` configuration (supervisord running gunicorn, the Celery worker and beat through
deploy/run) from the virtualenv built from requirements.txt alone, nginx terminating TLS with
a throwaway certificate, DEBUG off, PostgreSQL, a Redis of its own, and loopback fakes of
Google Wallet, APNs and SMTP hosted in this process. Then, over HTTPS from outside the
product's processes, it does what people do and checks what should happen, printing each
check; the first failure stops it with the logs.
"""

import argparse
import contextlib
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import time
import uuid
import zipfile
from io import BytesIO
from pathlib import Path

import psycopg
import requests
from cryptography.x509.oid import ExtendedKeyUsageOID

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.smtp_fake import FakeSMTP, free_port  # noqa: E402
from tests.wallet import fakes  # noqa: E402

PASSWORD = "demo-pass-1234"
WAIT_DELIVERY = 180  # seconds: a nudge lost to the Redis restart waits for the minute sweep


class SmokeFailure(Exception):
    pass


def say(text: str) -> None:
    print(f"[smoke] {text}", flush=True)


def check(condition, text: str, detail: str = "") -> None:
    if not condition:
        raise SmokeFailure(f"{text}{': ' + detail if detail else ''}")
    print(f"[smoke]   ok  {text}", flush=True)


def wait_for(predicate, text: str, timeout: float, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    started = time.monotonic()
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            print(f"[smoke]   ok  {text} (after {time.monotonic() - started:.1f} s)", flush=True)
            return result
        time.sleep(interval)
    raise SmokeFailure(f"{text}: not seen within {timeout:.0f} s")


class Installation:
    """Everything the smoke test starts, and stops again whatever happens."""

    def __init__(self, venv: Path, work: Path):
        self.venv = venv
        self.work = work
        self.log_dir = work / "log"
        self.var_dir = work / "var"
        self.env_file = work / "env"
        self.database = f"loyalty_smoke_{os.getpid()}"
        self.redis_port = free_port()
        self.web_port = free_port()
        self.https_port = free_port()
        self.http_port = free_port()
        self.redis: subprocess.Popen | None = None
        self.nginx: subprocess.Popen | None = None
        self.supervised = False
        self.database_created = False

    @property
    def base_url(self) -> str:
        return f"https://127.0.0.1:{self.https_port}"

    # --- services -------------------------------------------------------------------------

    def start_redis(self) -> None:
        self.redis = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.redis_port), "--save", "", "--appendonly", "no"],
            stdout=open(self.log_dir / "redis.log", "a"),  # noqa: SIM115 - closed with the process
            stderr=subprocess.STDOUT,
        )
        wait_for(lambda: self.redis_ping(), f"Redis answers on port {self.redis_port}", 10, 0.1)

    def stop_redis(self) -> None:
        if self.redis and self.redis.poll() is None:
            self.redis.terminate()
            self.redis.wait(10)
        self.redis = None

    def redis_ping(self) -> bool:
        result = subprocess.run(["redis-cli", "-p", str(self.redis_port), "ping"], capture_output=True, text=True)
        return result.stdout.strip() == "PONG"

    def create_database(self) -> None:
        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{self.database}"')
            connection.execute(f'CREATE DATABASE "{self.database}"')
        self.database_created = True

    def drop_database(self) -> None:
        if self.database_created:
            with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as connection:
                connection.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')

    def sql(self, query: str, *params):
        with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{self.database}") as connection:
            return connection.execute(query, params).fetchall()

    # --- the product's environment ---------------------------------------------------------

    def write_environment(self, credentials, google, apns, smtp) -> None:
        service_account = self.work / "google-service-account.json"
        service_account.write_text(json.dumps(credentials.service_account_json(google.token_uri)))
        env = {
            "DEBUG": "false",
            "SECRET_KEY": secrets.token_urlsafe(48),
            "ALLOWED_HOSTS": "127.0.0.1",
            "CSRF_TRUSTED_ORIGINS": self.base_url,
            "LOYALTY_PUBLIC_BASE_URL": self.base_url,
            "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{self.database}",
            "REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "RATELIMIT_IP_META_KEY": "HTTP_X_REAL_IP",
            "LOYALTY_VAR_DIR": str(self.var_dir),
            "LOYALTY_LOG_DIR": str(self.log_dir),
            "GUNICORN_BIND": f"127.0.0.1:{self.web_port}",
            "WEB_CONCURRENCY": "2",
            "LOYALTY_WORKER_CONCURRENCY": "2",
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": str(smtp.port),
            "EMAIL_TIMEOUT": "5",
            "DEFAULT_FROM_EMAIL": "Loyalty <loyalty@smoke.example>",
            "LOYALTY_GOOGLE_SERVICE_ACCOUNT_JSON": str(service_account),
            "LOYALTY_GOOGLE_ISSUER_ID": fakes.ISSUER_ID,
            "LOYALTY_GOOGLE_API_BASE_URL": google.api_base_url,
            "LOYALTY_APPLE_PASS_TYPE_ID": fakes.PASS_TYPE_ID,
            "LOYALTY_APPLE_TEAM_ID": fakes.TEAM_ID,
            "LOYALTY_APPLE_CERT_PATH": credentials.path("pass-cert.pem"),
            "LOYALTY_APPLE_KEY_PATH": credentials.path("pass-key.pem"),
            "LOYALTY_APPLE_WWDR_CERT_PATH": credentials.path("wwdr.pem"),
            "LOYALTY_APPLE_APNS_URL": apns.url,
            # The fake APNs' certificate comes from a throwaway CA the product must trust.
            "SSL_CERT_FILE": credentials.path("apns-ca.pem"),
        }
        self.env = env
        # deploy/run sources the file with the shell, as it does /etc/loyalty/env.
        self.env_file.write_text("".join(f"{key}={shlex.quote(value)}\n" for key, value in env.items()))
        self.env_file.chmod(0o600)

    def run(self, *args: str, check_ok: bool = True) -> subprocess.CompletedProcess:
        environment = {
            "PATH": os.environ["PATH"],
            "HOME": os.environ.get("HOME", "/root"),
            "LOYALTY_ENV_FILE": str(self.env_file),
            "LOYALTY_VENV": str(self.venv),
        }
        result = subprocess.run(
            [str(ROOT / "deploy" / "run"), *args], cwd=ROOT, env=environment, capture_output=True, text=True
        )
        if check_ok and result.returncode != 0:
            raise SmokeFailure(f"deploy/run {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result

    def manage(self, *args: str) -> subprocess.CompletedProcess:
        environment = {"PATH": os.environ["PATH"], "DJANGO_SETTINGS_MODULE": "config.settings", **self.env}
        return subprocess.run(
            [str(self.venv / "bin" / "python"), "manage.py", *args],
            cwd=ROOT,
            env=environment,
            capture_output=True,
            text=True,
        )

    # --- nginx with a throwaway certificate -----------------------------------------------

    def start_nginx(self) -> Path:
        ca_key, server_key = fakes.new_key(), fakes.new_key()
        ca_name = fakes.name("Smoke test root")
        ca = fakes.make_certificate(ca_name, ca_key, ca=True)
        server = fakes.make_certificate(
            fakes.name("127.0.0.1"),
            server_key,
            issuer=ca_name,
            issuer_key=ca_key,
            san_ip="127.0.0.1",
            usage=[ExtendedKeyUsageOID.SERVER_AUTH],
        )
        tls = self.work / "tls"
        tls.mkdir(exist_ok=True)
        (tls / "ca.pem").write_bytes(fakes.pem(ca))
        (tls / "server.pem").write_bytes(fakes.pem(server))
        (tls / "server.key").write_bytes(fakes.key_pem(server_key))

        site = (ROOT / "deploy" / "nginx" / "loyalty.conf").read_text()
        replacements = {
            "server 127.0.0.1:8000;": f"server 127.0.0.1:{self.web_port};",
            "listen 443 ssl http2;": f"listen 127.0.0.1:{self.https_port} ssl http2;",
            "listen 80;": f"listen 127.0.0.1:{self.http_port};",
            "server_name loyalty.example.com;": "server_name 127.0.0.1;",
            "/etc/ssl/certs/loyalty.example.com.pem": str(tls / "server.pem"),
            "/etc/ssl/private/loyalty.example.com.key": str(tls / "server.key"),
            "/var/lib/loyalty/media/": f"{self.var_dir}/media/",
        }
        for old, new in replacements.items():
            if old not in site:
                raise SmokeFailure(
                    f"deploy/nginx/loyalty.conf no longer contains {old!r}; update deploy/smoke_check.py"
                )
            site = site.replace(old, new)
        (self.work / "site.conf").write_text(site)
        temp = self.work / "nginx-temp"
        temp.mkdir(exist_ok=True)
        main = f"""
{"user root;" if os.geteuid() == 0 else ""}
worker_processes 1;
pid {self.work}/nginx.pid;
error_log {self.log_dir}/nginx-error.log warn;
events {{ worker_connections 256; }}
http {{
    include /etc/nginx/mime.types;
    access_log {self.log_dir}/nginx-access.log;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    include {self.work}/site.conf;
}}
"""
        (self.work / "nginx.conf").write_text(main)
        self.nginx = subprocess.Popen(
            ["nginx", "-c", str(self.work / "nginx.conf"), "-p", str(self.work), "-g", "daemon off;"],
            stdout=open(self.log_dir / "nginx.out", "a"),  # noqa: SIM115 - closed with the process
            stderr=subprocess.STDOUT,
        )
        return tls / "ca.pem"

    # --- teardown -----------------------------------------------------------------------

    def stop(self) -> None:
        if self.supervised:
            self.run("ctl", "shutdown", check_ok=False)
            pid_file = self.log_dir / "supervisord.pid"
            for _ in range(100):
                if not pid_file.exists():
                    break
                time.sleep(0.2)
        if self.nginx and self.nginx.poll() is None:
            self.nginx.send_signal(signal.SIGQUIT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.nginx.wait(10)
        self.stop_redis()
        self.drop_database()

    def dump_logs(self) -> None:
        for log in sorted(self.log_dir.glob("*.log")):
            lines = log.read_text(errors="replace").splitlines()[-40:]
            print(f"----- {log.name} (last {len(lines)} lines) -----")
            print("\n".join(lines))


class Customer:
    """A person with a browser: a session over HTTPS that trusts the throwaway CA."""

    def __init__(self, base_url: str, ca: Path):
        self.base_url = base_url
        self.session = requests.Session()
        self.session.verify = str(ca)
        self.session.trust_env = False  # a REQUESTS_CA_BUNDLE in the environment would win over verify

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.session.get(self.base_url + path, timeout=20, **kwargs)

    def join(self, merchant: str, email: str) -> requests.Response:
        page = self.get(f"/join/{merchant}/?store=main")
        check(page.status_code == 200, f"GET /join/{merchant}/ answers 200", str(page.status_code))
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
        data = {
            "csrfmiddlewaretoken": token,
            "first_name": "Smoke",
            "last_name": "Tester",
            "email": email,
            "phone": "+33612345678",
            "birth_date": "1990-07-04",
            "accept_terms": "on",
        }
        return self.session.post(
            f"{self.base_url}/join/{merchant}/?store=main",
            data=data,
            headers={"Referer": page.url},
            allow_redirects=False,
            timeout=20,
        )


class Cashier:
    def __init__(self, base_url: str, ca: Path, username: str):
        self.base_url = base_url
        self.session = requests.Session()
        self.session.verify = str(ca)
        self.session.trust_env = False  # a REQUESTS_CA_BUNDLE in the environment would win over verify
        answer = self.session.post(
            f"{base_url}/api/v1/auth/token/", json={"username": username, "password": PASSWORD}, timeout=20
        )
        check(answer.status_code == 200, f"{username} gets an API token", answer.text[:300])
        self.session.headers["Authorization"] = f"Token {answer.json()['token']}"

    def operate(self, card_number: str, action: str, body: dict, key: str | None = None) -> requests.Response:
        return self.session.post(
            f"{self.base_url}/api/v1/cards/{card_number}/{action}/",
            json={"store": "main", "staff_pin": "1234", **body},
            headers={"Idempotency-Key": key or str(uuid.uuid4())},
            timeout=20,
        )


def object_requests(google) -> int:
    return len([r for r in google.api_requests() if "loyaltyObject" in r.path])


def pushes_to(apns, token: str) -> int:
    return len([push for push in apns.pushes() if token in str(push)])


def smoke(venv: Path, work: Path) -> None:
    if work.exists():
        shutil.rmtree(work / "log", ignore_errors=True)
        shutil.rmtree(work / "var", ignore_errors=True)
    install = Installation(venv, work)
    install.log_dir.mkdir(parents=True, exist_ok=True)
    install.var_dir.mkdir(parents=True, exist_ok=True)
    (work / "credentials").mkdir(exist_ok=True)
    credentials = fakes.make_credentials(work / "credentials")
    google = fakes.FakeGoogleWallet()
    apns = fakes.FakeAPNs(credentials)
    smtp = FakeSMTP()
    try:
        say(f"product virtualenv (requirements.txt only): {venv}")
        install.start_redis()
        install.create_database()
        install.write_environment(credentials, google, apns, smtp)
        install.run("setup")
        check(True, "deploy/run setup: migrations, collectstatic, check --deploy")
        seeded = install.manage("seed_demo")
        check(seeded.returncode == 0, "seed_demo", seeded.stderr[-2000:])
        ca = install.start_nginx()
        install.run("supervise")
        install.supervised = True

        def web_up():
            with contextlib.suppress(requests.RequestException):
                return requests.get(f"{install.base_url}/join/demo-coffee/", verify=str(ca), timeout=5).ok
            return False

        wait_for(web_up, "nginx (TLS) -> gunicorn answers the join page", 60)

        def all_running():
            status = install.run("ctl", "status", check_ok=False).stdout
            return all(re.search(rf"^{program}\s+RUNNING", status, re.M) for program in ("web", "worker", "beat"))

        wait_for(all_running, "supervisord runs web, worker and beat", 30)
        worker_pid = install.run("ctl", "pid", "worker").stdout.strip()

        # --- HTTPS, the proxy headers, security headers --------------------------------
        plain = requests.get(
            f"http://127.0.0.1:{install.http_port}/join/demo-coffee/", allow_redirects=False, timeout=5
        )
        check(plain.status_code == 301 and plain.headers["Location"].startswith("https://"), "HTTP redirects to HTTPS")
        page = requests.get(f"{install.base_url}/join/demo-coffee/", verify=str(ca), timeout=10)
        check("Strict-Transport-Security" in page.headers, "HSTS on HTTPS pages (X-Forwarded-Proto read)")
        check("secure" in page.headers.get("Set-Cookie", "").lower(), "cookies are Secure behind the TLS proxy")
        policy = page.headers.get("Content-Security-Policy", "")
        check("script-src 'self'" in policy and "unsafe-inline" not in policy, "a Content-Security-Policy", policy)
        missing = requests.get(f"{install.base_url}/no-such-page/", verify=str(ca), timeout=10)
        check(missing.status_code == 404 and "Traceback" not in missing.text, "a 404 page without debug details")

        # --- a customer joins; the welcome email arrives -------------------------------
        customer = Customer(install.base_url, ca)
        joined = customer.join("demo-coffee", "ada.smoke@example.com")
        check(
            joined.status_code == 302 and "/card/" in joined.headers.get("Location", ""),
            "joining redirects to the card",
        )
        card_path = joined.headers["Location"].replace(install.base_url, "")
        card_page = customer.get(card_path)
        check(card_page.status_code == 200, "the card page answers 200")
        card_number = re.search(r"\d{4}-\d{4}-\d{4}", card_page.text).group(0)
        wait_for(lambda: smtp.to("ada.smoke@example.com"), "the welcome email reaches SMTP", 60)
        [welcome] = smtp.to("ada.smoke@example.com")
        text = welcome.get_body(preferencelist=("plain",)).get_content()
        check(card_path in text, "the welcome email links the card page")
        check("List-Unsubscribe" in welcome, "the welcome email carries List-Unsubscribe")

        # --- wallets: Google object, Apple pass and device registration -----------------
        wait_for(lambda: object_requests(google), "Google Wallet object inserted for the card page's Save link", 30)
        qr = card_path.strip("/").split("/")[-1]
        pkpass = customer.get(f"/wallet/apple/card/{qr}.pkpass")
        check(pkpass.status_code == 200 and pkpass.headers["Content-Type"] == "application/vnd.apple.pkpass", "pkpass")
        pass_json = json.loads(zipfile.ZipFile(BytesIO(pkpass.content)).read("pass.json"))
        push_token = secrets.token_hex(32)
        device = secrets.token_hex(16)
        registration = customer.session.post(
            f"{install.base_url}/wallet/apple/v1/devices/{device}/registrations/"
            f"{pass_json['passTypeIdentifier']}/{pass_json['serialNumber']}",
            json={"pushToken": push_token},
            headers={"Authorization": f"ApplePass {pass_json['authenticationToken']}"},
            timeout=20,
        )
        check(registration.status_code == 201, "an iPhone registers the pass", registration.text[:200])

        # --- the cashier stamps; Google PATCH and APNs push follow ----------------------
        cashier = Cashier(install.base_url, ca, "cashier")
        google_before, pushes_before = object_requests(google), pushes_to(apns, push_token)
        key = str(uuid.uuid4())
        stamped = cashier.operate(card_number, "stamp", {}, key)
        check(stamped.status_code == 200, "POST stamp through the API", stamped.text[:300])
        replay = cashier.operate(card_number, "stamp", {}, key)
        check(replay.json() == stamped.json(), "a retried stamp (same Idempotency-Key) replays the first answer")
        big = cashier.session.post(
            f"{install.base_url}/api/v1/cards/{card_number}/stamp/",
            data=b'{"store": "' + b"x" * 2_700_000 + b'"}',
            headers={"Content-Type": "application/json"},
            timeout=20,
        )
        check(big.status_code == 413 and big.json()["error"]["code"] == "request_too_large", "a 2.7 MB body is a 413")
        for method in ("OPTIONS", "HEAD"):
            answer = cashier.session.request(
                method, f"{install.base_url}/api/v1/cards/{card_number}/stamp/", timeout=10
            )
            check(answer.status_code < 500, f"{method} on the stamp URL is not a 5xx", str(answer.status_code))
        wait_for(lambda: object_requests(google) > google_before, "Google Wallet object patched after the stamp", 60)
        wait_for(lambda: pushes_to(apns, push_token) > pushes_before, "APNs push for the registered device", 60)

        # --- Redis restarts under traffic ------------------------------------------------
        say("stopping Redis")
        install.stop_redis()
        google_before, pushes_before = object_requests(google), pushes_to(apns, push_token)
        during = cashier.operate(card_number, "earn-points", {"purchase_amount": "12.50"})
        check(during.status_code == 200, "the POS keeps answering while Redis is down", during.text[:300])
        install.start_redis()
        after = cashier.operate(card_number, "earn-points", {"purchase_amount": "3.00"})
        check(after.status_code == 200, "earn after Redis is back", after.text[:300])
        wait_for(
            lambda: object_requests(google) > google_before, "Google PATCH delivered after the restart", WAIT_DELIVERY
        )
        wait_for(lambda: pushes_to(apns, push_token) > pushes_before, "APNs push delivered after the restart", 60)
        check(install.run("ctl", "pid", "worker").stdout.strip() == worker_pid, f"the same worker (pid {worker_pid})")
        pending = install.sql("SELECT count(*) FROM wallet_walletupdate WHERE status = 'pending'")[0][0]
        wait_for(
            lambda: install.sql("SELECT count(*) FROM wallet_walletupdate WHERE status = 'pending'")[0][0] == 0,
            f"no wallet update left pending (was {pending})",
            WAIT_DELIVERY,
        )

        # --- SMTP down: the join still works, the email arrives later -------------------
        say("stopping SMTP")
        smtp.stop()
        joined = Customer(install.base_url, ca).join("demo-coffee", "grace.smoke@example.com")
        check(joined.status_code == 302, "joining works while SMTP is down")
        wait_for(
            lambda: install.sql(
                "SELECT attempts FROM notifications_outboundemail WHERE to_address = %s AND status = 'pending' "
                "AND attempts > 0",
                "grace.smoke@example.com",
            ),
            "the email is queued and its first attempt failed",
            60,
        )
        smtp.start()
        wait_for(lambda: smtp.to("grace.smoke@example.com"), "the email arrives once SMTP is back", WAIT_DELIVERY)
        time.sleep(2)
        check(len(smtp.to("grace.smoke@example.com")) == 1, "delivered exactly once")

        ledger = install.manage("verify_ledger")
        check(ledger.returncode == 0, "verify_ledger: every balance equals its ledger", ledger.stdout[-500:])
        check(install.run("ctl", "pid", "worker").stdout.strip() == worker_pid, "the worker never restarted")
        say("all checks passed")
    except BaseException:
        install.dump_logs()
        raise
    finally:
        install.stop()
        smtp.stop()
        google.close()
        apns.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--venv", type=Path, required=True, help="virtualenv built from requirements.txt alone")
    parser.add_argument("--work", type=Path, required=True, help="scratch folder (logs, certificates, config)")
    arguments = parser.parse_args()
    try:
        smoke(arguments.venv.resolve(), arguments.work.resolve())
    except SmokeFailure as failure:
        print(f"[smoke] FAILED: {failure}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
