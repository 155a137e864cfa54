"""nginx-style configuration templates.

Tests write configuration text the way users write it, with `{name}`
placeholders where a port or a path must be filled in by the harness:

    server { listen {listen}; location / { proxy_pass http://127.0.0.1:{backend}; } }

Only `{identifier}` (lowercase, digits, `_`) not preceded by `$` is a
placeholder, so nginx blocks (`location / {`) and variables (`${host}`) are
left alone. An unknown placeholder is an error: a typo must not reach the
program under test as literal text.
"""

from __future__ import annotations

import re
import textwrap

PLACEHOLDER = re.compile(r"(?<!\$)\{([a-z][a-z0-9_]*)\}")

# The main-context part every harness-built config shares. No `daemon` and no
# `pid`: the runner passes those with -g, and nginx rejects a directive given
# both in the file and with -g ("directive is duplicate").
MAIN_TEMPLATE = """\
worker_processes 1;
error_log logs/error.log info;

events {{
    worker_connections 1024;
}}

{main_extra}
http {{
    access_log logs/access.log;

{http}
}}
"""


def placeholders(template: str) -> list[str]:
    """Names of the placeholders in template, in order of first appearance."""
    seen: list[str] = []
    for m in PLACEHOLDER.finditer(template):
        if m.group(1) not in seen:
            seen.append(m.group(1))
    return seen


def fill(template: str, values: dict[str, object]) -> str:
    missing = [n for n in placeholders(template) if n not in values]
    if missing:
        raise KeyError("config template placeholders without a value: %s" % ", ".join(missing))
    return PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), template)


def indent(text: str, by: str = "    ") -> str:
    text = textwrap.dedent(text.strip("\n"))
    return "\n".join((by + line) if line.strip() else line for line in text.splitlines())


def wrap_http(http_snippet: str, main_extra: str = "") -> str:
    """Wraps the inside of an `http { ... }` block into a full configuration."""
    return MAIN_TEMPLATE.format(http=indent(http_snippet), main_extra=main_extra.strip() + "\n" if main_extra else "")


def wrap_main(main_snippet: str) -> str:
    """A full configuration whose main context (after events) is main_snippet,
    for configs with `stream {}` or their own `http {}`."""
    return MAIN_TEMPLATE.split("http {{")[0].format(main_extra="") + "\n" + main_snippet.strip("\n") + "\n"


# ------------------------------------------------------------ block builders
def block(head: str, *items: str) -> str:
    """`head { ... }` with items one per line, indented: a directive is given
    without its `;` (added here), a nested block (from block(): several
    lines) as it is; empty items are dropped."""
    lines = []
    for item in items:
        if not item:
            continue
        if "\n" not in item and not item.endswith(";"):
            item += ";"
        lines += ["    " + line if line else line for line in item.splitlines()]
    return "%s {\n%s\n}" % (head, "\n".join(lines))


def server(*items: str, listen: str = "{listen}") -> str:
    """A server listening on 127.0.0.1:<listen> (a placeholder by default)."""
    return block("server", "listen 127.0.0.1:%s" % listen, *items) + "\n"


def location(prefix: str, target: str | None, *directives: str) -> str:
    """`location prefix { proxy_pass target; directives }` (no proxy_pass
    when target is None)."""
    return block("location " + prefix, *((["proxy_pass " + target] if target else []) + list(directives)))


WS_PROXY = ("proxy_http_version 1.1", "proxy_set_header Upgrade $http_upgrade",
            'proxy_set_header Connection "upgrade"')


def ws_location(prefix: str, target: str, *directives: str) -> str:
    """A location that tunnels WebSockets to target (HTTP/1.1, Upgrade and
    Connection passed on), then directives."""
    return location(prefix, target, *WS_PROXY, *directives)
