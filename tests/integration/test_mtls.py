"""Mutual TLS (`ssl_verify_client`, `ssl_client_certificate`,
`ssl_trusted_certificate`, `ssl_verify_depth`, `ssl_crl`), the
$ssl_client_* variables, OCSP stapling from a file (`ssl_stapling_file`)
and its warnings, and the deprecated `ssl on`, in http and stream.

Certificates come from the suite's throw-away CA (harness/tls.py): client
certificates signed by it, one signed by an unrelated CA (the wrong-CA
cases), one under an intermediate (the depth cases) and one revoked by a CRL
built here with `cryptography`. Clients are curl (--cert/--key) and the
openssl CLI (session resumption, the OCSP status request, stream).

nginx semantics, checked against Debian's nginx 1.22 on the same configs: a
failed verification never fails the handshake; the http request is answered
`400 The SSL certificate error` (495) or `400 No required SSL certificate
was sent` (496), both error_page-able and never kept alive; `optional` lets
a client without a certificate through but not one that fails
verification; `optional_no_ca` lets an unverifiable chain through with
$ssl_client_verify FAILED:reason; a stream session that fails verification
is closed.
"""

import datetime
import hashlib
import re
import socket
import ssl
import subprocess

import pytest

from harness import rawhttp
from harness.config import location
from harness.wait import wait_until
from harness.tls import https_get, make_ca, make_leaf, s_client, session_pki, ssl_server
from test_stream import STREAM_MODULE, start_stream  # noqa: F401


@pytest.fixture(scope="session")
def pki(workroot):
    return session_pki(workroot / "pki")


@pytest.fixture(scope="session")
def clients(pki, workroot):
    """The client certificates: good (the CA), other (a second good one,
    for CRL), wrong (unrelated CA), chain (leaf + intermediate, file with
    both), revoked (in the CA's CRL) and the CRL file."""
    d = pki.dir
    good = make_leaf(d, pki.ca, "client.test", (), ip_names=(), client=True)
    other = make_leaf(d, pki.ca, "other.client.test", (), ip_names=(), client=True)
    revoked = make_leaf(d, pki.ca, "revoked.client.test", (), ip_names=(), client=True)
    wrong = make_leaf(d, pki.other_ca, "wrong.client.test", (), ip_names=(), client=True)
    inter = make_ca(d, "Switchyard Test CA Client Intermediate", issuer=pki.ca)
    leaf_crt, leaf_key = make_leaf(d, inter, "chained.client.test", (), ip_names=(), client=True)
    chain = d / "chained.client.chain.crt"
    chain.write_bytes(leaf_crt.read_bytes() + inter.crt.read_bytes())
    return {"good": good, "other": other, "wrong": wrong, "chain": (chain, leaf_key), "revoked": revoked,
            "crl": make_crl(pki, revoked[0], d / "ca.crl.pem")}


def make_crl(pki, revoked_crt, path):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    ca_cert = x509.load_pem_x509_certificate(pki.ca.crt.read_bytes())
    ca_key = serialization.load_pem_private_key(pki.ca.key.read_bytes(), password=None)
    cert = x509.load_pem_x509_certificate(revoked_crt.read_bytes())
    now = datetime.datetime.utcnow()
    entry = (x509.RevokedCertificateBuilder().serial_number(cert.serial_number)
             .revocation_date(now - datetime.timedelta(minutes=5)).build())
    crl = (x509.CertificateRevocationListBuilder().issuer_name(ca_cert.subject)
           .last_update(now - datetime.timedelta(minutes=5)).next_update(now + datetime.timedelta(days=2))
           .add_revoked_certificate(entry).sign(ca_key, hashes.SHA256()))
    path.write_bytes(crl.public_bytes(serialization.Encoding.PEM))
    path.chmod(0o644)
    return path


VARS = ('return 200 "verify=$ssl_client_verify|s_dn=$ssl_client_s_dn|i_dn=$ssl_client_i_dn|'
        'serial=$ssl_client_serial|fp=$ssl_client_fingerprint|start=$ssl_client_v_start|'
        'end=$ssl_client_v_end|remain=$ssl_client_v_remain\\n"')


def mtls_server(mode: str, *extra: str) -> str:
    return ssl_server("ssl_verify_client " + mode, *extra,
                      location("/", None, VARS),
                      location("= /raw", None, 'return 200 "$ssl_client_raw_cert"'),
                      location("= /indented", None, 'return 200 "$ssl_client_cert"'),
                      location("= /escaped", None, 'return 200 "$ssl_client_escaped_cert"'),
                      name="mtls.test")


def start_mtls(proxy, pki, mode: str, *extra: str, **values) -> int:
    crt, key = pki.leaf("mtls.test")
    proxy.start(mtls_server(mode, *extra), crt=crt, key=key, ca=pki.ca.crt, **values)
    return proxy.ports["listen_tls"]


def get(port: int, pki, path: str = "/", cert=None, *extra: str) -> rawhttp.CurlResult:
    args = ["-i", "--cacert", str(pki.ca.crt), "--resolve", "mtls.test:%d:127.0.0.1" % port]
    if cert:
        args += ["--cert", str(cert[0]), "--key", str(cert[1])]
    return rawhttp.curl(args + list(extra) + ["https://mtls.test:%d%s" % (port, path)])


def body(r: rawhttp.CurlResult) -> bytes:
    return r.stdout.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in r.stdout else b""


def fields(r: rawhttp.CurlResult) -> dict:
    assert r.status == 200, (r.stdout, r.stderr)
    return dict(kv.split("=", 1) for kv in body(r).decode().rstrip("\n").split("|"))


def header(r: rawhttp.CurlResult, name: str):
    for line in r.stdout.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")[1:]:
        k, _, v = line.partition(":")
        if k.strip().lower() == name.lower():
            return v.strip()
    return None


def expected_facts(crt_path):
    """What nginx shows for a certificate file (computed independently)."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding
    c = x509.load_pem_x509_certificate(crt_path.read_bytes())
    der = c.public_bytes(Encoding.DER)
    serial = "%X" % c.serial_number
    return {"s_dn": c.subject.rfc4514_string(), "i_dn": c.issuer.rfc4514_string(),
            "serial": serial if len(serial) % 2 == 0 else "0" + serial,
            "fp": hashlib.sha1(der).hexdigest(), "pem": c.public_bytes(Encoding.PEM).decode()}


CERT_ERROR = b"<center>The SSL certificate error</center>"
NO_CERT = b"<center>No required SSL certificate was sent</center>"


# ============================================================ ssl_verify_client on
def test_verify_on_good_certificate_and_every_variable(proxy, pki, clients):
    port = start_mtls(proxy, pki, "on", "ssl_client_certificate {ca}")
    crt, key = clients["good"]
    f = fields(get(port, pki, "/", clients["good"]))
    want = expected_facts(crt)
    assert f["verify"] == "SUCCESS"
    assert f["s_dn"] == want["s_dn"] == "CN=client.test"
    assert f["i_dn"] == want["i_dn"] == "CN=Switchyard Test CA"
    assert f["serial"] == want["serial"]
    assert f["fp"] == want["fp"]
    assert re.fullmatch(r"[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4} GMT", f["start"]), f
    assert re.fullmatch(r"[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4} GMT", f["end"]), f
    assert f["remain"] in ("2", "3"), f   # harness certificates live 3 days

    raw = body(get(port, pki, "/raw", clients["good"])).decode()
    assert raw == want["pem"]
    indented = body(get(port, pki, "/indented", clients["good"])).decode()
    assert indented == want["pem"].rstrip("\n").replace("\n", "\n\t")
    escaped = body(get(port, pki, "/escaped", clients["good"])).decode()
    assert escaped.startswith("-----BEGIN%20CERTIFICATE-----%0A")
    assert "+" not in escaped and "/" not in escaped and "=" not in escaped
    from urllib.parse import unquote
    assert unquote(escaped) == want["pem"]


def test_verify_on_without_certificate_is_496(proxy, pki, clients):
    port = start_mtls(proxy, pki, "on", "ssl_client_certificate {ca}")
    r = get(port, pki, "/")
    assert r.status == 400, r.stdout
    assert r.status_line.startswith("HTTP/1.1 400 Bad Request")
    assert NO_CERT in body(r)
    assert b"<title>400 No required SSL certificate was sent</title>" in body(r)
    assert header(r, "Connection") == "close"
    proxy.wait_error_log(r"\[info\] .*client sent no required SSL certificate while reading client request headers, "
                         r"client: 127\.0\.0\.1, server: mtls\.test")


def test_verify_on_wrong_ca_is_495(proxy, pki, clients):
    port = start_mtls(proxy, pki, "on", "ssl_client_certificate {ca}")
    r = get(port, pki, "/", clients["wrong"])
    assert r.status == 400, (r.stdout, r.stderr)
    assert CERT_ERROR in body(r)
    assert header(r, "Connection") == "close"
    proxy.wait_error_log(r"\[info\] .*client SSL certificate verify error: \(21:unable to verify the first "
                         r"certificate\) while reading client request headers, client: 127\.0\.0\.1")
    # logged as the 400 it was sent as
    wait_until(lambda: re.search(r'"GET / HTTP/1\.1" 400 ', proxy.access_log()), 10, "the 400 in access.log")
    # the connection is not refused at the handshake: a good client still gets in
    assert fields(get(port, pki, "/", clients["good"]))["verify"] == "SUCCESS"


def test_certificate_request_names_the_client_ca(proxy, pki, clients):
    """The CA names sent come from ssl_client_certificate only, not from
    ssl_trusted_certificate."""
    port = start_mtls(proxy, pki, "on", "ssl_client_certificate {ca}", "ssl_trusted_certificate {other}",
                      other=pki.other_ca.crt)
    out = s_client(port, "-tls1_2", servername="mtls.test").output
    names = re.search(r"Acceptable client certificate CA names\n(.*?)\n(?:[A-Z]|---)", out, re.S)
    assert names, out
    assert "Switchyard Test CA" in names.group(1)
    assert "Unrelated Test CA" not in names.group(1)


# ====================================================== optional, optional_no_ca, off
def test_optional(proxy, pki, clients):
    port = start_mtls(proxy, pki, "optional", "ssl_client_certificate {ca}")
    none = fields(get(port, pki, "/"))
    assert none == {"verify": "NONE", "s_dn": "", "i_dn": "", "serial": "", "fp": "", "start": "", "end": "",
                    "remain": ""}
    assert fields(get(port, pki, "/", clients["good"]))["verify"] == "SUCCESS"
    r = get(port, pki, "/", clients["wrong"])   # optional still refuses a certificate that fails
    assert r.status == 400 and CERT_ERROR in body(r), r.stdout


def test_optional_no_ca(proxy, pki, clients):
    # no ssl_client_certificate needed for optional_no_ca
    port = start_mtls(proxy, pki, "optional_no_ca")
    f = fields(get(port, pki, "/", clients["wrong"]))
    assert f["verify"] == "FAILED:unable to verify the first certificate"
    assert f["s_dn"] == "CN=wrong.client.test"
    assert f["i_dn"] == "CN=Unrelated Test CA"
    assert fields(get(port, pki, "/"))["verify"] == "NONE"


def test_optional_no_ca_with_trusted_certificate_verifies(proxy, pki, clients):
    port = start_mtls(proxy, pki, "optional_no_ca", "ssl_trusted_certificate {ca}")
    assert fields(get(port, pki, "/", clients["good"]))["verify"] == "SUCCESS"
    assert fields(get(port, pki, "/", clients["wrong"]))["verify"] == "FAILED:unable to verify the first certificate"


def test_off_requests_no_certificate(proxy, pki, clients):
    port = start_mtls(proxy, pki, "off", "ssl_client_certificate {ca}")
    f = fields(get(port, pki, "/", clients["good"]))
    assert f["verify"] == "NONE" and f["s_dn"] == ""


def test_plain_listen_has_no_client_variables(proxy, pki):
    crt, key = pki.leaf("mtls.test")
    proxy.start(ssl_server(location("/", None, 'return 200 "[$ssl_client_verify][$ssl_client_s_dn]\\n"'),
                           "ssl_verify_client optional", "ssl_client_certificate {ca}", plain=True),
                crt=crt, key=key, ca=pki.ca.crt)
    r = rawhttp.curl(["-i", "http://127.0.0.1:%d/" % proxy.port])
    assert r.status == 200 and body(r) == b"[][]\n", r.stdout


# ====================================================== error_page 495 / 496
def test_error_page_catches_495_and_496(proxy, pki, clients):
    port = start_mtls(proxy, pki, "on", "ssl_client_certificate {ca}", "error_page 495 =403 /bad-cert",
                      "error_page 496 https://login.test/", location("= /bad-cert", None, 'return 200 "bad: $ssl_client_verify\\n"'))
    r = get(port, pki, "/", clients["wrong"])
    assert r.status == 403, r.stdout
    assert body(r) == b"bad: FAILED:unable to verify the first certificate\n"
    r = get(port, pki, "/")
    assert r.status == 302, r.stdout
    assert header(r, "Location") == "https://login.test/"


# ====================================================== depth, CRL
def test_verify_depth(proxy, pki, clients):
    """OpenSSL's depth counts the CAs above the client's certificate, the
    trust anchor not included: 0 takes only certificates the CA signed
    itself, 1 (the default) one intermediate too."""
    port = start_mtls(proxy, pki, "on", "ssl_client_certificate {ca}", "ssl_verify_depth 0")
    r = get(port, pki, "/", clients["chain"])
    assert r.status == 400 and CERT_ERROR in body(r), r.stdout
    proxy.wait_error_log(r"client SSL certificate verify error: \(20:unable to get local issuer certificate\)")
    assert fields(get(port, pki, "/", clients["good"]))["verify"] == "SUCCESS"
    proxy.stop()
    port = start_mtls(proxy, pki, "on", "ssl_client_certificate {ca}")
    f = fields(get(port, pki, "/", clients["chain"]))
    assert f["verify"] == "SUCCESS"
    assert f["s_dn"] == "CN=chained.client.test"
    assert f["i_dn"] == "CN=Switchyard Test CA Client Intermediate"


def test_crl_revokes(proxy, pki, clients):
    port = start_mtls(proxy, pki, "on", "ssl_client_certificate {ca}", "ssl_crl {crl}", crl=clients["crl"])
    r = get(port, pki, "/", clients["revoked"])
    assert r.status == 400 and CERT_ERROR in body(r), r.stdout
    proxy.wait_error_log(r"client SSL certificate verify error: \(23:certificate revoked\)")
    assert fields(get(port, pki, "/", clients["other"]))["s_dn"] == "CN=other.client.test"
    proxy.stop()
    port = start_mtls(proxy, pki, "optional_no_ca", "ssl_client_certificate {ca}", "ssl_crl {crl}",
                      crl=clients["crl"])
    r = get(port, pki, "/", clients["revoked"])   # revocation is no "optional" error
    assert r.status == 400 and CERT_ERROR in body(r), r.stdout


# ====================================================== resumption keeps the result
def test_resumed_session_keeps_the_verification(proxy, pki, clients, workdir):
    version = "-tls1_2"
    port = start_mtls(proxy, pki, "optional", "ssl_client_certificate {ca}", "ssl_session_cache shared:SSL:1m")
    sess = workdir / "client.sess"
    crt, key = clients["good"]
    req = b"GET / HTTP/1.1\r\nHost: mtls.test\r\nConnection: close\r\n\r\n"
    first = s_client(port, version, "-cert", str(crt), "-key", str(key), "-sess_out", str(sess),
                     servername="mtls.test", request=req)
    assert first.handshake_ok and not first.reused, first.output
    assert b"verify=SUCCESS|s_dn=CN=client.test|" in first.response().body
    again = s_client(port, version, "-sess_in", str(sess), servername="mtls.test", request=req)
    assert again.reused, again.output
    assert b"verify=SUCCESS|s_dn=CN=client.test|" in again.response().body
    # a failed verification resumes as failed
    sess2 = workdir / "wrong.sess"
    wcrt, wkey = clients["wrong"]
    bad = s_client(port, version, "-cert", str(wcrt), "-key", str(wkey), "-sess_out", str(sess2),
                   servername="mtls.test", request=req)
    assert bad.response().status == 400
    again = s_client(port, version, "-sess_in", str(sess2), servername="mtls.test", request=req)
    if again.reused:   # nginx removes a failed session from its cache; a ticket still resumes
        assert again.response().status == 400, again.output


def test_resumed_tls13_session_keeps_the_verification(proxy, pki, clients):
    """TLS 1.3 (a ticket): the resumed connection sends no certificate, the
    session still carries the verified one."""
    port = start_mtls(proxy, pki, "optional", "ssl_client_certificate {ca}")
    ctx = ssl.create_default_context(cafile=str(pki.ca.crt))
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_cert_chain(str(clients["good"][0]), str(clients["good"][1]))
    resp, facts = https_get(port, "/", "mtls.test", pki.ca.crt, context=ctx)
    assert facts["version"] == "TLSv1.3" and not facts["session_reused"]
    assert resp.body.startswith(b"verify=SUCCESS|s_dn=CN=client.test|"), resp.body
    resp, facts = https_get(port, "/", "mtls.test", pki.ca.crt, context=ctx, session=facts["session"])
    assert facts["session_reused"]
    assert resp.body.startswith(b"verify=SUCCESS|s_dn=CN=client.test|"), resp.body


# ====================================================== HTTP/2
def test_http2_request_is_judged_too(proxy, pki, clients):
    crt, key = pki.leaf("mtls.test")
    proxy.start(ssl_server("ssl_verify_client on", "ssl_client_certificate {ca}",
                           location("/", None, 'return 200 "h2 $ssl_client_s_dn\\n"'), name="mtls.test")
                .replace("{listen_tls} ssl;", "{listen_tls} ssl http2;"),   # nginx 1.22: no `http2 on`
                crt=crt, key=key, ca=pki.ca.crt)
    port = proxy.ports["listen_tls"]
    r = get(port, pki, "/", clients["good"], "--http2")
    assert r.status_line.startswith("HTTP/2 200"), r.stdout
    assert body(r) == b"h2 CN=client.test\n"
    r = get(port, pki, "/", None, "--http2")
    assert r.status_line.startswith("HTTP/2 400"), r.stdout
    assert NO_CERT in body(r)


# ====================================================== stream
STREAM_MTLS = """
    server {
        listen 127.0.0.1:{listen} ssl;
        ssl_certificate {crt};
        ssl_certificate_key {key};
        ssl_verify_client %s;
        ssl_client_certificate {ca};
        return "verify=$ssl_client_verify s_dn=$ssl_client_s_dn\\n";
    }"""


def stream_call(port: int, pki, cert=None) -> bytes:
    ctx = ssl.create_default_context(cafile=str(pki.ca.crt))
    if cert:
        ctx.load_cert_chain(str(cert[0]), str(cert[1]))
    out = b""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="mtls.test") as s:
            try:
                while True:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    out += chunk
            except (ssl.SSLError, ConnectionResetError):
                pass
    return out


@pytest.mark.parametrize("mode", ["on", "optional"])
def test_stream_mtls(proxy, pki, clients, mode):
    crt, key = pki.leaf("mtls.test")
    start_stream(proxy, STREAM_MTLS % mode, crt=crt, key=key, ca=pki.ca.crt)
    assert stream_call(proxy.port, pki, clients["good"]) == b"verify=SUCCESS s_dn=CN=client.test\n"
    assert stream_call(proxy.port, pki, clients["wrong"]) == b""   # closed after the handshake
    proxy.wait_error_log(r"\[info\] .*client SSL certificate verify error: \(21:unable to verify the first "
                         r"certificate\)")
    if mode == "on":
        assert stream_call(proxy.port, pki) == b""
        proxy.wait_error_log(r"\[info\] .*client sent no required SSL certificate")
    else:
        assert stream_call(proxy.port, pki) == b"verify=NONE s_dn=\n"


# ====================================================== -t, stapling, ssl on
def test_config_test_verify_on_needs_client_certificate(proxy, pki):
    crt, key = pki.leaf("mtls.test")
    r = proxy.run_t(ssl_server("ssl_verify_client on"), crt=crt, key=key)
    assert r.returncode == 1, r.output
    assert re.search(r"\[emerg\] .*no ssl_client_certificate for ssl_verify_client", r.stderr), r.output
    ok = proxy.run_t(ssl_server("ssl_verify_client optional_no_ca", "ssl_verify_depth 3"), crt=crt, key=key)
    assert ok.returncode == 0, ok.output


def test_stapling_without_issuer_warns_and_carries_on(proxy, pki, workdir):
    from harness.tls import make_cert
    crt, key = make_cert(workdir / "selfsigned", "self")
    r = proxy.run_t(ssl_server("ssl_stapling on", "ssl_stapling_verify on"), crt=crt, key=key)
    assert r.returncode == 0, r.output
    assert re.search(r'\[warn\] .*"ssl_stapling" ignored, issuer certificate not found for certificate "%s"'
                     % re.escape(str(crt)), r.stderr), r.output


def test_stapling_without_ocsp_url_warns(proxy, pki):
    crt, key = pki.chain_leaf("staple.test")   # the issuer is in the chain; no AIA extension
    r = proxy.run_t(ssl_server("ssl_stapling on"), crt=crt, key=key)
    assert r.returncode == 0, r.output
    assert re.search(r'\[warn\] .*"ssl_stapling" ignored, no OCSP responder URL in the certificate "%s"'
                     % re.escape(str(crt)), r.stderr), r.output


# OCSPResponse { responseStatus tryLater }: the smallest valid DER response
TRY_LATER = bytes([0x30, 0x03, 0x0A, 0x01, 0x03])


def test_stapling_file_is_stapled(proxy, pki, workdir):
    staple = workdir / "ocsp.der"
    staple.write_bytes(TRY_LATER)
    staple.chmod(0o644)
    crt, key = pki.leaf("mtls.test")
    proxy.start(ssl_server("ssl_stapling on", "ssl_stapling_file {staple}", location("/", None, 'return 200 "ok\\n"')),
                crt=crt, key=key, staple=staple)
    port = proxy.ports["listen_tls"]
    out = s_client(port, "-status", servername="mtls.test").output
    assert re.search(r"OCSP Response Status: trylater \(0x3\)", out, re.I), out
    plain = s_client(port, servername="mtls.test").output
    assert "OCSP response: no response sent" in plain or "tryLater" not in plain, plain


def ssl_on_line(conf_path) -> int:
    return next(i for i, line in enumerate(conf_path.read_text().splitlines(), 1) if line.strip() == "ssl on;")


def test_ssl_on_makes_the_listen_tls(proxy, pki):
    crt, key = pki.leaf("mtls.test")
    conf = ("server {\n listen 127.0.0.1:{listen_tls};\n server_name mtls.test;\n ssl on;\n"
            " ssl_certificate {crt};\n ssl_certificate_key {key};\n ssl_protocols TLSv1.2 TLSv1.3;\n"
            ' location / { return 200 "scheme=$scheme https=$https\\n"; }\n}\n')
    r = proxy.run_t(conf, crt=crt, key=key)
    assert r.returncode == 0, r.output
    assert re.search(r'\[warn\] .*the "ssl" directive is deprecated, use the "listen \.\.\. ssl" directive instead '
                     r'in %s:%d\n' % (re.escape(str(r.conf_path)), ssl_on_line(r.conf_path)), r.stderr), r.output
    proxy.start(conf, crt=crt, key=key)
    r = get(proxy.ports["listen_tls"], pki, "/")
    assert r.status == 200 and body(r) == b"scheme=https https=on\n", (r.stdout, r.stderr)


def test_ssl_on_without_certificate_is_refused(proxy):
    r = proxy.run_t("server {\n listen 127.0.0.1:{listen};\n ssl on;\n}\n")
    assert r.returncode == 1, r.output
    assert re.search(r'\[emerg\] .*no "ssl_certificate" is defined for the "ssl" directive in %s:%d\n'
                     % (re.escape(str(r.conf_path)), ssl_on_line(r.conf_path)), r.stderr), r.output


def test_host_other_than_server_name_is_misdirected(proxy, pki, clients, workdir):
    """Two servers on one address, the default without client
    certificates, `secure.test` with `ssl_verify_client on`: a request whose
    Host names secure.test over a TLS session negotiated for mtls.test
    (resumed, or by SNI) gets 421, so no certificate check is skipped."""
    crt, key = pki.leaf("secure.test", "mtls.test", "secure.test")
    plain = ssl_server(location("/", None, VARS), name="mtls.test", default=True)
    secure = ssl_server("ssl_verify_client on", "ssl_client_certificate {ca}", location("/", None, VARS),
                        name="secure.test")
    proxy.start(plain + secure, crt=crt, key=key, ca=pki.ca.crt)
    port = proxy.ports["listen_tls"]
    sess = workdir / "plain.sess"
    ccrt, ckey = clients["good"]
    req = b"GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n"
    first = s_client(port, "-tls1_2", "-sess_out", str(sess), servername="mtls.test", request=req % b"mtls.test")
    assert b"verify=NONE|" in first.response().body, first.output
    again = s_client(port, "-tls1_2", "-sess_in", str(sess), "-cert", str(ccrt), "-key", str(ckey),
                     servername="secure.test", request=req % b"secure.test")
    # resumed: the session's server name is mtls.test, not the Host's server
    # (nginx 1.22 resumes it too), and that server verifies: 421
    assert again.reused, again.output
    assert again.response().status == 421, again.output
    assert b"<title>421 Misdirected Request</title>" in again.response().body
    proxy.wait_error_log(r"\[info\] .*client attempted to request the server name different from the one that "
                         r"was negotiated while reading client request headers")
    # a fresh handshake for secure.test is asked for the certificate
    fresh = s_client(port, "-tls1_2", "-cert", str(ccrt), "-key", str(ckey), servername="secure.test",
                     request=req % b"secure.test")
    assert b"verify=SUCCESS|s_dn=CN=client.test|" in fresh.response().body, fresh.output
    # Host naming the verifying server over a handshake made for the other one
    other = s_client(port, "-tls1_2", servername="mtls.test", request=req % b"secure.test")
    assert other.response().status == 421, other.output
    # and the other way round: no verification there, nothing to refuse
    back = s_client(port, "-tls1_2", "-cert", str(ccrt), "-key", str(ckey), servername="secure.test",
                    request=req % b"mtls.test")
    assert back.response().status == 200, back.output
