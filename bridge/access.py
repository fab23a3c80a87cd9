"""Who may change the show through the local HTTP API: the API token, the request checks, the audit log.

Any web page in the streamer's browser, and any OBS browser source (alerts, chat overlays), can send
requests to 127.0.0.1. So every request is checked before it is routed:

- Host must name this bridge (a loopback name or IP, or `telemetry.host`, with the bridge's port):
  a DNS-rebinding page's requests carry its own site's name.
- Origin, when sent, must be this bridge's own: browsers send it on every cross-origin write.
- A state-changing request (every POST) also needs the token (`Authorization: Bearer …`) and a
  JSON body: a page can only send JSON, or that header, after a CORS preflight, and the API never
  grants one (no Access-Control-Allow-* header, OPTIONS refused).

The token comes from `telemetry.token`, else from a file in the user's config folder, made once
with `secrets.token_urlsafe` and mode 0600. It is compared in constant time and never written to
a log, a status or an error.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import re
import secrets
import stat
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Protocol

import platformdirs

from bridge.obs.commands import Command
from bridge.schema import Secret

log = logging.getLogger(__name__)

CONFIG_DIR_ENV = "FACEBRIDGE_CONFIG_DIR"  # overrides the user's config folder (tests, portable installs)
TOKEN_FILE = "api-token"
TOKEN_BYTES = 32  # token_urlsafe(32): 43 characters, 256 bits
MIN_TOKEN_CHARS = 16
LOOPBACK_NAMES = ("localhost",)
WILDCARD_HOSTS = ("", "0.0.0.0", "::")
JSON_TYPE = "application/json"
# Sec-Fetch-Site values of requests a web page did not make: typed into the address bar, or sent by
# the bridge's own page. Anything else (same-site, cross-site) came from another page.
OWN_FETCH_SITES = ("same-origin", "none")
_HOST = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::([0-9]{1,5}))?$")
_TOKEN_TEXT = re.compile(r"^[\x21-\x7e]+$")  # printable ASCII without spaces: it travels in a header
TOKEN_HELP = "`facebridge token` prints it"
DOCK_COOKIE = "facebridge_dock"
DOCK_SESSION_SALT = b"facebridge dock session"
REFUSAL_KINDS = ("foreign_host", "foreign_origin", "no_token", "wrong_token", "not_json", "preflight", "method")


class TokenError(RuntimeError):
    """The token cannot be read or stored; the message is one line saying why and how to fix it."""


# -- the token ---------------------------------------------------------------------------------

def config_dir() -> Path:
    """The user's facebridge config folder ($FACEBRIDGE_CONFIG_DIR overrides it)."""
    override = os.environ.get(CONFIG_DIR_ENV)
    return Path(override) if override else Path(platformdirs.user_config_dir("facebridge", appauthor=False))


def token_path(folder: Path | None = None) -> Path:
    return (folder or config_dir()) / TOKEN_FILE


@dataclass(frozen=True)
class ApiToken:
    """The token and where it came from (said in logs and by `facebridge token`; the value never is)."""

    value: Secret
    origin: str


def token_problem(token: str) -> str | None:
    """Why `token` cannot guard the API, or None; the reason never quotes the token."""
    if len(token) < MIN_TOKEN_CHARS:
        return f"{len(token)} characters is too short to guard the show; use {MIN_TOKEN_CHARS} or more"
    if not _TOKEN_TEXT.match(token):
        return "must be printable ASCII without spaces (it is sent in an HTTP header)"
    return None


def user_token(folder: Path | None = None, *, renew: bool = False) -> ApiToken:
    """This user's token: read from the config folder, or made there (mode 0600) the first time.

    Two bridges starting at once end up with the same token: the file is linked into place only
    if it is still absent, and whatever is there afterwards is read back. `renew` replaces it.
    """
    path = token_path(folder)
    if renew or not path.exists():
        _store(path, secrets.token_urlsafe(TOKEN_BYTES), replace=renew)
    try:
        if os.name == "posix" and stat.S_IMODE(path.stat().st_mode) & 0o077:
            os.chmod(path, 0o600)
            log.warning("%s was readable by other users; it is now 0600 (consider `facebridge token --new`)", path)
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as error:
        raise TokenError(f"cannot read the API token {path}: {getattr(error, 'strerror', None) or error}; "
                         f"delete it and run `facebridge token` to make a new one") from None
    problem = token_problem(text)
    if problem:
        raise TokenError(f"{path} is not a usable API token ({problem}); delete it and run `facebridge token` "
                         "to make a new one")
    return ApiToken(Secret(text), str(path))


def _store(path: Path, token: str, *, replace: bool) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".api-token-")  # mkstemp: mode 0600
    except OSError as error:
        raise TokenError(f"cannot store the API token in {path.parent}: {error.strerror or error}; "
                         f"set telemetry.token (e.g. ${{FACEBRIDGE_TOKEN}}) or {CONFIG_DIR_ENV} to a writable folder") from None
    try:
        with os.fdopen(handle, "w", encoding="ascii") as file:
            file.write(token + "\n")
            file.flush()
            os.fsync(file.fileno())
        if replace:
            os.replace(temporary, path)
        else:
            try:
                os.link(temporary, path)  # never overwrites: a bridge starting at the same time keeps its token
            except FileExistsError:
                pass
            except OSError:  # a filesystem without hard links
                if not path.exists():
                    os.replace(temporary, path)
    except OSError as error:
        raise TokenError(f"cannot store the API token {path}: {error.strerror or error}") from None
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def resolve_token(profile_token: str | None, profile_source: str = "the profile",
                  folder: Path | None = None) -> ApiToken:
    """The token the API uses: `telemetry.token` when the profile sets one, else the user's."""
    if profile_token:
        return ApiToken(Secret(str.__str__(profile_token)), f"{profile_source}: telemetry.token")
    return user_token(folder)


# -- the request checks ------------------------------------------------------------------------

class Headers(Protocol):
    def get(self, name: str, default: None = None) -> str | None: ...
    def get_all(self, name: str, default: None = None) -> list[str] | None: ...


@dataclass(frozen=True)
class Refusal:
    """A request the API will not serve: its status, a kind (logged once, counted in /metrics) and one line."""

    status: HTTPStatus
    kind: str
    reason: str


def split_host(text: str) -> tuple[str, int | None] | None:
    """A Host header (or an origin's host part) as (lower-case name, port or None); None if malformed."""
    match = _HOST.match(text.strip())
    if not match:
        return None
    name, port = match.group(1).lower(), match.group(2)
    if port is not None and not 0 < int(port) < 65536:
        return None
    return name.strip("[]"), int(port) if port is not None else None


def is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


def _shown(text: str, limit: int = 80) -> str:
    """A client-sent value fit to quote in one log line or reply (no control characters, bounded)."""
    return repr(text[:limit] + ("…" if len(text) > limit else ""))


def check_json(headers: Headers) -> Refusal | None:
    """A body a page could send without a preflight is refused: only JSON is read."""
    content_type = (headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
    if content_type != JSON_TYPE:
        return Refusal(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "not_json",
                       f"send the body as Content-Type: {JSON_TYPE} "
                       f"(got {_shown(headers.get('Content-Type') or 'none', 60)})")
    return None


class RequestGuard:
    """The checks every request of the HTTP API passes, in one place.

    `check_read` for GET endpoints, `check_write` for anything that changes state (every POST,
    whatever the route), `check_other` for methods the API does not serve. Each returns None
    when the request may go on, else the Refusal to answer with.
    """

    def __init__(self, token: str, host: str, port: int):
        if not token:
            raise ValueError("the HTTP API needs a token")
        self.port = port
        self.reads_need_token = not is_loopback(host)
        bound = host.strip("[]").lower()
        self._names = {bound} if bound not in WILDCARD_HOSTS else set()
        # bound to every address: a Host that is an IP literal is safe (rebinding needs a DNS name)
        self._any_ip = bound in WILDCARD_HOSTS
        self._expected = str.__str__(token).encode("utf-8")
        own = "127.0.0.1" if self._any_ip else bound  # the address to name in a refusal's advice
        self.own_address = f"{'[' + own + ']' if ':' in own else own}:{port}"

    def own_host(self, name: str, port: int | None) -> bool:
        if (port if port is not None else 80) != self.port:
            return False
        return is_loopback(name) or name in self._names or (self._any_ip and _is_ip(name))

    def check_host(self, headers: Headers) -> Refusal | None:
        hosts = headers.get_all("Host") or []
        if len(hosts) != 1:
            return Refusal(HTTPStatus.FORBIDDEN, "foreign_host",
                           f"{'no' if not hosts else 'more than one'} Host header; "
                           f"address this bridge as http://{self.own_address}")
        parsed = split_host(hosts[0])
        if parsed is None or not self.own_host(*parsed):
            return Refusal(HTTPStatus.FORBIDDEN, "foreign_host",
                           f"Host {_shown(hosts[0])} is not this bridge's address; use http://{self.own_address} "
                           "(requests naming another site are refused: DNS rebinding)")
        return None

    def check_origin(self, headers: Headers) -> Refusal | None:
        origins = headers.get_all("Origin") or []
        if not origins:
            return None
        origin = origins[0].strip()
        scheme, _, rest = origin.partition("://")
        parsed = split_host(rest) if scheme.lower() == "http" and len(origins) == 1 else None
        if parsed is None or not self.own_host(*parsed):
            return Refusal(HTTPStatus.FORBIDDEN, "foreign_origin",
                           f"requests from web pages are refused: Origin {_shown(origin)} is not this bridge")
        return None

    def check_token(self, headers: Headers) -> Refusal | None:
        values = headers.get_all("Authorization") or []
        if not values:
            return Refusal(HTTPStatus.UNAUTHORIZED, "no_token",
                           f"no token: send the header 'Authorization: Bearer TOKEN' ({TOKEN_HELP})")
        scheme, _, given = values[0].strip().partition(" ")
        ok = len(values) == 1 and scheme.lower() == "bearer"
        # compared in constant time whatever the scheme said, so timing tells nothing either way
        ok = hmac.compare_digest(given.strip().encode("utf-8", "replace"), self._expected) and ok
        if not ok:
            return Refusal(HTTPStatus.UNAUTHORIZED, "wrong_token",
                           f"wrong token: expected 'Authorization: Bearer TOKEN' with this bridge's token ({TOKEN_HELP})")
        return None

    # -- the control dock: the page is let in once with ?token=, then carries a cookie -------------
    @property
    def dock_session(self) -> str:
        """The dock's cookie value: derived from the token, so another local server on this host (cookies
        are not kept apart by port) that receives it learns nothing that works as the API token."""
        return hmac.new(self._expected, DOCK_SESSION_SALT, "sha256").hexdigest()

    def session_cookie(self) -> str:
        return f"{DOCK_COOKIE}={self.dock_session}; HttpOnly; SameSite=Strict; Path=/"

    def has_session(self, headers: Headers) -> bool:
        expected = self.dock_session.encode()
        found = False
        for header in headers.get_all("Cookie") or []:
            for part in header.split(";"):
                name, _, value = part.strip().partition("=")
                if name == DOCK_COOKIE:
                    found = hmac.compare_digest(value.strip().encode("utf-8", "replace"), expected) or found
        return found

    def token_matches(self, given: str) -> bool:
        return hmac.compare_digest(given.encode("utf-8", "replace"), self._expected)

    def _dock_caller(self, headers: Headers) -> Refusal | None:
        """Host and Origin as for any request, and no other page's request: a page on another port of
        this host is 'same-site' and would carry the cookie (an <img> of the preview, a form)."""
        refusal = self.check_host(headers) or self.check_origin(headers)
        if refusal is not None:
            return refusal
        site = (headers.get("Sec-Fetch-Site") or "none").strip().lower()
        if site not in OWN_FETCH_SITES:
            return Refusal(HTTPStatus.FORBIDDEN, "foreign_origin",
                           f"the dock is not served to other pages (Sec-Fetch-Site: {_shown(site, 20)})")
        return None

    def _dock_token(self, headers: Headers) -> Refusal | None:
        if self.has_session(headers):
            return None
        if headers.get_all("Authorization"):
            return self.check_token(headers)
        return Refusal(HTTPStatus.UNAUTHORIZED, "no_token",
                       "the dock opens with its URL once: `facebridge dock-url` prints it (it carries the token)")

    def check_dock_read(self, headers: Headers) -> Refusal | None:
        """A GET of the dock's page, files or streams: the dock's cookie (or the token as a header)."""
        return self._dock_caller(headers) or self._dock_token(headers)

    def check_dock_entry(self, headers: Headers, given: str) -> Refusal | None:
        """The dock URL itself (?token=…): the token once, then the cookie takes over."""
        refusal = self._dock_caller(headers)
        if refusal is not None:
            return refusal
        if not self.token_matches(given):
            return Refusal(HTTPStatus.UNAUTHORIZED, "wrong_token",
                           f"wrong token in the dock URL; `facebridge dock-url` prints the right one")
        return None

    def check_dock_write(self, headers: Headers) -> Refusal | None:
        """A POST from the dock: its own Origin (a fetch always sends one), the cookie, a JSON body."""
        refusal = self._dock_caller(headers)
        if refusal is not None:
            return refusal
        if not headers.get_all("Origin") and not headers.get_all("Authorization"):
            return Refusal(HTTPStatus.FORBIDDEN, "foreign_origin",
                           "a dock request without an Origin is not the dock's; send the token as a header instead")
        refusal = self._dock_token(headers)
        if refusal is not None:
            return refusal
        return check_json(headers)

    def check_read(self, headers: Headers) -> Refusal | None:
        return (self.check_host(headers) or self.check_origin(headers)
                or (self.check_token(headers) if self.reads_need_token else None))

    def check_write(self, headers: Headers) -> Refusal | None:
        refusal = self.check_host(headers) or self.check_origin(headers)
        if refusal is not None:
            return refusal
        site = (headers.get("Sec-Fetch-Site") or "none").strip().lower()
        if site not in OWN_FETCH_SITES:
            return Refusal(HTTPStatus.FORBIDDEN, "foreign_origin",
                           f"requests from web pages are refused (Sec-Fetch-Site: {_shown(site, 20)})")
        refusal = self.check_token(headers)
        if refusal is not None:
            return refusal
        return check_json(headers)

    def check_other(self, headers: Headers, method: str) -> Refusal:
        """A method the API does not serve; OPTIONS (a CORS preflight) is one: no page gets permission."""
        refusal = self.check_host(headers) or self.check_origin(headers)
        if refusal is not None:
            return refusal
        if method == "OPTIONS":
            return Refusal(HTTPStatus.METHOD_NOT_ALLOWED, "preflight",
                           "OPTIONS is not served: this API grants no cross-origin (CORS) access")
        return Refusal(HTTPStatus.METHOD_NOT_ALLOWED, "method",
                       "use GET for /healthz, /status, /metrics, /dock and POST for /command")


class RefusalLog:
    """Says the first refusal of each kind in the log; the rest are only counted (a page may retry forever)."""

    def __init__(self, on_refused: Callable[[str], None] | None = None, mask: Callable[[str], str] = str):
        self.counts: dict[str, int] = {}
        self.on_refused = on_refused
        self.mask = mask
        self._lock = threading.Lock()  # requests are served on threads of their own

    def __call__(self, refusal: Refusal, method: str, path: str, client: str) -> None:
        with self._lock:
            first = refusal.kind not in self.counts
            self.counts[refusal.kind] = self.counts.get(refusal.kind, 0) + 1
        if self.on_refused is not None:
            self.on_refused(refusal.kind)
        if first:
            log.warning("%s", self.mask(
                f"HTTP API refused {method} {_shown(path.split('?', 1)[0], 60)} from {client} with "
                f"{int(refusal.status)}: {refusal.reason} (further refusals of this kind are counted in /metrics, "
                "not logged)"))


# -- the audit log -----------------------------------------------------------------------------

def describe(command: Command) -> str:
    """A command as one log line's worth: its action and the fields it sets."""
    fields = [f"{key}={getattr(command, key)!r}" for key in ("slot", "target", "on", "track", "face", "scene")
              if getattr(command, key) is not None]
    return " ".join([command.action, *fields])


def audit_command(command: Command, client: str, mask: Callable[[str], str] = str) -> None:
    """One line for every command the bridge accepted: what, from which input (http, obs, scene), from where."""
    log.info("%s", mask(f"command {describe(command)} accepted from {command.source or 'unknown'} ({client})"))


def audited(submit: Callable[[Command], bool], client: str) -> Callable[[Command], bool]:
    """`submit` (the pipeline's command queue) that audits each command it accepted as coming from `client`."""
    def send(command: Command) -> bool:
        accepted = submit(command)
        if accepted:
            audit_command(command, client)
        return accepted
    return send


class TokenMask(logging.Filter):
    """Masks the token in every record a handler writes, whichever module logged it (a client may send
    its token where a target name goes, and the stage says which target it could not find)."""

    def __init__(self, token: str):
        super().__init__()
        self._token = str.__str__(token)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self._token in message:
            record.msg, record.args = message.replace(self._token, "***"), None
        return True
