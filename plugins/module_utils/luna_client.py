# -*- coding: utf-8 -*-
# Copyright (c) hsmops.luna contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one REST client of hsmops.luna: the only code that knows the appliance's wire shapes.

Standard library and ansible-core only. The contract it speaks is docs/emulator-api.md;
pointing the modules at a different appliance API changes this file alone.

Transport: the appliance API is chatty (reading one HSM takes nine requests or more), so each
client keeps one HTTP/1.1 connection per appliance open for its whole run (``http_open``, the
client's one HTTP seam, with ``open_url``'s signature and errors). A new TLS connection per
request cost 6.5 ms of the controller's CPU (and the appliance a TLS handshake), a kept-alive
request 0.7 ms; importing open_url's module alone takes ~90 ms of every module run
(benchmarks/client_transport.py). When a proxy is set for the URL (``https_proxy`` and
friends, ``no_proxy`` honoured) requests go through ``ansible.module_utils.urls.open_url``, one
connection each, imported only then.

Public API (for modules and module_utils)
-----------------------------------------

``LunaClient(url, username='admin', password=None, validate_certs=True, ca_path=None,
timeout=30, name=None, retries=3, backoff=0.5, max_backoff=8.0, poll_interval=0.2,
task_timeout=600)``
    One client per appliance and module run. Use it as a context manager
    (``with LunaClient(...) as client:``): the private session is opened on the first
    request (``POST /auth/session``, one login per run) and closed on exit
    (``DELETE /auth/session``). An expired session (401 mid-run) is re-opened once and
    the request repeated; a second 401 is an error.

    Reads (GET, and the session login) are retried on connection errors and 503 with
    exponential backoff (``backoff * 2**n`` seconds, at most ``max_backoff`` each, at most
    ``retries`` retries). Writes are never retried: an appliance may have applied them.

    Every failure raises ``LunaError`` (message names the HSM, the HTTP status, the
    appliance error id and what to do).

Reads (return plain dicts/lists, appliance shapes turned into fact-schema names where noted):
    ``serial`` (property: the HSM serial, discovered once), ``list_hsms()``, ``get_hsm()``,
    ``get_firmware()``, ``get_capabilities()`` -> ``[{code, name, value(bool)}]``,
    ``get_policies()`` -> ``[{code, name, value(bool), destructive}]``,
    ``list_partitions()`` -> ``[partition id]``, ``get_partition(pid)`` ->
    ``{serial, label, object_count}``, ``get_partition_policies(pid)`` ->
    ``[{code, name, value(bool)}]``, ``get_partition_objects(pid)`` -> fact-schema objects,
    ``find_partition(label_or_serial)`` -> partition dict or None, ``get_task(location)``.

Changes (need ``so_login(so_password)`` first; it logs in once per session):
    ``set_policy(code, value, confirm_destructive=False)`` (waits for the task of a
    destructive policy), ``set_policies({code: value})`` (one PATCH, non-destructive only),
    ``create_partition(label)`` -> partition id, ``delete_partition(pid)``,
    ``set_partition_policy(pid, code, value)``, ``clone(pid, target, objects=None)``,
    ``synchronize(pid, peers)``, ``upload_package(name, data)``,
    ``apply_capability_update(file_name, auth_code)`` (waits for the task, returns its body),
    ``wait_task(location)``.

Helpers:
    ``read_cuf(path)`` -> ``{serial, capability, code, issued, size, data, file_name}`` (the
    CUF format lives here only), ``cuf_auth_code_matches(cuf, auth_code)``,
    ``luna_argument_spec(so_password=False, defaults_only=False, **extra)`` (argument_spec
    matching the ``hsmops.luna.connection`` doc fragment), ``client_from_params(params,
    **overrides)``, ``error_result(exc)`` (fail_json kwargs for LunaError/FactError).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import copy
import http.client
import io
import json
import os
import select
import socket
import ssl
import time
from urllib.error import HTTPError, URLError
from urllib.parse import urlparse

from ansible.module_utils.basic import env_fallback
from ansible.module_utils.common.text.converters import to_bytes, to_native

MEDIA_TYPE = "application/vnd.safenetinc.lunasa+json;version="
OCTET_MEDIA_TYPE = "application/vnd.safenetinc.lunasa+octet-stream;version="
SESSION_COOKIE = "SESSION"
CUF_MAX_BYTES = 1024 * 1024

# argument_spec pieces: the documentation is plugins/doc_fragments/connection.py.
LUNA_CONNECTION_SPEC = dict(
    url=dict(type="str", required=True, fallback=(env_fallback, ["LUNA_URL"])),
    username=dict(type="str", default="admin", fallback=(env_fallback, ["LUNA_USERNAME"])),
    password=dict(type="str", required=True, no_log=True, fallback=(env_fallback, ["LUNA_PASSWORD"])),
    validate_certs=dict(type="bool", default=True),
    ca_path=dict(type="path", fallback=(env_fallback, ["LUNA_CA_PATH"])),
    timeout=dict(type="int", default=30),
)
SO_PASSWORD_SPEC = dict(
    so_password=dict(type="str", no_log=True, fallback=(env_fallback, ["LUNA_SO_PASSWORD"])),
)
CONNECTION_KEYS = ("url", "username", "password", "validate_certs", "ca_path", "timeout")


def luna_argument_spec(so_password=False, defaults_only=False, **extra):
    """A fresh argument_spec: the connection options (+ so_password) + the module's own.

    defaults_only: url and password are not required (modules that take a list of
    appliances, where the top-level options are only defaults).
    """
    spec = copy.deepcopy(LUNA_CONNECTION_SPEC)
    if defaults_only:
        spec["url"]["required"] = False
        spec["password"]["required"] = False
    if so_password:
        spec.update(copy.deepcopy(SO_PASSWORD_SPEC))
    spec.update(extra)
    return spec


def error_result(exc):
    """fail_json keyword arguments for a LunaError or an engine FactError (no traceback)."""
    if isinstance(exc, LunaError):
        result = exc.as_dict()
        return result
    return {"msg": str(exc)}


# What the operator should do, by appliance error id (fallback: by HTTP status).
_HINTS = {
    "FRAMEWORK_UNAUTHORIZED": "check username and password (options username/password or LUNA_USERNAME/LUNA_PASSWORD)",
    "FRAMEWORK_FORBIDDEN": "the appliance user is locked after failed logins: have an appliance administrator unlock it, "
                           "then fix the password",
    "HSMPLUGIN_LOGIN_FAILED": "the HSM SO password was refused: check so_password (or LUNA_SO_PASSWORD); repeated "
                              "failures lock the account",
    "HSMPLUGIN_NOT_LOGGED_IN": "the change needs the HSM SO: pass so_password",
    "HSMPLUGIN_INVALID_HSM": "check that url points at the appliance holding this HSM",
    "HSMPLUGIN_INVALID_PARTITION": "check the partition label or serial",
    "HSMPLUGIN_INVALID_POLICY": "use a policy code or name the HSM knows",
    "HSMPLUGIN_OPERATION_NOT_ALLOWED": "the appliance refused by rule: fix the cause named above, nothing was changed",
    "HSMPLUGIN_CLONING_FAILED": "cloning was refused: bring both HSMs to the same SFF state and cloning domain",
    "FRAMEWORK_PAYLOAD_TOO_LARGE": "the file is too large for the appliance (1 MiB at most)",
    "FRAMEWORK_UNSUPPORTED_MEDIA_TYPE": "the appliance did not accept the request's media type: report this as a bug",
    "FRAMEWORK_SERVICE_UNAVAILABLE": "the appliance is busy or restarting: run the task again later",
}
_STATUS_OF_ERROR_ID = {
    "FRAMEWORK_BAD_REQUEST": 400, "FRAMEWORK_UNAUTHORIZED": 401, "FRAMEWORK_FORBIDDEN": 403,
    "HSMPLUGIN_INVALID_HSM": 404, "HSMPLUGIN_INVALID_PARTITION": 404, "FRAMEWORK_RESOURCE_NOT_FOUND": 404,
    "HSMPLUGIN_INVALID_POLICY": 400, "FRAMEWORK_UNSUPPORTED_MEDIA_TYPE": 415, "FRAMEWORK_PAYLOAD_TOO_LARGE": 413,
    "HSMPLUGIN_OPERATION_NOT_ALLOWED": 422, "HSMPLUGIN_NOT_LOGGED_IN": 403, "HSMPLUGIN_CLONING_FAILED": 422,
    "FRAMEWORK_SERVICE_UNAVAILABLE": 503,
}
_STATUS_HINTS = {
    400: "the appliance rejected the request: check the option values",
    401: _HINTS["FRAMEWORK_UNAUTHORIZED"],
    403: "the appliance user may not do this: use an admin or operator account",
    404: "the resource does not exist on this appliance: check url and names",
    409: "the appliance is in a conflicting state: gather facts and run again",
    422: _HINTS["HSMPLUGIN_OPERATION_NOT_ALLOWED"],
    503: _HINTS["FRAMEWORK_SERVICE_UNAVAILABLE"],
}


class LunaError(Exception):
    """An appliance call failed. ``str(err)`` is the full operator-facing message.

    Attributes: ``message`` (what happened), ``status`` (HTTP status or None),
    ``error_id`` (appliance error id, e.g. HSMPLUGIN_OPERATION_NOT_ALLOWED), ``details``
    (e.g. the rules engine's reason code), ``return_code`` (CKR name), ``serial`` (HSM),
    ``url`` (appliance base URL), ``hint`` (what to do), ``name`` (inventory name).
    """

    def __init__(self, message, status=None, error_id=None, details=None, return_code=None,
                 serial=None, url=None, hint=None, name=None):
        self.message = message
        self.status = status
        self.error_id = error_id
        self.details = details
        self.return_code = return_code
        self.serial = serial
        self.url = url
        self.hint = hint
        self.name = name
        super(LunaError, self).__init__(self.describe())

    def describe(self):
        if self.serial:
            where = "HSM %s" % self.serial
            if self.url:
                where += " (%s)" % self.url
        elif self.name and self.url and self.name != self.url:
            where = "appliance %s (%s)" % (self.name, self.url)
        elif self.url or self.name:
            where = "appliance %s" % (self.url or self.name)
        else:
            where = None
        parts = []
        if self.status:
            parts.append("HTTP %s" % self.status)
        if self.error_id:
            parts.append(str(self.error_id))
        extra = []
        if self.details:
            extra.append("details %s" % self.details)
        if self.return_code and self.return_code not in (0, "0"):
            extra.append("returnCode %s" % self.return_code)
        text = "%s%s" % (" ".join(parts) + ": " if parts else "", self.message)
        if where:
            text = "%s: %s" % (where, text)
        if extra:
            text += " (%s)" % ", ".join(extra)
        if self.hint:
            text += ". What to do: %s." % self.hint.rstrip(".")
        return text

    def as_dict(self):
        """A result-friendly dict (no secrets: the client never puts them in errors)."""
        return {
            "msg": self.describe(),
            "status": self.status,
            "error_id": self.error_id,
            "details": self.details,
            "return_code": self.return_code,
            "serial": self.serial,
            "url": self.url,
        }


def _decode(raw):
    if not raw:
        return None
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    try:
        return json.loads(raw)
    except ValueError:
        return {"message": raw.strip()[:500]}


def _header(headers, name):
    if headers is None:
        return None
    getter = getattr(headers, "get", None)
    return getter(name) if getter else None


def _all_headers(headers, name):
    if headers is None:
        return []
    get_all = getattr(headers, "get_all", None)
    if get_all is not None:
        return get_all(name) or []
    value = _header(headers, name)
    return [value] if value else []


def _retryable_connection_error(exc):
    """Connection refused/reset/timeouts are worth a retry; certificate problems are not."""
    if isinstance(exc, URLError):
        reason = getattr(exc, "reason", None)
        if isinstance(reason, ssl.SSLCertVerificationError) or (
                isinstance(reason, ssl.SSLError) and "CERTIFICATE" in str(reason).upper()):
            return False
        return True
    return isinstance(exc, (socket.timeout, ConnectionError, OSError))


def _bool_value(value):
    """Appliance 0/1 (or bool/"0"/"1") -> bool."""
    if isinstance(value, bool):
        return value
    return str(value).strip() in ("1", "true", "True", "on")


def read_cuf(path):
    """Read a capability update file (CUF) locally: the only code that knows its format.

    Returns ``{serial, capability, code, issued, size, data}`` (``data``: the raw bytes to
    upload). Raises LunaError with a clear message for a missing, unreadable or malformed
    file. The signature is checked by the appliance, not here.
    """
    if not path:
        raise LunaError("option 'src' is empty: give the path of the CUF file for this HSM",
                        hint="set src to the capability update file bought for this HSM's serial")
    try:
        with open(path, "rb") as handle:
            data = handle.read(CUF_MAX_BYTES + 1)
    except (IOError, OSError) as exc:
        raise LunaError("cannot read the CUF file %s: %s" % (path, getattr(exc, "strerror", None) or exc),
                        hint="check that src names a readable file on the host running the module")
    if len(data) > CUF_MAX_BYTES:
        raise LunaError("the CUF file %s is larger than 1 MiB; it is not a capability update file" % path,
                        hint="check src")
    try:
        doc = json.loads(data.decode("utf-8"))
        payload = doc["payload"]
        serial = str(payload["serial"]).strip()
        capability = str(payload["capability"])
        code = int(payload["code"])
        if not serial or not doc.get("signature"):
            raise ValueError("empty serial or signature")
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError) as exc:
        raise LunaError("the file %s is not a capability update file (%s)" % (path, exc),
                        hint="check src: a CUF is JSON with 'payload' (capability, code, serial) and 'signature'")
    return {
        "serial": serial,
        "capability": capability,
        "code": code,
        "issued": payload.get("issued"),
        "size": len(data),
        "data": data,
        "file_name": os.path.basename(path),
        "auth_code_sha256": payload.get("authCodeSha256"),
    }


def cuf_auth_code_matches(cuf, auth_code):
    """True/False when the CUF carries the auth code's SHA-256, None when it does not say."""
    expected = cuf.get("auth_code_sha256")
    if not expected:
        return None
    # Imported here: loading OpenSSL's hash library costs every module run ~4 ms; only CUF checks need it.
    import hashlib

    return hashlib.sha256(to_bytes(auth_code or "")).hexdigest() == str(expected).lower()


# ---------------------------------------------------------------------------- transport


class Response(object):
    """What http_open returns (and what a stand-in for it returns): ``status``, ``headers`` (an
    email.message.Message) and ``read()``."""

    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self._body = body

    def getcode(self):
        return self.status

    def read(self):
        return self._body


def _tls_context(validate_certs, ca_path):
    """The TLS settings open_url would use: the system CAs, or only ca_path's when given."""
    context = ssl.create_default_context(cafile=ca_path or None)
    if not validate_certs:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _proxy_for(parsed):
    """True when the environment routes this URL through a proxy (then open_url does the work)."""
    names = ("%s_proxy" % parsed.scheme, "all_proxy")
    if not any(os.environ.get(n) or os.environ.get(n.upper()) for n in names):
        return False
    from urllib.request import proxy_bypass_environment
    return not proxy_bypass_environment(parsed.hostname or "")


class Connections(object):
    """One client's open connections, one per appliance (scheme, host:port), kept alive between
    requests. Not shared between threads: every LunaClient has its own."""

    def __init__(self, validate_certs=True, ca_path=None, timeout=30):
        self.validate_certs = validate_certs
        self.ca_path = ca_path
        self.timeout = timeout
        self.opened = 0  # connections made (tests and benchmarks read it)
        self._context = None
        self._open = {}

    def get(self, scheme, netloc):
        """An open connection to scheme://netloc; a new one if the appliance closed the idle one."""
        key = (scheme, netloc)
        conn = self._open.get(key)
        if conn is not None and conn.sock is not None and select.select([conn.sock], [], [], 0)[0]:
            # Readable while idle: the appliance closed it (its keep-alive timeout). Never send
            # a request, a write above all, into a connection that is going away.
            self.drop(scheme, netloc)
            conn = None
        if conn is None:
            if scheme == "https":
                if self._context is None:
                    self._context = _tls_context(self.validate_certs, self.ca_path)
                conn = http.client.HTTPSConnection(netloc, timeout=self.timeout, context=self._context)
            else:
                conn = http.client.HTTPConnection(netloc, timeout=self.timeout)
            self._open[key] = conn
            self.opened += 1
        return conn

    def drop(self, scheme, netloc):
        conn = self._open.pop((scheme, netloc), None)
        if conn is not None:
            conn.close()

    def close(self):
        for key in list(self._open):
            self.drop(*key)


def _open_url_fallback(url, data, headers, method, timeout, validate_certs, ca_path):
    """One request through ansible-core's open_url (a proxy is configured for url)."""
    from ansible.module_utils.urls import ConnectionError as UrlsConnectionError, open_url
    try:
        return open_url(url, data=data, headers=headers, method=method, timeout=timeout,
                        validate_certs=validate_certs, ca_path=ca_path, follow_redirects="none",
                        use_netrc=False, use_proxy=True, http_agent=headers.get("User-Agent"))
    except UrlsConnectionError as exc:
        raise URLError(to_native(exc))


def http_open(url, data=None, headers=None, method="GET", timeout=30, validate_certs=True, ca_path=None,
              url_username=None, url_password=None, force_basic_auth=False, http_agent="hsmops.luna",
              connections=None):
    """One HTTP exchange, with ``ansible.module_utils.urls.open_url``'s contract: returns a response
    (``status``, ``headers``, ``read()``) for 1xx/2xx; raises ``HTTPError`` (with the body) for
    3xx and above (redirects are not followed), ``URLError`` or ``socket.timeout`` when there is no
    answer. ``connections`` (a Connections) keeps the connection open for the next request; None
    or a configured proxy: one connection for this request only (open_url)."""
    parsed = urlparse(url)
    headers = dict(headers or {})
    headers.setdefault("User-Agent", http_agent)
    if force_basic_auth:
        pair = to_bytes("%s:%s" % (url_username or "", url_password or ""))
        headers["Authorization"] = "Basic %s" % to_native(base64.b64encode(pair))
    if connections is None or _proxy_for(parsed):
        return _open_url_fallback(url, data, headers, method, timeout, validate_certs, ca_path)
    target = (parsed.path or "/") + ("?" + parsed.query if parsed.query else "")
    conn = connections.get(parsed.scheme, parsed.netloc)
    try:
        conn.request(method, target, body=data, headers=headers)
        resp = conn.getresponse()
        body = resp.read()
    except socket.timeout:
        connections.drop(parsed.scheme, parsed.netloc)
        raise
    except (OSError, http.client.HTTPException) as exc:
        # ssl errors (certificate verification included) are OSErrors: open_url wraps them the same way.
        connections.drop(parsed.scheme, parsed.netloc)
        raise URLError(exc)
    if resp.will_close:
        connections.drop(parsed.scheme, parsed.netloc)
    if resp.status >= 300:
        raise HTTPError(url, resp.status, resp.reason, resp.msg, io.BytesIO(body))
    return Response(resp.status, resp.msg, body)


class LunaClient(object):
    """REST client for one Luna appliance (see the module docstring for the API)."""

    def __init__(self, url, username="admin", password=None, validate_certs=True, ca_path=None, timeout=30,
                 name=None, retries=3, backoff=0.5, max_backoff=8.0, poll_interval=0.2, task_timeout=600):
        if not url:
            raise LunaError("option 'url' is empty", hint="set url (or LUNA_URL) to https://<appliance>:8443")
        parsed = urlparse(url)
        if parsed.scheme not in ("https", "http") or not parsed.netloc:
            raise LunaError("url %r is not an http(s) URL" % url, url=url, name=name,
                            hint="set url to https://<appliance>:8443")
        self.base_url = url.rstrip("/")
        self.name = name or self.base_url
        self.username = username or "admin"
        self._password = password
        self.validate_certs = validate_certs
        self.ca_path = ca_path
        self.timeout = timeout
        self.retries = max(0, int(retries))
        self.backoff = float(backoff)
        self.max_backoff = float(max_backoff)
        self.poll_interval = float(poll_interval)
        self.task_timeout = float(task_timeout)
        self._sleep = time.sleep  # tests replace it to observe the backoff
        self.connections = Connections(validate_certs=validate_certs, ca_path=ca_path, timeout=timeout)
        self._cookie = None
        self._so_password = None
        self._so_logged_in = False
        self._serial = None
        self.logins = 0  # session logins made (one per run unless the session expired)
        self.requests = 0

    # ------------------------------------------------------------------ context / session

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
        return False

    def _error(self, message, **kwargs):
        kwargs.setdefault("serial", self._serial)
        kwargs.setdefault("url", self.base_url)
        kwargs.setdefault("name", self.name)
        return LunaError(message, **kwargs)

    def login(self):
        """Open the private session (POST /auth/session with Basic, body {})."""
        if self._password is None or self._password == "":
            raise self._error("no appliance password given",
                              hint="set password (or LUNA_PASSWORD) for user %s" % self.username)
        status, headers = self._send("POST", "/auth/session", body={}, basic=True, retry=True, relogin=False)[:2]
        cookie = None
        for value in _all_headers(headers, "Set-Cookie"):
            first = value.split(";", 1)[0].strip()
            if first.startswith(SESSION_COOKIE + "="):
                cookie = first
        if not cookie:
            raise self._error("the appliance answered the session login with HTTP %s but no %s cookie"
                              % (status, SESSION_COOKIE), status=status,
                              hint="check that url points at a Luna appliance's REST API")
        self._cookie = cookie
        self._so_logged_in = False
        self.logins += 1

    def close(self):
        """Log the HSM SO and the session out, close the connection. Never raises (a finished run
        must not fail here)."""
        if self._cookie is None:
            self.connections.close()
            return
        try:
            if self._so_logged_in and self._serial:
                self._send("DELETE", "/api/lunasa/hsms/%s/login" % self._serial, retry=False, relogin=False)
        except LunaError:
            pass
        try:
            self._send("DELETE", "/auth/session", retry=False, relogin=False)
        except LunaError:
            pass
        self._cookie = None
        self._so_logged_in = False
        self.connections.close()

    def so_login(self, so_password):
        """Log the HSM SO in for this session (once per run; re-done after a session re-login)."""
        if not so_password:
            raise self._error("this change needs the HSM SO, but no so_password was given",
                              hint="pass so_password (or set LUNA_SO_PASSWORD)")
        if self._so_logged_in and so_password == self._so_password:
            return
        self._so_password = so_password
        self._so_login()

    def _so_login(self):
        serial = self.serial
        self.request("POST", "/api/lunasa/hsms/%s/login" % serial,
                     body={"ped": "0", "password": self._so_password, "role": "so"}, expect=(200, 204))
        self._so_logged_in = True

    # ------------------------------------------------------------------ transport

    def _open(self, method, path, body, data, content_type, basic, extra_headers):
        url = path if path.startswith("http") else self.base_url + path
        headers = {"Accept": MEDIA_TYPE}
        payload = None
        if body is not None:
            payload = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = MEDIA_TYPE
        elif data is not None:
            payload = data
            headers["Content-Type"] = content_type or OCTET_MEDIA_TYPE
        if extra_headers:
            headers.update(extra_headers)
        kwargs = dict(
            method=method, data=payload, headers=headers, timeout=self.timeout,
            validate_certs=self.validate_certs, ca_path=self.ca_path, http_agent="hsmops.luna",
            connections=self.connections,
        )
        if basic:
            kwargs.update(url_username=self.username, url_password=self._password, force_basic_auth=True)
        elif self._cookie:
            headers["Cookie"] = self._cookie
        self.requests += 1
        return http_open(url, **kwargs)

    def _send(self, method, path, body=None, data=None, content_type=None, basic=False, retry=None,
              relogin=True, extra_headers=None):
        """One HTTP exchange -> (status, headers, decoded body). Raises LunaError for >= 400.

        Retries (reads only) on connection errors and 503; 3xx answers are returned, not followed.
        """
        if retry is None:
            retry = method == "GET"
        attempt = 0
        while True:
            try:
                resp = self._open(method, path, body, data, content_type, basic, extra_headers)
                status = getattr(resp, "status", None) or resp.getcode()
                raw = resp.read()
                return status, resp.headers, _decode(raw)
            except HTTPError as exc:
                status = exc.code
                try:
                    raw = exc.read()
                except Exception:  # the body of an error is best effort
                    raw = b""
                decoded = _decode(raw)
                if 300 <= status < 400:
                    return status, exc.headers, decoded
                if status == 503 and retry and attempt < self.retries:
                    self._backoff(attempt)
                    attempt += 1
                    continue
                # A wrong SO password is 401 too, but that is an answer, not an expired session.
                if status == 401 and relogin and self._cookie is not None and \
                        (not isinstance(decoded, dict) or decoded.get("id") in (None, "FRAMEWORK_UNAUTHORIZED")):
                    raise _SessionExpired()
                raise self._http_error(method, path, status, decoded)
            except (URLError, socket.timeout, ConnectionError, OSError) as exc:
                if retry and attempt < self.retries and _retryable_connection_error(exc):
                    self._backoff(attempt)
                    attempt += 1
                    continue
                raise self._connection_error(exc, attempt)

    def _backoff(self, attempt):
        self._sleep(min(self.max_backoff, self.backoff * (2 ** attempt)))

    def _connection_error(self, exc, attempt):
        reason = getattr(exc, "reason", exc)
        text = str(reason)
        if "CERTIFICATE" in text.upper():
            return self._error(
                "TLS certificate verification failed: %s" % text,
                hint="set ca_path (or LUNA_CA_PATH) to the CA file that signed the appliance certificate "
                     "(emulator: <state dir>/ca.pem); validate_certs: false only for throw-away tests")
        tries = " after %d attempts" % (attempt + 1) if attempt else ""
        return self._error(
            "cannot connect%s: %s" % (tries, text),
            hint="check url, that the appliance is up and reachable, and the timeout (%ss)" % self.timeout)

    def _http_error(self, method, path, status, body):
        body = body if isinstance(body, dict) else {}
        error_id = body.get("id") if body.get("status", "ERROR") == "ERROR" else None
        message = body.get("message") or "%s %s failed" % (method, path)
        hint = _HINTS.get(error_id) or _STATUS_HINTS.get(status) or "see the appliance message above"
        return self._error(message, status=status, error_id=error_id, details=body.get("details") or None,
                           return_code=body.get("returnCode"), hint=hint)

    def request(self, method, path, body=None, data=None, content_type=None, expect=None, extra_headers=None):
        """Send one request in the session -> (status, headers, body).

        Logs in on first use. A 401 on an established session re-logs in once (and the
        HSM SO, when it was logged in) and repeats the request. ``expect``: allowed
        statuses (default: any 2xx/3xx).
        """
        if self._cookie is None:
            self.login()
        try:
            result = self._send(method, path, body=body, data=data, content_type=content_type,
                                extra_headers=extra_headers)
        except _SessionExpired:
            # The request was refused (401), so repeating it is safe for writes too.
            had_so = self._so_logged_in
            self._cookie = None
            self.login()
            if had_so:
                self._so_login()
            try:
                result = self._send(method, path, body=body, data=data, content_type=content_type,
                                    extra_headers=extra_headers)
            except _SessionExpired:
                raise self._error("the appliance refused the session right after a fresh login",
                                  status=401, error_id="FRAMEWORK_UNAUTHORIZED",
                                  hint="check the appliance user's role and the session settings")
        status = result[0]
        if expect is not None and status not in expect:
            raise self._error("unexpected answer HTTP %s to %s %s (expected %s)"
                              % (status, method, path, ", ".join(str(s) for s in expect)), status=status,
                              hint="the appliance does not speak the API this collection expects: check url")
        return result

    def get(self, path):
        """GET a JSON resource -> decoded body."""
        return self.request("GET", path, expect=(200,))[2]

    # ------------------------------------------------------------------ tasks

    def get_task(self, location):
        """One poll of a task -> (state, body); state: 'running', 'done' or 'gone'."""
        path = self._path(location)
        try:
            status, body = self.request("GET", path)[::2]
        except LunaError as exc:
            if exc.status == 410:
                return "gone", None
            raise
        body = body if isinstance(body, dict) else {}
        if status == 303 or body.get("state") == "Finished":
            return "done", body
        return "running", body

    def wait_task(self, location, what="the operation"):
        """Poll a task until it finishes -> its body. A failed task raises LunaError."""
        deadline = time.monotonic() + self.task_timeout
        while True:
            state, body = self.get_task(location)
            if state == "done":
                error = body.get("error")
                if error:
                    # A failed task carries an error body but no HTTP status of its own.
                    status = _STATUS_OF_ERROR_ID.get(error.get("id") if isinstance(error, dict) else None)
                    raise self._http_error("TASK", location, status, error)
                return body
            if state == "gone":
                raise self._error("the appliance no longer knows task %s for %s; its outcome is unknown"
                                  % (location, what), status=410,
                                  hint="gather facts to see the HSM's state, then run again")
            if time.monotonic() >= deadline:
                raise self._error("%s did not finish within %ss (task %s)" % (what, self.task_timeout, location),
                                  hint="gather facts later to see whether it finished")
            self._sleep(self.poll_interval)

    def _path(self, location):
        if location.startswith("http"):
            parsed = urlparse(location)
            return parsed.path + ("?" + parsed.query if parsed.query else "")
        return location

    def _wait_if_task(self, status, headers, what):
        if status == 202:
            location = _header(headers, "Location")
            if not location:
                raise self._error("the appliance accepted %s (202) without a task Location" % what, status=202,
                                  hint="gather facts to see the HSM's state")
            return self.wait_task(location, what)
        return None

    # ------------------------------------------------------------------ HSM reads

    def list_hsms(self):
        """-> list of HSM ids (serials) on this appliance."""
        body = self.get("/api/lunasa/hsms") or {}
        return [str(item.get("id")) for item in body.get("hsms", [])]

    @property
    def serial(self):
        """The serial of the appliance's HSM (discovered once per run)."""
        if self._serial is None:
            hsms = self.list_hsms()
            if not hsms:
                raise self._error("the appliance reports no HSM", hint="check url")
            self._serial = hsms[0]
        return self._serial

    def _hsm(self, suffix=""):
        return "/api/lunasa/hsms/%s%s" % (self.serial, suffix)

    def get_hsm(self):
        """-> {serial, label, model, firmware, auth, cloning_domain, sim_secret} (fact names)."""
        body = self.get(self._hsm()) or {}
        firmware = body.get("firmwareVersion")
        if not firmware:
            firmware = (self.get(self._hsm("/firmware")) or {}).get("version")
        return {
            "serial": str(body.get("serialNumber") or body.get("id") or self.serial),
            "label": body.get("label") or "",
            "model": body.get("model") or "",
            "firmware": firmware,
            "auth": body.get("authenticationMethod"),
            "cloning_domain": body.get("cloningDomain"),
            "sim_secret": body.get("simSecret"),
        }

    def get_firmware(self):
        return (self.get(self._hsm("/firmware")) or {}).get("version")

    @staticmethod
    def _items(body, key, with_destructive=False):
        out = []
        for item in (body or {}).get(key, []):
            code = item.get("code", item.get("id"))
            entry = {"code": int(code), "name": item.get("name") or str(code), "value": _bool_value(item.get("value"))}
            if with_destructive:
                entry["destructive"] = bool(item.get("destructive", False))
            out.append(entry)
        return out

    def get_capabilities(self):
        """-> [{code, name, value}] (value: bool, the HSM has the capability)."""
        return self._items(self.get(self._hsm("/capabilities")), "capabilities")

    def get_policies(self):
        """-> [{code, name, value, destructive}] (value: bool, the policy is on)."""
        return self._items(self.get(self._hsm("/policies")), "policies", with_destructive=True)

    # ------------------------------------------------------------------ HSM changes

    def set_policy(self, code, value, confirm_destructive=False):
        """PUT one HSM policy. Destructive policies need confirm_destructive=True and wipe
        every partition (the task is awaited). Returns the task body or None."""
        body = {"value": 1 if value else 0}
        if confirm_destructive:
            body["confirm"] = "proceed"
        status, headers = self.request("PUT", self._hsm("/policies/%d" % int(code)), body=body,
                                       expect=(200, 202, 204))[:2]
        return self._wait_if_task(status, headers, "the change of HSM policy %s" % code)

    def set_policies(self, values):
        """PATCH several non-destructive HSM policies at once ({code: bool}), all or nothing."""
        items = [{"code": int(code), "value": 1 if value else 0} for code, value in sorted(values.items())]
        self.request("PATCH", self._hsm("/policies"), body={"policies": items}, expect=(200, 204))

    def upload_package(self, file_name, data):
        """Upload a package file (e.g. a CUF) -> its appliance id."""
        body = self.request("POST", "/api/lunasa/packageFiles", data=data,
                            extra_headers={"X-Luna-File-Name": file_name}, expect=(200, 201))[2]
        return (body or {}).get("id") or file_name

    def apply_capability_update(self, file_name, auth_code):
        """Apply an uploaded CUF (re-initialises the HSM) and wait for it -> task body."""
        status, headers, body = self.request("POST", self._hsm("/capabilityUpdates"),
                                             body={"file": file_name, "authCode": auth_code},
                                             expect=(200, 202, 204))
        task = self._wait_if_task(status, headers, "the capability update")
        return task if task is not None else (body or {})

    # ------------------------------------------------------------------ partitions

    def _part(self, pid, suffix=""):
        return self._hsm("/partitions/%s%s" % (pid, suffix))

    def list_partitions(self):
        """-> list of partition ids (serials)."""
        body = self.get(self._hsm("/partitions")) or {}
        return [str(item.get("id")) for item in body.get("partitions", [])]

    def get_partition(self, pid):
        """-> {serial, label, object_count}."""
        body = self.get(self._part(pid)) or {}
        return {
            "serial": str(body.get("serialNumber") or body.get("id") or pid),
            "label": body.get("name") or "",
            "object_count": int(body.get("objectCount") or 0),
        }

    def get_partition_policies(self, pid):
        """-> [{code, name, value}]."""
        return self._items(self.get(self._part(pid, "/policies")), "policies")

    def get_partition_objects(self, pid):
        """-> objects in fact-schema shape (label, class, fingerprint, extractable, off_board)."""
        body = self.get(self._part(pid, "/objects")) or {}
        out = []
        for obj in body.get("objects", []):
            out.append({
                "label": obj.get("label", ""),
                "class": obj.get("class", "secret_key"),
                "fingerprint": obj.get("fingerprint") or "%s:%s" % (obj.get("class"), obj.get("label")),
                "extractable": bool(obj.get("extractable", False)),
                "off_board": bool(obj.get("offBoard", obj.get("off_board", False))),
            })
        return out

    def find_partition(self, label_or_serial):
        """-> get_partition() dict of the partition with that label or serial, or None."""
        wanted = str(label_or_serial)
        for pid in self.list_partitions():
            if pid == wanted:
                return self.get_partition(pid)
        for pid in self.list_partitions():
            part = self.get_partition(pid)
            if part["label"] == wanted:
                return part
        return None

    def create_partition(self, label):
        """-> id of the new partition (SO logged in)."""
        body = self.request("POST", self._hsm("/partitions"), body={"name": label}, expect=(200, 201))[2]
        return str((body or {}).get("id"))

    def delete_partition(self, pid):
        self.request("DELETE", self._part(pid), expect=(200, 202, 204))

    def set_partition_policy(self, pid, code, value):
        self.request("PUT", self._part(pid, "/policies/%d" % int(code)), body={"value": 1 if value else 0},
                     expect=(200, 204))

    def clone(self, pid, target, objects=None):
        """Clone objects to another partition -> {cloned, skipped}. target: {url|hsm, partition}."""
        body = self.request("POST", self._part(pid, "/clone"), body={"target": target, "objects": objects},
                            expect=(200,))[2]
        return body or {}

    def synchronize(self, pid, peers):
        """Copy into this partition what its peers hold and it lacks -> {cloned}.
        peers: [{hsm: serial, partition: pid}]."""
        body = self.request("POST", self._part(pid, "/synchronize"), body={"peers": peers}, expect=(200,))[2]
        return body or {}


class _SessionExpired(Exception):
    """Internal: a 401 on an established session (turned into one re-login)."""


def client_from_params(params, **overrides):
    """A LunaClient from module params (the connection options), with per-item overrides
    (e.g. one appliance of fleet_info); None overrides fall back to params."""
    conn = {}
    for key in CONNECTION_KEYS:
        value = overrides.get(key)
        conn[key] = params.get(key) if value is None else value
    return LunaClient(conn["url"], username=conn["username"], password=conn["password"],
                      validate_certs=conn["validate_certs"] if conn["validate_certs"] is not None else True,
                      ca_path=conn["ca_path"], timeout=conn["timeout"] or 30, name=overrides.get("name"))
