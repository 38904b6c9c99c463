# Copyright (c) hsmops.luna contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The appliance REST API (docs/emulator-api.md) for every appliance of the fleet.

One FastAPI app serves all listening sockets; the socket's local port
(`scope["server"]`) says which appliance a request is for. A thin ASGI layer in front
applies faults, authenticates, checks media types and body size and writes the access
log (method, path without query, status, user name: never a credential).
"""

import asyncio
import hmac
import json
import logging
import re
import time
import urllib.parse

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Route

from ansible_collections.hsmops.luna.plugins.module_utils import sff_rules

from luna_emulator import errors, ops, pki, store as st
from luna_emulator.errors import MEDIA_TYPE, ApiError
from luna_emulator.fleet import (
    FleetError, HSM_POLICY_DESCRIPTIONS, PARTITION_POLICY_DESCRIPTIONS, PARTITION_POLICY_NAMES, POLICY_NAMES,
    USERS, check_faults,
)
from luna_emulator.runtime import SO_USER, hsm_or_404

access_log = logging.getLogger("luna_emulator.access")
log = logging.getLogger("luna_emulator")

MAX_BODY = 1024 * 1024
JSON_TYPES = ("application/vnd.safenetinc.lunasa+json", "application/json")
OCTET_TYPES = ("application/vnd.safenetinc.lunasa+octet-stream", "application/octet-stream")
FILE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
BODY_METHODS = ("POST", "PUT", "PATCH", "DELETE")
SESSION_PATH = "/auth/session"
HEALTH_PATH = "/emulator/health"
PACKAGE_PATH = "/api/lunasa/packageFiles"


def _error_bytes(err):
    return errors.encode(err.body())


async def _send_error(send, err):
    headers = [(b"content-type", MEDIA_TYPE.encode())]
    headers += [(k.lower().encode(), v.encode()) for k, v in err.headers.items()]
    await send({"type": "http.response.start", "status": err.status, "headers": headers})
    await send({"type": "http.response.body", "body": _error_bytes(err)})


def _drop_connection(send):
    """Fault drop_after: close the connection without any response."""
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        raise ConnectionAbortedError("drop_after fault")
    cycle.disconnected = True  # uvicorn then sends nothing, not even its 500
    transport.abort()


class ApplianceGate:
    """Faults, authentication, read-only users, media types and the 1 MiB body cap."""

    def __init__(self, app, rt, log_requests=True):
        self.app = app
        self.rt = rt
        self.log_requests = log_requests

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        rt = self.rt
        server = scope.get("server") or (None, None)
        serial = rt.port_to_serial.get(server[1])
        method = scope["method"]
        path = scope["path"]
        outcome = {"status": "-", "user": "-"}

        async def send_logged(message):
            if message["type"] == "http.response.start":
                outcome["status"] = message["status"]
            await send(message)

        try:
            if serial is None:
                raise ApiError("FRAMEWORK_SERVICE_UNAVAILABLE", "No appliance listens on this port.")
            if not path.startswith("/emulator/") and rt.faults_active(serial):
                faults = rt.faults[serial]
                rt.counters[serial] += 1
                count = rt.counters[serial]
                if faults["latency_ms"]:
                    await asyncio.sleep(faults["latency_ms"] / 1000.0)
                if faults["drop_after"] is not None and count > faults["drop_after"]:
                    outcome["status"] = "dropped"
                    _drop_connection(send)
                    return
                if faults["fail_after"] is not None and count > faults["fail_after"]:
                    status = faults["fail_status"]
                    raise ApiError("FRAMEWORK_SERVICE_UNAVAILABLE" if status == 503 else "FRAMEWORK_INTERNAL_ERROR",
                                   "Injected fault: HSM %s fails every request after %d." % (serial, faults["fail_after"]),
                                   "FAULT_INJECTED", status=status)
            if path == HEALTH_PATH:
                scope["luna"] = None
                return await self.app(scope, receive, send_logged)
            headers = dict(scope["headers"])
            principal = await rt.authenticate(headers, serial)
            outcome["user"] = principal.user
            if method not in ("GET", "HEAD") and principal.read_only and path != SESSION_PATH:
                raise ApiError("FRAMEWORK_FORBIDDEN", "User %s may only read (GET): log in as admin or operator to "
                               "change anything." % principal.user, "READ_ONLY_USER")
            if method in BODY_METHODS:
                _check_body_headers(headers, path)
            scope["luna"] = principal
            await self.app(scope, _capped(receive), send_logged)
        except ApiError as err:
            outcome["status"] = err.status
            await _send_error(send, err)
        except Exception as exc:  # noqa: BLE001 - never uvicorn's text/plain 500: the contract's body
            log.error("internal error on %s %s: %s", method, path, type(exc).__name__)
            if outcome["status"] == "-":
                outcome["status"] = 500
                await _send_error(send, ApiError("FRAMEWORK_INTERNAL_ERROR", "Internal error in the emulated appliance."))
        finally:
            if self.log_requests:
                access_log.info("%s %s %s -> %s %.1fms user=%s", serial or "-", method, path, outcome["status"],
                                (time.perf_counter() - started) * 1000, outcome["user"])


def _check_body_headers(headers, path):
    length = headers.get(b"content-length")
    chunked = b"chunked" in headers.get(b"transfer-encoding", b"").lower()
    if length is not None:
        try:
            size = int(length)
        except ValueError:
            raise errors.bad_request("Malformed Content-Length header.", "Content-Length")
        if size > MAX_BODY:
            raise ApiError("FRAMEWORK_PAYLOAD_TOO_LARGE", "The request body is %d bytes; at most %d are accepted."
                           % (size, MAX_BODY), "body")
    else:
        size = 0
    if size == 0 and not chunked:
        return
    ctype = headers.get(b"content-type", b"").decode("latin-1").split(";")[0].strip().lower()
    allowed = OCTET_TYPES if path == PACKAGE_PATH else JSON_TYPES
    if ctype not in allowed:
        raise ApiError("FRAMEWORK_UNSUPPORTED_MEDIA_TYPE", "Content-Type %r is not accepted here; send %s;version=1."
                       % (ctype or "(none)", allowed[0]), "Content-Type")


def _capped(receive):
    seen = [0]

    async def wrapped():
        message = await receive()
        if message["type"] == "http.request":
            seen[0] += len(message.get("body", b""))
            if seen[0] > MAX_BODY:
                raise ApiError("FRAMEWORK_PAYLOAD_TOO_LARGE", "The request body is larger than %d bytes." % MAX_BODY,
                               "body")
        return message
    return wrapped


# --------------------------------------------------------------------------- helpers


def reply(body, status=200, headers=None):
    return Response(errors.encode(body), status_code=status, media_type=MEDIA_TYPE, headers=headers)


def no_content(headers=None):
    return Response(status_code=204, headers=headers)


def accepted(task_id):
    return Response(errors.encode({"id": str(task_id), "url": "/tasks/%d" % task_id}), status_code=202,
                    media_type=MEDIA_TYPE, headers={"Location": "/tasks/%d" % task_id})


async def json_body(request, required=True):
    raw = await request.body()
    if not raw.strip():
        if required:
            raise errors.bad_request("The request needs a JSON object body.", "body")
        return {}
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise errors.bad_request("The request body is not valid JSON.", "body")
    if not isinstance(data, dict):
        raise errors.bad_request("The request body must be a JSON object.", "body")
    return data


def principal_of(request):
    return request.scope["luna"]


def this_hsm(request, hsm_id):
    """An appliance holds one HSM: the path's id must be the one behind this port."""
    principal = principal_of(request)
    if hsm_id != principal.serial:
        raise ApiError("HSMPLUGIN_INVALID_HSM", "This appliance holds HSM %s, not %s." % (principal.serial, hsm_id[:64]),
                       "id")
    return principal


def policy_code(code, table, what="HSM"):
    if not code.isdigit() or int(code) not in table:
        raise ApiError("HSMPLUGIN_INVALID_POLICY", "Unknown %s policy code %r; expected one of %s."
                       % (what, code[:16], ", ".join(str(c) for c in sorted(table))), "code")
    return int(code)


def policy_value(body, field="value"):
    value = body.get(field)
    if isinstance(value, bool) or value not in (0, 1):
        raise ApiError("HSMPLUGIN_INVALID_POLICY", "Field '%s': expected 0 or 1." % field, field)
    return value


def _iso(epoch):
    if epoch is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _hsm_url(serial):
    return "/api/lunasa/hsms/%s" % serial


_POLICY_STATIC = {
    code: {"id": str(code), "code": code, "name": POLICY_NAMES[code], "description": HSM_POLICY_DESCRIPTIONS[code]}
    for code in POLICY_NAMES}


def _policy_item(serial, code, value):
    item = dict(_POLICY_STATIC[code])
    item["value"] = value
    item["destructive"] = code in sff_rules.HSM_DESTRUCTIVE_POLICIES
    item["url"] = "/api/lunasa/hsms/%s/policies/%d" % (serial, code)
    return item


def _partition_policy_item(serial, pid, code, value):
    return {"id": str(code), "code": code, "name": PARTITION_POLICY_NAMES[code],
            "description": PARTITION_POLICY_DESCRIPTIONS[code], "value": value,
            "url": "%s/partitions/%s/policies/%d" % (_hsm_url(serial), pid, code)}


def _target_serial(rt, target, where):
    """{"hsm": serial} or {"url": "https://127.0.0.1:<port>"} -> HSM serial."""
    if not isinstance(target, dict):
        raise errors.bad_request("Field '%s': expected an object with 'hsm' (or 'url') and 'partition'." % where, where)
    if target.get("hsm") is not None:
        if not isinstance(target["hsm"], (str, int)) or isinstance(target["hsm"], bool):
            raise errors.bad_request("Field '%s.hsm': expected an HSM serial." % where, where + ".hsm")
        return str(target["hsm"])
    url = target.get("url")
    if isinstance(url, str):
        parsed = urllib.parse.urlsplit(url)
        try:
            port = parsed.port
        except ValueError:
            port = None
        if parsed.hostname in ("127.0.0.1", "localhost") and port in rt.port_to_serial:
            return rt.port_to_serial[port]
        raise ApiError("HSMPLUGIN_INVALID_HSM", "Field '%s.url': no appliance of this fleet answers at that URL." % where,
                       where + ".url")
    raise errors.bad_request("Field '%s': give the target HSM as 'hsm' (serial) or 'url'." % where, where)


def _partition_id(target, where):
    pid = target.get("partition")
    if isinstance(pid, bool) or not isinstance(pid, (str, int)) or not str(pid).isdigit():
        raise errors.bad_request("Field '%s.partition': expected a partition id." % where, where + ".partition")
    return str(pid)


# --------------------------------------------------------------------------- the app


def build_app(rt, state_dir, log_requests=True):
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    rt.vendor_public = pki.load_vendor_public(state_dir)

    def route(method, path):
        """A plain Starlette route on the FastAPI app: path parameters become keyword arguments.

        Every body and parameter is checked by hand (the contract's error bodies), so FastAPI's
        per-request parameter solving would only cost time on the hot read paths.
        """
        def register(fn):
            async def endpoint(request):
                return await fn(request, **request.path_params)
            app.router.routes.append(Route(path, endpoint, methods=[method], name=fn.__name__))
            return fn
        return register

    @app.exception_handler(ApiError)
    async def api_error(request, exc):
        return reply(exc.body(), exc.status, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request, exc):
        return reply(errors.error_body("FRAMEWORK_BAD_REQUEST", "The request is malformed.", "request"), 400)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request, exc):
        if exc.status_code == 404:
            body = errors.error_body("FRAMEWORK_RESOURCE_NOT_FOUND", "No such resource: %s." % request.url.path[:200])
        elif exc.status_code == 405:
            body = errors.error_body("FRAMEWORK_METHOD_NOT_ALLOWED", "Method %s is not allowed on %s."
                                     % (request.method, request.url.path[:200]))
        else:
            body = errors.error_body("FRAMEWORK_BAD_REQUEST", "The request was refused.")
        return reply(body, exc.status_code, getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def internal_error(request, exc):
        log.error("internal error on %s %s: %s", request.method, request.url.path, type(exc).__name__)
        return reply(errors.error_body("FRAMEWORK_INTERNAL_ERROR", "Internal error in the emulated appliance."), 500)

    # ------------------------------------------------------------------ emulator administration

    def admin_only(request):
        principal = principal_of(request)
        if principal.user != "admin":
            raise ApiError("FRAMEWORK_FORBIDDEN", "Only the admin user may use /emulator/ calls.", "ADMIN_ONLY")
        return principal

    def known_serial(serial):
        if serial not in rt.faults:
            raise ApiError("HSMPLUGIN_INVALID_HSM", "No HSM %s in this fleet." % serial[:64], "serial")
        return serial

    @route("GET", HEALTH_PATH)
    async def health(request: Request):
        return reply({"status": "ok", "hsms": len(rt.serials)})

    @route("GET", "/emulator/faults/{serial}")
    async def get_faults(request: Request, serial: str):
        admin_only(request)
        return reply(rt.faults[known_serial(serial)])

    @route("PUT", "/emulator/faults/{serial}")
    async def put_faults(request: Request, serial: str):
        admin_only(request)
        known_serial(serial)
        body = await json_body(request)
        try:
            faults = check_faults(body, "body")
        except FleetError as exc:
            raise errors.bad_request(str(exc), "body")
        rt.set_faults(serial, faults)
        log.info("faults for HSM %s set to %s", serial, json.dumps(faults, sort_keys=True))
        return reply(faults)

    @route("POST", "/emulator/users/{user}/unlock")
    async def unlock(request: Request, user: str):
        principal = admin_only(request)
        hsm = request.query_params.get("hsm", "")
        serial = known_serial(hsm) if hsm else principal.serial
        if user not in USERS and user != SO_USER:
            raise errors.bad_request("Unknown user %r; expected one of %s or so." % (user[:32], ", ".join(USERS)), "user")
        await rt.unlock(serial, user)
        log.info("user %s unlocked on HSM %s", user, serial)
        return no_content()

    # ------------------------------------------------------------------ sessions

    @route("POST", SESSION_PATH)
    async def open_session(request: Request):
        principal = principal_of(request)
        await json_body(request, required=False)
        token = rt.new_session(principal.serial, principal.user)
        cookie = "SESSION=%s; Path=/; HttpOnly; Secure; SameSite=Strict" % token
        return no_content({"Set-Cookie": cookie})

    @route("DELETE", SESSION_PATH)
    async def close_session(request: Request):
        principal = principal_of(request)
        if principal.session is not None:
            rt.sessions.pop(principal.session, None)
        return no_content({"Set-Cookie": "SESSION=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Strict"})

    # ------------------------------------------------------------------ HSM

    @route("GET", "/api/lunasa/hsms")
    async def list_hsms(request: Request):
        serial = principal_of(request).serial
        return reply({"hsms": [{"id": serial, "url": _hsm_url(serial)}]})

    @route("GET", "/api/lunasa/hsms/{hsm_id}")
    async def get_hsm(request: Request, hsm_id: str):
        principal = this_hsm(request, hsm_id)
        row = hsm_or_404(rt.store.conn(), principal.serial)
        url = _hsm_url(row["serial"])
        return reply({
            "id": row["serial"], "serialNumber": row["serial"], "label": row["label"], "model": row["model"],
            "firmwareVersion": row["firmware"], "authenticationMethod": row["auth"],
            "cloningDomain": row["cloning_domain"], "simSecret": row["sim_secret"],
            "firmware": url + "/firmware", "policies": url + "/policies", "capabilities": url + "/capabilities",
            "partitions": url + "/partitions"})

    @route("GET", "/api/lunasa/hsms/{hsm_id}/firmware")
    async def get_firmware(request: Request, hsm_id: str):
        principal = this_hsm(request, hsm_id)
        row = hsm_or_404(rt.store.conn(), principal.serial)
        return reply({"version": row["firmware"]})

    @route("POST", "/api/lunasa/hsms/{hsm_id}/login")
    async def so_login(request: Request, hsm_id: str):
        principal = this_hsm(request, hsm_id)
        body = await json_body(request)
        if body.get("role", "so") != "so":
            raise errors.bad_request("Field 'role': only the HSM SO (\"so\") logs in here.", "role")
        password = body.get("password")
        if not isinstance(password, str):
            raise errors.bad_request("Field 'password': the SO password is required (the emulated PED answers "
                                     "at once but the emulator still checks the password).", "password")
        if rt.so_locked(principal.serial):
            raise ApiError("FRAMEWORK_FORBIDDEN", "The HSM SO of HSM %s is locked out after too many failed logins: "
                           "ask the administrator to unlock it." % principal.serial, "USER_LOCKED")
        row = hsm_or_404(rt.store.conn(), principal.serial)
        if not hmac.compare_digest(password.encode(), row["so_password"].encode()):
            await rt.record_failure(principal.serial, SO_USER)
            raise ApiError("HSMPLUGIN_LOGIN_FAILED", "HSM SO login failed on HSM %s: wrong password." % principal.serial,
                           "so", "CKR_PIN_INCORRECT")
        await rt.record_success(principal.serial, SO_USER)
        rt.set_so(principal, True)
        return no_content()

    @route("DELETE", "/api/lunasa/hsms/{hsm_id}/login")
    async def so_logout(request: Request, hsm_id: str):
        principal = this_hsm(request, hsm_id)
        rt.set_so(principal, False)
        return no_content()

    @route("GET", "/api/lunasa/hsms/{hsm_id}/capabilities")
    async def get_capabilities(request: Request, hsm_id: str):
        principal = this_hsm(request, hsm_id)
        caps = st.capabilities(hsm_or_404(rt.store.conn(), principal.serial))
        return reply({"capabilities": [
            {"id": str(c), "code": c, "name": POLICY_NAMES[c], "description": HSM_POLICY_DESCRIPTIONS[c], "value": v}
            for c, v in sorted(caps.items())]})

    @route("GET", "/api/lunasa/hsms/{hsm_id}/policies")
    async def get_policies(request: Request, hsm_id: str):
        principal = this_hsm(request, hsm_id)
        pols = st.policies(hsm_or_404(rt.store.conn(), principal.serial))
        return reply({"policies": [_policy_item(principal.serial, c, v) for c, v in sorted(pols.items())]})

    @route("GET", "/api/lunasa/hsms/{hsm_id}/policies/{code}")
    async def get_policy(request: Request, hsm_id: str, code: str):
        principal = this_hsm(request, hsm_id)
        number = policy_code(code, POLICY_NAMES)
        pols = st.policies(hsm_or_404(rt.store.conn(), principal.serial))
        return reply(_policy_item(principal.serial, number, pols[number]))

    @route("PUT", "/api/lunasa/hsms/{hsm_id}/policies/{code}")
    async def put_policy(request: Request, hsm_id: str, code: str):
        principal = this_hsm(request, hsm_id)
        number = policy_code(code, POLICY_NAMES)
        body = await json_body(request)
        value = policy_value(body)
        rt.require_so(principal)
        serial = principal.serial
        rt.check_not_busy(serial)
        if number in sff_rules.HSM_DESTRUCTIVE_POLICIES:
            conn = rt.store.conn()
            row = hsm_or_404(conn, serial)
            if st.policies(row)[number] == value:
                return no_content()  # nothing to change: nothing is erased
            refusal = ops.policy_refusal(st.hsm_facts(conn, row, partitions=False), st.capabilities(row),
                                         st.policies(row), number, value)
            if refusal is not None:
                raise refusal
            if body.get("confirm") != "proceed":
                raise errors.bad_request(
                    "HSM policy %d (%s) is destructive: changing it erases every partition on HSM %s. Send "
                    "\"confirm\": \"proceed\" to go ahead." % (number, POLICY_NAMES[number], serial), "confirm")
            task_id = await rt.start_task(
                serial, "policy", "%s/policies/%d" % (_hsm_url(serial), number),
                "%s/policies/%d" % (_hsm_url(serial), number), {"code": number, "value": value},
                rt.config["policy_task_seconds"],
                lambda db: ops.apply_destructive_policy(db, serial, number, value, rt))
            return accepted(task_id)
        await rt.write(ops.set_policies, serial, {number: value}, rt)
        return no_content()

    @route("PATCH", "/api/lunasa/hsms/{hsm_id}/policies")
    async def patch_policies(request: Request, hsm_id: str):
        principal = this_hsm(request, hsm_id)
        body = await json_body(request)
        items = body.get("policies")
        if not isinstance(items, list) or not items:
            raise errors.bad_request("Field 'policies': expected a non-empty list of {code, value}.", "policies")
        changes = {}
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                raise errors.bad_request("Field 'policies[%d]': expected {code, value}." % index, "policies")
            code = item.get("code")
            if isinstance(code, bool) or not isinstance(code, int) or code not in POLICY_NAMES:
                raise ApiError("HSMPLUGIN_INVALID_POLICY", "Field 'policies[%d].code': unknown HSM policy code." % index,
                               "policies[%d].code" % index)
            if code in changes:
                raise errors.bad_request("Field 'policies[%d].code': policy %d is listed twice." % (index, code),
                                         "policies[%d].code" % index)
            changes[code] = policy_value(item)
        rt.require_so(principal)
        rt.check_not_busy(principal.serial)
        await rt.write(ops.set_policies, principal.serial, changes, rt)
        return no_content()

    # ------------------------------------------------------------------ package files and the CUF

    @route("POST", PACKAGE_PATH)
    async def upload_package(request: Request):
        principal = principal_of(request)
        name = request.headers.get("x-luna-file-name", "")
        if not FILE_NAME_RE.match(name):
            raise errors.bad_request("Header X-Luna-File-Name: expected a file name of letters, digits, '.', '_' "
                                     "and '-' (at most 128 characters).", "X-Luna-File-Name")
        data = await request.body()
        if not data:
            raise errors.bad_request("The upload is empty: send the file as the request body.", "body")

        def save(db):
            db.execute("INSERT OR REPLACE INTO package_files (hsm, name, data) VALUES (?,?,?)",
                       (principal.serial, name, data))
        await rt.write(save)
        return reply({"id": name, "size": len(data)}, 201, {"Location": "%s/%s" % (PACKAGE_PATH, name)})

    @route("GET", PACKAGE_PATH)
    async def list_packages(request: Request):
        principal = principal_of(request)
        rows = rt.store.conn().execute("SELECT name, length(data) AS size FROM package_files WHERE hsm = ? ORDER BY name",
                                       (principal.serial,)).fetchall()
        return reply({"packageFiles": [{"id": r["name"], "size": r["size"]} for r in rows]})

    @route("POST", "/api/lunasa/hsms/{hsm_id}/capabilityUpdates")
    async def capability_update(request: Request, hsm_id: str):
        principal = this_hsm(request, hsm_id)
        serial = principal.serial
        body = await json_body(request)
        name, auth_code = body.get("file"), body.get("authCode")
        if not isinstance(name, str) or not name:
            raise errors.bad_request("Field 'file': the name of an uploaded package file is required.", "file")
        if not isinstance(auth_code, str) or not auth_code:
            raise errors.bad_request("Field 'authCode': the auth code delivered with the file is required.", "authCode")
        rt.require_so(principal)
        rt.check_not_busy(serial)
        conn = rt.store.conn()
        refusal = ops.cuf_refusal(conn, serial)
        if refusal is not None:
            raise refusal
        row = conn.execute("SELECT data FROM package_files WHERE hsm = ? AND name = ?", (serial, name)).fetchone()
        if row is None:
            raise ApiError("FRAMEWORK_RESOURCE_NOT_FOUND", "No package file %r on this appliance: upload it to %s "
                           "first." % (name[:128], PACKAGE_PATH), "file")
        try:
            pki.verify_cuf(rt.vendor_public, row["data"], serial, auth_code)
        except pki.CufRejected as exc:
            raise errors.not_allowed_code(exc.code, exc.message)
        task_id = await rt.start_task(
            serial, "capability_update", "%s/capabilityUpdates" % _hsm_url(serial), "%s/capabilities" % _hsm_url(serial),
            {"file": name}, rt.config["capability_update_seconds"], lambda db: ops.apply_cuf(db, serial, rt))
        log.info("capability update task %d started on HSM %s", task_id, serial)
        return accepted(task_id)

    # ------------------------------------------------------------------ tasks

    @route("GET", "/tasks/{task_id}")
    async def get_task(request: Request, task_id: str):
        principal = principal_of(request)
        row = None
        if task_id.isdigit() and len(task_id) < 19:
            row = rt.store.conn().execute("SELECT * FROM tasks WHERE id = ? AND hsm = ?",
                                          (int(task_id), principal.serial)).fetchone()
        if row is None:
            raise ApiError("FRAMEWORK_RESOURCE_NOT_FOUND", "No task %s on this appliance." % task_id[:32], "task")
        if row["state"] == "Finished" and time.time() - row["finish_time"] > rt.config["task_retention"]:
            raise ApiError("FRAMEWORK_RESOURCE_GONE", "Task %s finished more than %d seconds ago and is gone."
                           % (task_id, rt.config["task_retention"]), "task")
        body = {"id": str(row["id"]), "state": row["state"], "startTime": _iso(row["start_time"]),
                "finishTime": _iso(row["finish_time"]), "sourceUrl": row["source_url"],
                "responseUrl": row["response_url"],
                "result": json.loads(row["result"]) if row["result"] else None,
                "error": json.loads(row["error"]) if row["error"] else None}
        if row["state"] == "Finished":
            return reply(body, 303, {"Location": row["response_url"]})
        return reply(body)

    # ------------------------------------------------------------------ partitions

    def partition_or_404(conn, serial, pid):
        row = conn.execute("SELECT * FROM partitions WHERE serial = ? AND hsm = ?", (pid, serial)).fetchone()
        if row is None:
            raise ApiError("HSMPLUGIN_INVALID_PARTITION", "HSM %s has no partition %s." % (serial, pid[:32]), "pid")
        return row

    @route("GET", "/api/lunasa/hsms/{hsm_id}/partitions")
    async def list_partitions(request: Request, hsm_id: str):
        principal = this_hsm(request, hsm_id)
        rows = st.partition_rows(rt.store.conn(), principal.serial)
        url = _hsm_url(principal.serial) + "/partitions/"
        return reply({"partitions": [{"id": r["serial"], "url": url + r["serial"]} for r in rows]})

    @route("POST", "/api/lunasa/hsms/{hsm_id}/partitions")
    async def create_partition(request: Request, hsm_id: str):
        principal = this_hsm(request, hsm_id)
        body = await json_body(request)
        rt.require_so(principal)
        rt.check_not_busy(principal.serial)
        pid = await rt.write(ops.create_partition, principal.serial, body.get("name"))
        url = "%s/partitions/%s" % (_hsm_url(principal.serial), pid)
        return reply({"id": pid, "url": url}, 201, {"Location": url})

    @route("GET", "/api/lunasa/hsms/{hsm_id}/partitions/{pid}")
    async def get_partition(request: Request, hsm_id: str, pid: str):
        principal = this_hsm(request, hsm_id)
        with rt.store.read() as conn:
            row = partition_or_404(conn, principal.serial, pid)
            count = conn.execute("SELECT COUNT(*) FROM objects WHERE partition = ?", (pid,)).fetchone()[0]
        url = "%s/partitions/%s" % (_hsm_url(principal.serial), pid)
        return reply({"id": pid, "name": row["label"], "serialNumber": pid, "objectCount": count,
                      "policies": url + "/policies", "objects": url + "/objects"})

    @route("DELETE", "/api/lunasa/hsms/{hsm_id}/partitions/{pid}")
    async def delete_partition(request: Request, hsm_id: str, pid: str):
        principal = this_hsm(request, hsm_id)
        rt.require_so(principal)
        rt.check_not_busy(principal.serial)
        await rt.write(ops.delete_partition, principal.serial, pid)
        return no_content()

    @route("GET", "/api/lunasa/hsms/{hsm_id}/partitions/{pid}/policies")
    async def get_partition_policies(request: Request, hsm_id: str, pid: str):
        principal = this_hsm(request, hsm_id)
        row = partition_or_404(rt.store.conn(), principal.serial, pid)
        pols = {int(k): v for k, v in json.loads(row["policies"]).items()}
        return reply({"policies": [_partition_policy_item(principal.serial, pid, c, v) for c, v in sorted(pols.items())]})

    @route("GET", "/api/lunasa/hsms/{hsm_id}/partitions/{pid}/policies/{code}")
    async def get_partition_policy(request: Request, hsm_id: str, pid: str, code: str):
        principal = this_hsm(request, hsm_id)
        row = partition_or_404(rt.store.conn(), principal.serial, pid)
        number = policy_code(code, PARTITION_POLICY_NAMES, "partition")
        pols = {int(k): v for k, v in json.loads(row["policies"]).items()}
        return reply(_partition_policy_item(principal.serial, pid, number, pols[number]))

    @route("PUT", "/api/lunasa/hsms/{hsm_id}/partitions/{pid}/policies/{code}")
    async def put_partition_policy(request: Request, hsm_id: str, pid: str, code: str):
        principal = this_hsm(request, hsm_id)
        partition_or_404(rt.store.conn(), principal.serial, pid)
        number = policy_code(code, PARTITION_POLICY_NAMES, "partition")
        value = policy_value(await json_body(request))
        rt.require_so(principal)
        rt.check_not_busy(principal.serial)
        await rt.write(ops.set_partition_policy, principal.serial, pid, number, value)
        return no_content()

    @route("GET", "/api/lunasa/hsms/{hsm_id}/partitions/{pid}/objects")
    async def list_objects(request: Request, hsm_id: str, pid: str):
        principal = this_hsm(request, hsm_id)
        with rt.store.read() as conn:
            partition_or_404(conn, principal.serial, pid)
            rows = st.object_rows(conn, pid)
        return reply({"objects": [{"label": r["label"], "class": r["class"], "fingerprint": r["fingerprint"],
                                   "extractable": bool(r["extractable"]), "offBoard": bool(r["off_board"])}
                                  for r in rows]})

    @route("POST", "/api/lunasa/hsms/{hsm_id}/partitions/{pid}/objects")
    async def create_object(request: Request, hsm_id: str, pid: str):
        principal = this_hsm(request, hsm_id)
        body = await json_body(request)
        rt.require_so(principal)
        rt.check_not_busy(principal.serial)
        fingerprint = await rt.write(ops.create_object, principal.serial, pid, body)
        return reply({"fingerprint": fingerprint}, 201)

    # ------------------------------------------------------------------ cloning, HA, SFF

    @route("POST", "/api/lunasa/hsms/{hsm_id}/partitions/{pid}/clone")
    async def clone(request: Request, hsm_id: str, pid: str):
        principal = this_hsm(request, hsm_id)
        body = await json_body(request)
        target = body.get("target")
        target_serial = _target_serial(rt, target, "target")
        target_pid = _partition_id(target, "target")
        fingerprints = body.get("objects")
        if fingerprints is not None and (not isinstance(fingerprints, list)
                                         or not all(isinstance(f, str) for f in fingerprints)):
            raise errors.bad_request("Field 'objects': expected a list of object fingerprints or null.", "objects")
        rt.require_so(principal)
        rt.check_not_busy(target_serial)
        result = await rt.write(ops.clone, principal.serial, pid, target_serial, target_pid, fingerprints)
        return reply(result)

    @route("POST", "/api/lunasa/hsms/{hsm_id}/partitions/{pid}/synchronize")
    async def synchronize(request: Request, hsm_id: str, pid: str):
        principal = this_hsm(request, hsm_id)
        body = await json_body(request)
        peers_in = body.get("peers")
        if not isinstance(peers_in, list) or not peers_in:
            raise errors.bad_request("Field 'peers': expected a non-empty list of {hsm, partition}.", "peers")
        peers = []
        for index, peer in enumerate(peers_in):
            where = "peers[%d]" % index
            peers.append((_target_serial(rt, peer, where), _partition_id(peer, where)))
        rt.require_so(principal)
        rt.check_not_busy(principal.serial)
        return reply(await rt.write(ops.synchronize, principal.serial, pid, peers))

    @route("POST", "/api/lunasa/hsms/{hsm_id}/partitions/{pid}/sffBackup")
    async def sff_backup(request: Request, hsm_id: str, pid: str):
        principal = this_hsm(request, hsm_id)
        body = await json_body(request)
        rt.require_so(principal)
        return reply(await rt.write(ops.sff_backup, principal.serial, pid, body.get("token"), time.time()))

    @route("POST", "/api/lunasa/hsms/{hsm_id}/partitions/{pid}/sffRestore")
    async def sff_restore(request: Request, hsm_id: str, pid: str):
        principal = this_hsm(request, hsm_id)
        body = await json_body(request)
        rt.require_so(principal)
        rt.check_not_busy(principal.serial)
        return reply(await rt.write(ops.sff_restore, principal.serial, pid, body.get("token")))

    return ApplianceGate(app, rt, log_requests)
