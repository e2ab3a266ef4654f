"""An IMAP server of the tests' own: Debian's Dovecot (`dovecot-imapd`, which .ci/run
installs), started as a foreground process on free 127.0.0.1 ports with everything under a
temporary directory: its configuration, sockets, state, log and the users' maildirs.

One server answers three ways, as mail hosts do: plain IMAP (port `port`, logins allowed
without TLS since it is localhost), STARTTLS on that same port, and IMAP over TLS (`tls_port`),
both with a certificate of a CA made here (`ca_file`), which a test trusts or not.

Run as root (CI), Dovecot's login and mail processes must not be root: they run as `nobody`,
which owns the maildirs. Run as another user, every process is that user.
"""

from __future__ import annotations

import base64
import datetime
import grp
import hashlib
import ipaddress
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from imapclient import IMAPClient

from .conftest import free_port

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"


def dovecot_version() -> tuple[int, ...]:
    out = subprocess.run([DOVECOT, "--version"], capture_output=True, text=True,
                         check=True).stdout
    return tuple(int(part) for part in out.split()[0].split(".")[:2])


def _make_certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate it signed for 127.0.0.1 (and localhost)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Plug2Support test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(days=1))
          .not_valid_after(now + datetime.timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True,
                                       crl_sign=True, content_commitment=False,
                                       key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False,
                                       decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                         critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([
                x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
                critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    ca_file, cert_file, key_file = (directory / "ca.pem", directory / "server.pem",
                                    directory / "server.key")
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_file.chmod(0o600)
    return ca_file, cert_file, key_file


def _sha256(password: str) -> str:
    return base64.b64encode(hashlib.sha256(password.encode()).digest()).decode()


class DovecotProcess:
    def __init__(self) -> None:
        # Not pytest's tmp_path: its parents are private to the test user, and the mail
        # processes (nobody, under root) must reach their maildirs.
        self.root = Path(tempfile.mkdtemp(prefix="p2s-dovecot-"))
        self.root.chmod(0o755)
        self.port = free_port()
        self.tls_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.users: dict[str, str] = {}
        if os.geteuid() == 0:
            mail_user = pwd.getpwnam("nobody")
        else:
            mail_user = pwd.getpwuid(os.geteuid())
        self.mail_user = mail_user.pw_name
        self.mail_group = grp.getgrgid(mail_user.pw_gid).gr_name
        self.uid, self.gid = mail_user.pw_uid, mail_user.pw_gid
        self.ca_file, self.cert_file, self.key_file = _make_certificates(self.root)

    @property
    def log_file(self) -> Path:
        return self.root / "dovecot.log"

    def _config(self) -> str:
        root = self.root
        # 2.3 names it disable_plaintext_auth; 2.4 auth_allow_cleartext.
        cleartext = ("auth_allow_cleartext = yes" if dovecot_version() >= (2, 4)
                     else "disable_plaintext_auth = no")
        return f"""
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
log_path = {self.log_file}
info_log_path = {self.log_file}
{cleartext}
auth_mechanisms = plain login
# A test's wrong password is answered at once, not after Dovecot's usual 2 s.
auth_failure_delay = 0
login_trusted_networks = 127.0.0.0/8
default_login_user = {self.mail_user}
default_internal_user = {self.mail_user}
default_internal_group = {self.mail_group}
first_valid_uid = {self.uid}
mail_uid = {self.uid}
mail_gid = {self.gid}
mail_location = maildir:~/Maildir
mail_max_userip_connections = 100
ssl = yes
ssl_cert = <{self.cert_file}
ssl_key = <{self.key_file}
passdb {{
  driver = passwd-file
  args = {root}/passwd
}}
userdb {{
  driver = static
  args = home={root}/mail/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {self.tls_port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
  # No growing delay after failed logins from one address (Dovecot's auth penalty): the
  # tests fail logins on purpose.
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
"""

    def add_user(self, name: str, password: str) -> None:
        """A user, made before start(): Dovecot re-reads a changed passwd file only now and
        then. The password is kept as {SHA256} (base64 of its digest), so any character may
        be in it."""
        assert self.proc is None, "users are made before the server starts"
        self.users[name] = password
        lines = "".join(f"{user}:{{SHA256}}{_sha256(pw)}::::::\n"
                        for user, pw in self.users.items())
        passwd = self.root / "passwd"
        temporary = passwd.with_suffix(".new")
        temporary.write_text(lines)
        temporary.chmod(0o644)
        temporary.replace(passwd)

    def start(self) -> None:
        assert self.proc is None
        for directory in ("run", "state", "mail"):
            (self.root / directory).mkdir(exist_ok=True)
        os.chown(self.root / "mail", self.uid, self.gid)
        if not (self.root / "passwd").exists():
            self.add_user("nobody-here", "unused")
        (self.root / "dovecot.conf").write_text(self._config())
        self.proc = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(self.root / "dovecot.conf")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while not self._greets():  # until it answers: a condition, polled with a deadline
            if self.proc.poll() is not None or time.monotonic() > deadline:
                log = self.log_file.read_text() if self.log_file.exists() else ""
                self.stop()
                raise RuntimeError(f"dovecot did not start:\n{log}")
            time.sleep(0.02)

    def _greets(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as conn:
                return conn.recv(100).startswith(b"* OK")
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    # --- a mail client's side of things -------------------------------------------------

    def client(self, user: str) -> IMAPClient:
        client = IMAPClient("127.0.0.1", self.port, ssl=False, timeout=10)
        client.plain_login(user, self.users[user])
        return client

    def deliver(self, user: str, raw: bytes, folder: str = "INBOX",
                arrived: datetime.datetime | None = None) -> int:
        """APPEND `raw` to the user's folder (made if missing), arrived at `arrived` (its
        internal date; now by default); its UID."""
        with self.client(user) as client:
            if not client.folder_exists(folder):
                client.create_folder(folder)
            response = client.append(folder, raw, msg_time=arrived)
        # "[APPENDUID <uidvalidity> <uid>] Append completed." (UIDPLUS, RFC 4315)
        return int(response.split(b"]")[0].split()[-1])

    def flags(self, user: str, folder: str = "INBOX") -> dict[int, set[bytes]]:
        with self.client(user) as client:
            client.select_folder(folder, readonly=True)
            uids = client.search(["ALL"])
            found = client.fetch(uids, ["FLAGS"]) if uids else {}
        return {uid: set(data[b"FLAGS"]) for uid, data in found.items()}

    def recreate(self, user: str, folder: str) -> None:
        """Delete the folder and make it again: a new UIDVALIDITY, UIDs from 1 again."""
        assert folder.upper() != "INBOX", "INBOX cannot be deleted"
        with self.client(user) as client:
            client.delete_folder(folder)
            client.create_folder(folder)


def running_dovecot(users: dict[str, str]) -> Iterator[DovecotProcess]:
    """The body of a `dovecot` fixture: a started server with these users, stopped and
    removed after."""
    server = DovecotProcess()
    for name, password in users.items():
        server.add_user(name, password)
    server.start()
    try:
        yield server
    finally:
        server.remove()
