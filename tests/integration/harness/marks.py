"""Markers that decide, per implementation, whether a test runs.

Both are applied in conftest.pytest_collection_modifyitems to tests
parametrized over `impl` (every test using the `proxy` fixture).
"""

import pytest


def only_switchyard(reason: str):
    """The behaviour asserted is nginx 1.29.7's (what switchyard implements)
    and Debian's nginx 1.22 differs; the test skips on nginx."""
    return pytest.mark.only_switchyard(reason=reason)


def pending(issue: int, reason: str):
    """A feature switchyard will get in a later issue: skipped on switchyard
    with reason "issue N: ..." (unless SY_RUN_PENDING=1), run on nginx now so
    the test is already proven."""
    return pytest.mark.pending(issue=issue, reason=reason)
