"""The user's PACS server list: ``<platformdirs user config dir>/pacs.json``.

    {"servers": [{"name": "hospital", "url": "https://pacs.example.org/dicom-web",
                  "auth": "basic", "username": "reader", "password": "..."},
                 {"name": "test", "url": "http://127.0.0.1:8042/dicom-web"}]}

``auth`` is "none" (default) or "basic"; ``verify_tls`` (default true) checks the server's
certificate, against ``ca_bundle`` (a PEM file, e.g. the hospital's own CA) when given. Passwords live only in this file (created with mode
0600); they are never taken from the command line and never printed: ``PacsServer.__repr__`` and
``describe()`` leave them out. ``$COVID_CT_PACS_CONFIG`` points to another file (tests).
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

from viewer.io.atomic import atomic_path

APP_NAME = "covid-ct-reading-room"
AUTH_KINDS = ("none", "basic")


class ConfigError(ValueError):
    """The PACS config file or an entry in it is unusable (one-line message)."""


@dataclass
class PacsServer:
    name: str
    url: str
    auth: str = "none"
    username: str = ""
    password: str = ""
    timeout_s: float = 30.0
    verify_tls: bool = True
    ca_bundle: str = ""  # a PEM file of CA certificates (hospital CA) instead of the system's

    def __repr__(self) -> str:  # never show the password
        return (f"PacsServer(name={self.name!r}, url={self.url!r}, auth={self.auth!r}, "
                f"username={self.username!r})")

    def describe(self) -> str:
        who = f" as {self.username}" if self.auth == "basic" else ""
        return f"{self.name}: {self.url}{who}"

    def to_json(self) -> dict:
        return asdict(self)


def config_path() -> Path:
    env = os.environ.get("COVID_CT_PACS_CONFIG")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_config_dir(APP_NAME)) / "pacs.json"


def check_url(url: str) -> str:
    """The URL without a trailing slash; ConfigError naming it when it is not http(s)://host."""
    text = str(url).strip()
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise ConfigError(f"URL {text}: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise ConfigError(f"URL {text}: not an http:// or https:// address")
    if not parts.hostname:
        raise ConfigError(f"URL {text}: no host name")
    return text.rstrip("/")


def _server(entry, where: str) -> PacsServer:
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: each server must be a JSON object")
    name, url = str(entry.get("name", "")).strip(), entry.get("url")
    if not url:
        raise ConfigError(f"{where}: server {name or '?'}: no url")
    auth = str(entry.get("auth", "none")).lower()
    if auth not in AUTH_KINDS:
        raise ConfigError(f"{where}: server {name}: auth {auth!r} (use none or basic)")
    if auth == "basic" and not entry.get("username"):
        raise ConfigError(f"{where}: server {name}: basic auth needs a username")
    try:
        timeout = float(entry.get("timeout_s", 30.0))
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: server {name}: timeout_s is not a number") from None
    return PacsServer(name=name or check_url(url), url=check_url(url), auth=auth,
                      username=str(entry.get("username", "")),
                      password=str(entry.get("password", "")), timeout_s=timeout,
                      verify_tls=bool(entry.get("verify_tls", True)),
                      ca_bundle=_ca_bundle(entry.get("ca_bundle"), where, name))


def _ca_bundle(value, where: str, name: str) -> str:
    if not value:
        return ""
    path = Path(str(value)).expanduser()
    if not path.is_file():
        raise ConfigError(f"{where}: server {name}: ca_bundle {path}: file not found")
    return str(path)


def load_servers(path: Path | None = None) -> list[PacsServer]:
    """The configured servers ([] when the file does not exist); ConfigError when unusable."""
    path = Path(path) if path else config_path()
    if not path.exists():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"PACS config {path}: cannot read ({exc})") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"PACS config {path}: not valid JSON (line {exc.lineno}: "
                          f"{exc.msg})") from None
    servers = data.get("servers", []) if isinstance(data, dict) else None
    if not isinstance(servers, list):
        raise ConfigError(f"PACS config {path}: expected {{\"servers\": [...]}}")
    return [_server(e, f"PACS config {path}") for e in servers]


def save_servers(servers: list[PacsServer], path: Path | None = None) -> Path:
    """Write the list (mode 0600: it may hold passwords), atomically
    (``viewer.io.atomic.atomic_path``)."""
    path = Path(path) if path else config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"servers": [s.to_json() for s in servers]}, fh, indent=1)
    return path


def resolve_server(target: str, path: Path | None = None) -> PacsServer:
    """A configured server by name or URL, else a server without auth at that URL."""
    servers = load_servers(path)
    text = str(target).strip()
    for s in servers:
        if text == s.name or text.rstrip("/") == s.url:
            return s
    if "://" not in text:
        known = ", ".join(s.name for s in servers) or "none configured"
        raise ConfigError(f"PACS {text}: not a URL and not a configured server ({known}; "
                          f"see {path or config_path()})")
    return PacsServer(name=check_url(text), url=check_url(text))
