"""Throw-away certificates and TLS clients/backends for the TLS tests (openssl
CLI, Python's ssl).

Certificates:
  make_cert(dir, name)              a self-signed certificate (CN and SAN
                                    localhost / 127.0.0.1), the oldest helper
  make_ca(dir, name, issuer=None)   a test CA (root, or an intermediate signed
                                    by `issuer`) -> CA(name, crt, key)
  make_leaf(dir, ca, name, dns_names, ip_names, key_type, encrypted_with,
            client=False)           a certificate signed by `ca` -> (crt, key)
  make_chain_leaf(dir, root, name, ...)
                                    leaf signed by an intermediate of `root`;
                                    -> (chain, key), chain = leaf + intermediate
  session_pki(dir)                  a TestPki: the suite's CAs and leaves,
                                    made once per directory (RSA key
                                    generation would otherwise dominate)

Every maker is memoized by (directory, arguments): asking twice for the same
file in the same directory returns the first result without running openssl.

Clients: client_context(ca) (Python ssl, verifying), https_get(...) and
wss_connect(...) (verified, with SNI), s_client(...) (the openssl CLI, for
what Python cannot do: exact protocol versions, sigalgs, session files) and
its output parsers.

Configs: ssl_server(...) builds a `listen ... ssl` server block (certificate
placeholders, ssl_protocols), start_tls(...) starts one with a leaf of the
test CA; message_regex(...) and the OpenSSL message
parts below turn nginx's `-t` messages into regexes.

Backends: TlsHttpBackend (backends/tls_backend.py) and TlsWsBackend
(backends/tls_ws_backend.py), HTTPS and WSS servers that record the SNI they
saw and the client certificate they got.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

from . import config as cfg
from . import rawhttp
from .backends import BackendProcess, HttpBackend, WsBackend
from .wait import wait_until
from .wsclient import connect

OPENSSL_TIMEOUT = 60
DAYS = "3"

_memo: dict[tuple, object] = {}
_memo_lock = threading.RLock()
_serial = itertools.count(0x5A0001)


def _openssl(*args: str, input: bytes | None = None) -> subprocess.CompletedProcess:
    if not shutil.which("openssl"):
        raise RuntimeError("openssl CLI not found")
    p = subprocess.run(["openssl", *args], input=input, capture_output=True, timeout=OPENSSL_TIMEOUT)
    if p.returncode != 0:
        raise RuntimeError("openssl %s failed (%d):\n%s" % (" ".join(args), p.returncode,
                                                           p.stderr.decode(errors="replace")))
    return p


def _memoized(kind: str, directory: Path, *key):
    """Returns (cache_key, the value made before for it, or None). A value
    whose files are gone (a directory removed meanwhile) is made again."""
    ck = (kind, str(Path(directory).resolve())) + tuple(key)
    hit = _memo.get(ck)
    if isinstance(hit, CA):
        files = [hit.crt, hit.key]
    elif isinstance(hit, tuple):
        files = [p for p in hit if isinstance(p, Path)]
    else:
        files = []
    if hit is not None and not all(f.exists() for f in files):
        hit = None
    return ck, hit


def _prepare_dir(directory: Path) -> Path:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o755)  # nginx workers run as nobody when started as root
    return directory


def _genkey(path: Path, key_type: str, encrypted_with: str | None = None) -> None:
    if key_type == "rsa":
        args = ["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]
    elif key_type == "ec":
        args = ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]
    else:
        raise ValueError("key_type must be 'rsa' or 'ec', not %r" % key_type)
    if encrypted_with is not None:
        args += ["-aes-128-cbc", "-pass", "pass:" + encrypted_with]
    _openssl(*args, "-out", str(path))
    os.chmod(path, 0o644)


# ------------------------------------------------------------- self-signed
def make_cert(directory: Path, name: str = "server") -> tuple[Path, Path]:
    """Writes <name>.crt and <name>.key (CN and SAN localhost / 127.0.0.1)."""
    directory = _prepare_dir(directory)
    with _memo_lock:
        ck, hit = _memoized("self-signed", directory, name)
        if hit:
            return hit
        crt, key = directory / (name + ".crt"), directory / (name + ".key")
        _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(crt),
                 "-days", DAYS, "-subj", "/CN=localhost",
                 "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1")
        _memo[ck] = (crt, key)
        return crt, key


def client_context(ca: Path) -> ssl.SSLContext:
    """Verifies the server against `ca` (a CA, or the self-signed certificate)."""
    return ssl.create_default_context(cafile=str(ca))


# ---------------------------------------------------------------------- CA
@dataclass(frozen=True)
class CA:
    name: str
    crt: Path
    key: Path


def make_ca(directory: Path, name: str = "Switchyard Test CA", issuer: CA | None = None,
            key_type: str = "rsa") -> CA:
    """A CA certificate (CN=name) and its key: self-signed, or an intermediate
    signed by `issuer`. Files: <slug>.ca.crt, <slug>.ca.key."""
    directory = _prepare_dir(directory)
    with _memo_lock:
        ck, hit = _memoized("ca", directory, name, issuer, key_type)
        if hit:
            return hit
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
        crt, key = directory / (slug + ".ca.crt"), directory / (slug + ".ca.key")
        _genkey(key, key_type)
        exts = ["basicConstraints=critical,CA:TRUE" + (",pathlen:0" if issuer else ""),
                "keyUsage=critical,keyCertSign,cRLSign", "subjectKeyIdentifier=hash"]
        if issuer is None:
            _openssl("req", "-x509", "-new", "-key", str(key), "-out", str(crt), "-days", DAYS,
                     "-subj", "/CN=" + name, "-sha256", *itertools.chain(*(("-addext", e) for e in exts)))
        else:
            csr = directory / (slug + ".ca.csr")
            _openssl("req", "-new", "-key", str(key), "-out", str(csr), "-subj", "/CN=" + name)
            ext = directory / (slug + ".ca.ext")
            ext.write_text("\n".join(exts + ["authorityKeyIdentifier=keyid"]) + "\n")
            _sign(csr, issuer, crt, ext)
        _memo[ck] = CA(name, crt, key)
        return _memo[ck]


def _sign(csr: Path, ca: CA, out: Path, extfile: Path) -> None:
    _openssl("x509", "-req", "-in", str(csr), "-CA", str(ca.crt), "-CAkey", str(ca.key),
             "-set_serial", str(next(_serial)), "-days", DAYS, "-sha256", "-out", str(out),
             "-extfile", str(extfile))
    os.chmod(out, 0o644)


def make_leaf(directory: Path, ca: CA, name: str, dns_names=None, ip_names=("127.0.0.1",),
              key_type: str = "rsa", encrypted_with: str | None = None,
              client: bool = False) -> tuple[Path, Path]:
    """A certificate with CN=name signed by `ca`, SANs DNS:dns_names (default:
    name) and IP:ip_names; usable by servers, and by clients with
    client=True. key_type "rsa" (2048) or "ec" (P-256); encrypted_with: the
    key is AES-encrypted with that pass phrase. Files <name>[.<key_type>].crt
    and .key (the type suffix only for ec)."""
    dns_names = tuple(dns_names) if dns_names is not None else (name,)
    ip_names = tuple(ip_names or ())
    directory = _prepare_dir(directory)
    with _memo_lock:
        ck, hit = _memoized("leaf", directory, ca, name, dns_names, ip_names, key_type, encrypted_with, client)
        if hit:
            return hit
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", name) + ("" if key_type == "rsa" else "." + key_type)
        if encrypted_with is not None:
            slug += ".enc"
        if client:
            slug += ".client"
        crt, key, csr, ext = (directory / (slug + s) for s in (".crt", ".key", ".csr", ".ext"))
        _genkey(key, key_type, encrypted_with)
        passin = ["-passin", "pass:" + encrypted_with] if encrypted_with is not None else []
        _openssl("req", "-new", "-key", str(key), *passin, "-out", str(csr), "-subj", "/CN=" + name)
        sans = ["DNS:" + d for d in dns_names] + ["IP:" + i for i in ip_names]
        lines = ["basicConstraints=critical,CA:FALSE",
                 "keyUsage=critical,digitalSignature" + (",keyEncipherment" if key_type == "rsa" else ""),
                 "extendedKeyUsage=" + ("clientAuth" if client else "serverAuth"),
                 "subjectKeyIdentifier=hash", "authorityKeyIdentifier=keyid"]
        if sans:
            lines.append("subjectAltName=" + ",".join(sans))
        ext.write_text("\n".join(lines) + "\n")
        _sign(csr, ca, crt, ext)
        _memo[ck] = (crt, key)
        return crt, key


def make_chain_leaf(directory: Path, root: CA, name: str, dns_names=None, ip_names=("127.0.0.1",),
                    key_type: str = "rsa") -> tuple[Path, Path]:
    """A leaf signed by an intermediate CA ("<root> Intermediate") that `root`
    signed. Returns (chain, key): chain holds the leaf, then the
    intermediate, as ssl_certificate wants it. The bare leaf is
    <name>.crt next to it."""
    directory = _prepare_dir(directory)
    with _memo_lock:
        ck, hit = _memoized("chain", directory, root, name, tuple(dns_names or ()), tuple(ip_names or ()), key_type)
        if hit:
            return hit
        inter = make_ca(directory, root.name + " Intermediate", issuer=root)
        crt, key = make_leaf(directory, inter, name, dns_names, ip_names, key_type)
        chain = crt.with_name(crt.name[:-len(".crt")] + ".chain.crt")
        chain.write_bytes(crt.read_bytes() + inter.crt.read_bytes())
        os.chmod(chain, 0o644)
        _memo[ck] = (chain, key)
        return chain, key


class TestPki:
    """The suite's certificates, made on first use and kept for the session:
    `ca` signs every server and client certificate, `other_ca` signs nothing
    the tests trust (the wrong-CA cases)."""

    __test__ = False  # not a pytest test class

    def __init__(self, directory: Path):
        self.dir = _prepare_dir(directory)

    @property
    def ca(self) -> CA:
        return make_ca(self.dir, "Switchyard Test CA")

    @property
    def other_ca(self) -> CA:
        return make_ca(self.dir, "Unrelated Test CA")

    def leaf(self, name: str, *dns: str, key_type: str = "rsa", **kw) -> tuple[Path, Path]:
        return make_leaf(self.dir, self.ca, name, dns or (name,), key_type=key_type, **kw)

    def client(self, name: str = "client.test") -> tuple[Path, Path]:
        return make_leaf(self.dir, self.ca, name, (), ip_names=(), client=True)

    def chain_leaf(self, name: str, *dns: str) -> tuple[Path, Path]:
        return make_chain_leaf(self.dir, self.ca, name, dns or (name,))


def session_pki(directory: Path) -> TestPki:
    with _memo_lock:
        ck, hit = _memoized("pki", directory)
        if hit:
            return hit
        _memo[ck] = TestPki(directory)
        return _memo[ck]


# ------------------------------------------------------------ openssl s_client
@dataclass
class SClient:
    """What `openssl s_client` printed (stdout and stderr together)."""

    returncode: int
    output: str
    timed_out: bool = False

    @property
    def handshake_ok(self) -> bool:
        return bool(re.search(r"^(?:New|Reused), \S+, Cipher is (?!\(NONE\))", self.output, re.M))

    @property
    def reused(self) -> bool:
        return bool(re.search(r"^Reused, ", self.output, re.M))

    @property
    def protocol(self) -> str | None:
        """The negotiated version (`Protocol  : TLSv1.2` of the session;
        the `New, TLSv1.0, Cipher is` line names the cipher's version)."""
        if not self.handshake_ok:
            return None
        m = re.search(r"^\s+Protocol\s*: (\S+)", self.output, re.M)
        return m.group(1) if m else None

    @property
    def subject_cn(self) -> str | None:
        """CN of the server's certificate (the leaf, `subject=` line)."""
        m = re.search(r"^subject=.*?CN ?= ?([^,/\n]+)", self.output, re.M)
        return m.group(1).strip() if m else None

    @property
    def leaf_key(self) -> str | None:
        """Key type of the server's certificate: "rsa" or "ec" (OpenSSL 3's
        `a:PKEY: rsaEncryption, 2048 (bit)` line of the chain)."""
        m = re.search(r"^\s+a:PKEY: (\S+?),", self.output, re.M)
        if not m:
            return None
        return {"rsaEncryption": "rsa", "id-ecPublicKey": "ec"}.get(m.group(1), m.group(1))

    @property
    def verify_ok(self) -> bool:
        return bool(re.search(r"^\s*Verify return code: 0 \(ok\)", self.output, re.M))

    def response(self):
        """The HTTP response to the request s_client sent (rawhttp.Response),
        or None. The body is cut at Content-Length: s_client prints session
        tickets that arrive later into the same output."""
        m = re.search(r"^HTTP/1\.[01] \d{3}", self.output, re.M)
        if not m:
            return None
        data = self.output[m.start():].encode("latin-1", errors="replace")
        head, sep, rest = data.partition(b"\r\n\r\n")
        if not sep:
            return None
        lines = head.decode("latin-1").split("\r\n")
        version, _, status = lines[0].partition(" ")
        code, _, reason = status.partition(" ")
        headers = [(k, v.strip()) for k, _, v in (line.partition(":") for line in lines[1:])]
        resp = rawhttp.Response(version, int(code), reason, headers, b"", head + sep)
        cl = resp.header("Content-Length")
        resp.body = rest[:int(cl)] if cl is not None else rest
        return resp


def s_client(port: int, *args: str, servername: str | None = None, ca: Path | None = None,
             request: bytes | None = None, timeout: float = 10.0) -> SClient:
    """Runs `openssl s_client -connect 127.0.0.1:port` with args. With
    servername, SNI is that name; without, no SNI is sent (-noservername).
    With request, it is sent after the handshake and the output runs until
    the server closes (-ign_eof); without, s_client quits at once after the
    handshake (stdin is empty)."""
    cmd = ["openssl", "s_client", "-connect", "127.0.0.1:%d" % port]
    cmd += ["-servername", servername] if servername else ["-noservername"]
    if ca is not None:
        cmd += ["-CAfile", str(ca), "-verify_return_error"]
    if request is not None:
        cmd.append("-ign_eof")
    cmd += list(args)
    try:
        p = subprocess.run(cmd, input=request or b"", capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"") + (e.stderr or b"")
        return SClient(-1, out.decode(errors="replace"), timed_out=True)
    return SClient(p.returncode, (p.stdout + p.stderr).decode(errors="replace"))


def https_get(port: int, path: str, host: str, ca: Path, *, session: ssl.SSLSession | None = None,
              context: ssl.SSLContext | None = None, host_header: str | None = None, timeout: float = 10.0):
    """One HTTP/1.1 GET over TLS with Python's ssl (SNI = host, verified
    against `ca`; Host: host_header or host), Connection: close. Returns
    (rawhttp.Response, facts: {"version", "cipher", "session",
    "session_reused", "peer_cn"})."""
    ctx = context or client_context(ca)
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as raw:
        with ctx.wrap_socket(raw, server_hostname=host, session=session) as s:
            s.settimeout(timeout)
            s.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n"
                       % (path, host_header or host)).encode())
            resp = rawhttp.Reader(s, timeout).response()
            cert = s.getpeercert() or {}
            cn = [v for rdn in cert.get("subject", ()) for k, v in rdn if k == "commonName"]
            facts = {"version": s.version(), "cipher": s.cipher()[0], "session": s.session,
                     "session_reused": s.session_reused, "peer_cn": cn[0] if cn else None}
            return resp, facts


def wss_connect(port: int, name: str, path: str, ca: Path, **kw):
    """A verified wss:// connection to 127.0.0.1:port with SNI and Host `name`
    (harness.wsclient.connect, so an `async with` context)."""
    return connect("wss://%s:%d%s" % (name, port, path), ssl=client_context(ca), host="127.0.0.1",
                   server_hostname=name, **kw)


# ------------------------------------------------------------------- configs
def ssl_server(*items: str, name: str | None = None, port: str = "listen_tls", default: bool = False,
               plain: bool = False, certs=(("crt", "key"),), protocols: str | None = "TLSv1.2 TLSv1.3") -> str:
    """A server block listening with TLS on 127.0.0.1:{<port>} (and, with
    plain, without TLS on {listen}); `server_name name`; one
    ssl_certificate / ssl_certificate_key pair of placeholders per entry of
    certs; ssl_protocols (None: the default); then items (as
    harness.config.block takes them)."""
    head = ["listen 127.0.0.1:{listen}"] if plain else []
    head.append("listen 127.0.0.1:{%s} ssl%s" % (port, " default_server" if default else ""))
    if name:
        head.append("server_name " + name)
    for crt, key in certs:
        head += ["ssl_certificate {%s}" % crt, "ssl_certificate_key {%s}" % key]
    if protocols:
        head.append("ssl_protocols " + protocols)
    return cfg.block("server", *head, *items) + "\n"


def start_tls(proxy, pki: TestPki, conf: str, name: str, **values) -> int:
    """proxy.start(conf, **values) with {crt} / {key} the certificate of
    `name` from pki; returns the {listen_tls} port."""
    crt, key = pki.leaf(name)
    proxy.start(conf, crt=crt, key=key, **values)
    return proxy.ports["listen_tls"]


# OpenSSL 3's error queue after fopen() of a file that does not exist; in
# these message templates {missing} stands for that file's path.
NO_SUCH_FILE = (r"error:[0-9A-F]+:system library::No such file or directory:calling fopen\({missing}, r\) "
                r"error:[0-9A-F]+:BIO routines::no such file")


def cannot_load_missing(what: str) -> str:
    """nginx's message for ssl_certificate(_key) naming a missing file;
    what: "certificate" or "certificate key"."""
    return r'cannot load %s "{missing}": BIO_new_file\(\) failed \(SSL: %s\)' % (what, NO_SUCH_FILE)


def message_regex(template: str, values: dict, conf_path: Path, line: int | None = None) -> str:
    """A message template as a regex: {name} is values[name] (escaped), {conf}
    the config file, {line} `line` (any number when None)."""
    subst = {k: re.escape(str(v)) for k, v in values.items()}
    subst.update(conf=re.escape(str(conf_path)), line=r"\d+" if line is None else str(line))
    return re.sub(r"\{(\w+)\}", lambda m: subst[m.group(1)], template)


# ------------------------------------------------------------------ backends
class _TlsBackend:
    """A backend script behind TLS: its plain options (`plain_args`, "{name}"
    filled in) plus the TLS ones. Handshake records: <record>.tls, JSON lines
    {"event": "handshake", "sni": ..., "client_cert": CN or null,
     "version": ..., "cipher": ...} or {"event": "handshake_failed", "error": ...}."""

    plain_args: tuple[str, ...] = ()
    record: Path

    def __init__(self, workdir: Path, name: str, cert: Path, key: Path, client_ca: Path | None = None,
                 require_client_cert: bool = False, min_version: str | None = None,
                 max_version: str | None = None):
        args = [a.format(name=name) for a in self.plain_args] + ["--cert", str(cert), "--key", str(key)]
        if client_ca is not None:
            args += ["--client-ca", str(client_ca)]
        if require_client_cert:
            args.append("--require-client-cert")
        if min_version:
            args += ["--min-version", min_version]
        if max_version:
            args += ["--max-version", max_version]
        BackendProcess.__init__(self, workdir, name, args)

    def tls_records(self) -> list[dict]:
        try:
            text = Path(str(self.record) + ".tls").read_text()
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def handshakes(self) -> list[dict]:
        return [r for r in self.tls_records() if r["event"] == "handshake"]

    def failed_handshakes(self) -> list[dict]:
        """Failures, minus the harness's readiness probe (a plain TCP connect
        that closes at once: an EOF, never a TLS alert)."""
        return [r for r in self.tls_records() if r["event"] == "handshake_failed" and not r.get("probe")]

    def wait_handshake(self, n: int = 1, timeout: float = 10.0) -> dict:
        wait_until(lambda: len(self.handshakes()) >= n, timeout, "%d TLS handshake(s) at %s" % (n, self.name))
        return self.handshakes()[n - 1]

    def wait_failed_handshake(self, n: int = 1, timeout: float = 10.0) -> dict:
        wait_until(lambda: len(self.failed_handshakes()) >= n, timeout,
                   "%d failed TLS handshake(s) at %s" % (n, self.name))
        return self.failed_handshakes()[n - 1]


class TlsHttpBackend(_TlsBackend, HttpBackend):
    """backends/tls_backend.py: http_backend.py's server (same records and
    query-string API, so HttpBackend's requests()/wait_requests()/last())
    behind TLS; GET .../tls-info answers JSON with the connection's SNI,
    client certificate CN, version, cipher and whether it was resumed."""

    script = "tls_backend.py"
    plain_args = ("--name", "{name}")


class TlsWsBackend(_TlsBackend, WsBackend):
    """backends/tls_ws_backend.py: ws_backend.py's echo over TLS (wss).
    `__tls__` answers JSON with the connection's SNI, client certificate CN
    and version; `__handshake__` as ws_backend.py."""

    script = "tls_ws_backend.py"
    plain_args = ("--no-compression",)
