"""What the UI server is told: where to listen and the token that guards it; checked before anything starts."""

from __future__ import annotations

import ipaddress
import os
import socket
from dataclasses import dataclass

from ..exceptions import CommandError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8200
TOKEN_ENV = "ARTIFLOW_UI_TOKEN"
LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


@dataclass(frozen=True)
class UISettings:
    """Where the UI listens, and the token every request must bring (None: loopback only, no token)."""

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    token: str | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"


def is_loopback(host: str) -> bool:
    """Whether `host` names this machine only (127.0.0.0/8, ::1, localhost): nobody else can connect there."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def ui_settings(host: str | None, port: int | None, token: str | None) -> UISettings:
    """Settings from the command line and ARTIFLOW_UI_TOKEN; an open address without a token is refused."""
    host = host or DEFAULT_HOST
    port = DEFAULT_PORT if port is None else port
    token = token if token is not None else (os.environ.get(TOKEN_ENV) or None)
    if not 0 < port < 65536:
        raise CommandError(f"--port {port} is not a TCP port: give a number from 1 to 65535 (default {DEFAULT_PORT}).")
    if token is not None and len(token) < 16:
        raise CommandError(f"The UI token is {len(token)} characters long: use at least 16 random characters, "
                           f"e.g. `export {TOKEN_ENV}=$(python -c 'import secrets; print(secrets.token_urlsafe())')`.")
    if not is_loopback(host) and token is None:
        raise CommandError(f"artiflow ui would listen on {host}, where other machines can reach it, without a token. "
                           f"Give --token (or set {TOKEN_ENV}); every request must then carry it. "
                           f"Or keep the default --host {DEFAULT_HOST}.")
    _check_address(host, port)
    return UISettings(host, port, token)


def _check_address(host: str, port: int) -> None:
    """Fail before the server starts when the address cannot be listened on (unknown host, port taken)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise CommandError(f"--host {host!r} is not an address of this machine ({exc.strerror}).") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            raise CommandError(f"Cannot listen on {host}:{port}: {exc.strerror}. Give another --port, or stop what "
                               f"uses it.") from None
