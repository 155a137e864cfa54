"""Fixtures of the integration suite.

  impl          parametrized from --impl / SY_IMPLS (default: switchyard)
  proxy         a harness.proxy.Proxy for `impl`; stopped after the test, and
                its logs must hold no [alert]/[emerg]/sanitizer line
  both          {"nginx": Proxy, "switchyard": Proxy} for differential tests
  http_backend  factory: http_backend(name="backend") -> HttpBackend
  ws_backend    factory: ws_backend(name="ws", compression=True, ...) -> WsBackend
  workdir       a directory for this test (prefixes, backend records)
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

import pytest

from harness.backends import HttpBackend, WsBackend, backend_factory
from harness.proxy import IMPLS, Proxy, missing_reason

HERE = Path(__file__).resolve().parent
ARTIFACTS = HERE / "artifacts"


def pytest_addoption(parser):
    group = parser.getgroup("switchyard")
    group.addoption("--impl", action="append", default=None, choices=IMPLS,
                    help="implementation(s) to run the suite on (repeatable); "
                         "default: $SY_IMPLS or switchyard")
    group.addoption("--keep-workdir", action="store_true", default=False,
                    help="keep every test's prefix and backend directories (also SY_KEEP=1)")


def pytest_configure(config):
    config.addinivalue_line("markers", "only_switchyard(reason): nginx 1.29.7 behaviour Debian's nginx 1.22 lacks; skipped on nginx")
    config.addinivalue_line("markers", "pending(issue, reason): later issue's feature; skipped on switchyard unless SY_RUN_PENDING=1")


def selected_impls(config) -> list[str]:
    impls = config.getoption("--impl")
    if not impls:
        impls = [s.strip() for s in os.environ.get("SY_IMPLS", "switchyard").split(",") if s.strip()]
    for i in impls:
        if i not in IMPLS:
            raise pytest.UsageError("unknown implementation %r in SY_IMPLS (known: %s)" % (i, ", ".join(IMPLS)))
    return impls


def pytest_generate_tests(metafunc):
    if "impl" in metafunc.fixturenames:
        metafunc.parametrize("impl", selected_impls(metafunc.config))


def pytest_collection_modifyitems(config, items):
    run_pending = os.environ.get("SY_RUN_PENDING") == "1"
    for item in items:
        impl = getattr(item, "callspec", None) and item.callspec.params.get("impl")
        if not impl:
            continue
        m = item.get_closest_marker("only_switchyard")
        if m and impl != "switchyard":
            item.add_marker(pytest.mark.skip(reason="switchyard only (nginx 1.22 differs): %s" % m.kwargs["reason"]))
        m = item.get_closest_marker("pending")
        if m and impl == "switchyard" and not run_pending:
            item.add_marker(pytest.mark.skip(reason="issue %d: %s" % (m.kwargs["issue"], m.kwargs["reason"])))


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


def _failed(request) -> bool:
    rep = getattr(request.node, "rep_call", None)
    return rep is None or rep.failed


@pytest.fixture(scope="session")
def workroot(request):
    # Not pytest's tmp_path: its directories are 0700, and nginx's workers
    # (user nobody when started as root) must reach static files.
    base = os.environ.get("SY_WORKDIR")
    if base:
        Path(base).mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="sy-it-", dir=base))
    os.chmod(root, 0o755)
    yield root
    keep = request.config.getoption("--keep-workdir") or os.environ.get("SY_KEEP") == "1"
    if not keep:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def workdir(request, workroot):
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid.split("::", 1)[-1])[:120]
    d = workroot / name
    d.mkdir()
    os.chmod(d, 0o755)
    yield d
    if _failed(request):
        # Keep what a failed test left (configs, logs, backend records) where
        # CI can pick it up; tests/integration/artifacts/ is git-ignored.
        dest = ARTIFACTS / name
        shutil.rmtree(dest, ignore_errors=True)
        shutil.copytree(d, dest, ignore_dangling_symlinks=True, dirs_exist_ok=True)


def _make_proxy(impl: str, workdir: Path, name: str | None = None) -> Proxy:
    reason = missing_reason(impl)
    if reason:
        pytest.skip(reason)
    return Proxy(impl, workdir, name)


def _finish_proxies(request, proxies: list[Proxy]) -> None:
    """Stops the programs; then a test that otherwise passed fails if a log
    holds an [alert]/[emerg]/sanitizer line. A test that already failed gets
    the logs printed instead (pytest shows them with the failure)."""
    for p in proxies:
        p.stop()
    problems = [line for p in proxies for line in p.log_problems()]
    if _failed(request):
        for p in proxies:
            if p.prefix is not None:
                print(p.diagnostics())
        return
    assert not problems, "logged alert/emerg/sanitizer lines:\n%s" % "\n".join(problems)


@pytest.fixture
def proxy(request, impl, workdir):
    p = _make_proxy(impl, workdir)
    yield p
    _finish_proxies(request, [p])


@pytest.fixture
def both(request, workdir):
    """{"reference": nginx, "candidate": switchyard} side by side, for the
    differential tests. SY_DIFF_CANDIDATE=nginx compares nginx with itself:
    a self-test of the differential harness that needs no switchyard."""
    candidate = os.environ.get("SY_DIFF_CANDIDATE", "switchyard")
    if candidate not in IMPLS:
        raise pytest.UsageError("SY_DIFF_CANDIDATE must be one of %s" % ", ".join(IMPLS))
    proxies = {"reference": _make_proxy("nginx", workdir, "reference-nginx"),
               "candidate": _make_proxy(candidate, workdir, "candidate-" + candidate)}
    yield proxies
    _finish_proxies(request, list(proxies.values()))


@pytest.fixture
def http_backend(workdir):
    """Factory: http_backend(name="backend") -> HttpBackend."""
    with backend_factory(lambda name="backend": HttpBackend(workdir, name)) as start:
        yield start


@pytest.fixture
def ws_backend(workdir):
    """Factory: ws_backend(name="ws", **options) -> WsBackend."""
    with backend_factory(lambda name="ws", **kw: WsBackend(workdir, name, **kw)) as start:
        yield start
