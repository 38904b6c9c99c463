# Copyright (c) hsmops.luna contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the running emulator keeps besides SQLite: sessions, SO logins, fault counters, tasks.

Lockout state is persisted (a restart does not unlock a user); sessions and SO logins are
not (a restarted appliance forgets them, as a real one does).
"""

import asyncio
import base64
import binascii
import hmac
import json
import logging
import os
import secrets
import threading
import time

from starlette.concurrency import run_in_threadpool

from luna_emulator import errors, store as st
from luna_emulator.errors import ApiError
from luna_emulator.fleet import READ_ONLY_USERS, default_faults

log = logging.getLogger("luna_emulator")

SO_USER = "so"  # HSM SO login failures are counted under this name (unlock: /emulator/users/so/unlock)
CRASH_EXIT_STATUS = 86


class Principal:
    __slots__ = ("serial", "user", "session", "read_only")

    def __init__(self, serial, user, session):
        self.serial = serial
        self.user = user
        self.session = session
        self.read_only = user in READ_ONLY_USERS


class Runtime:
    def __init__(self, store):
        self.store = store
        self.users = store.meta("users")
        self.config = store.meta("config")
        self.fleet_name = store.meta("fleet_name")
        self.port_to_serial = {}
        self.serial_to_port = {}
        self.serials = []
        self.labels = {}
        self.lock = threading.Lock()
        self.sessions = {}  # token -> {"serial", "user", "last", "so"}
        self.so_basic = {}  # (serial, user) -> expiry of an SO login made with Basic
        self.user_state = {}  # (serial, user) -> [failures, locked]
        self.faults = {}
        self.counters = {}
        self.busy = {}  # serial -> id of the task changing that HSM
        self.tasks = set()
        self.vendor_public = None
        conn = store.conn()
        for row in conn.execute("SELECT serial, label, faults FROM hsms ORDER BY position"):
            self.serials.append(row["serial"])
            self.labels[row["serial"]] = row["label"]
            self.faults[row["serial"]] = json.loads(row["faults"])
            self.counters[row["serial"]] = 0
        for row in conn.execute("SELECT * FROM user_state"):
            self.user_state[(row["hsm"], row["user"])] = [row["failures"], bool(row["locked"])]
        self._basic_cache = {}

    # ------------------------------------------------------------------ writes and tasks

    async def write(self, fn, *args):
        """Run fn(db, *args) in one transaction on a worker thread (commits fsync: keep the loop free)."""
        def run():
            with self.store.write() as db:
                return fn(db, *args)
        return await run_in_threadpool(run)

    def maybe_crash(self, serial, point):
        """Fault `crash_during`: die in the middle of the operation, before its transaction commits."""
        if self.faults.get(serial, {}).get("crash_during") == point:
            log.warning("fault crash_during=%s on HSM %s: exiting before commit", point, serial)
            logging.shutdown()
            os._exit(CRASH_EXIT_STATUS)

    def check_not_busy(self, serial):
        task = self.busy.get(serial)
        if task is not None:
            raise errors.not_allowed_code(
                "OPERATION_IN_PROGRESS",
                "HSM %s is being changed by task %s: wait until GET /tasks/%s is Finished, then retry." % (serial, task, task))

    async def start_task(self, serial, kind, source_url, response_url, params, duration, apply_fn):
        """Record the task (committed before the 202), then run apply_fn(db) after `duration` seconds.

        apply_fn's changes and the task's Finished state commit in one transaction.
        """
        def insert(db):
            cur = db.execute(
                "INSERT INTO tasks (hsm, kind, state, start_time, source_url, response_url, params)"
                " VALUES (?,?,?,?,?,?,?)",
                (serial, kind, "Running", time.time(), source_url, response_url, json.dumps(params)))
            return cur.lastrowid
        self.check_not_busy(serial)
        task_id = await self.write(insert)
        self.busy[serial] = task_id
        task = asyncio.get_running_loop().create_task(self._run_task(task_id, serial, duration, apply_fn))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task_id

    async def _run_task(self, task_id, serial, duration, apply_fn):
        try:
            await asyncio.sleep(duration)

            def finish(db):
                db.execute("SAVEPOINT operation")
                try:
                    result, error = apply_fn(db), None
                    db.execute("RELEASE operation")
                except ApiError as exc:
                    db.execute("ROLLBACK TO operation")
                    db.execute("RELEASE operation")
                    result, error = None, exc.body()
                db.execute("UPDATE tasks SET state = 'Finished', finish_time = ?, result = ?, error = ? WHERE id = ?",
                           (time.time(), None if result is None else json.dumps(result),
                            None if error is None else json.dumps(error), task_id))
            await self.write(finish)
        except asyncio.CancelledError:  # shutting down: the task stays Running and is failed at the next start
            raise
        except Exception:  # noqa: BLE001 - recorded on the task; never leaves it Running
            log.exception("task %s on HSM %s failed", task_id, serial)
            body = errors.error_body("FRAMEWORK_INTERNAL_ERROR", "The task failed inside the emulator; nothing was changed.")
            await self.write(lambda db: db.execute(
                "UPDATE tasks SET state = 'Finished', finish_time = ?, error = ? WHERE id = ? AND state != 'Finished'",
                (time.time(), json.dumps(body), task_id)))
        finally:
            if self.busy.get(serial) == task_id:
                del self.busy[serial]

    def fail_interrupted_tasks(self):
        """At start: a task left Running by a stop or crash did not commit its change: say so."""
        body = errors.error_body(
            "FRAMEWORK_SERVICE_UNAVAILABLE",
            "The appliance restarted while this task ran; its change was not applied: start it again.")
        with self.store.write() as db:
            db.execute("UPDATE tasks SET state = 'Finished', finish_time = ?, error = ? WHERE state != 'Finished'",
                       (time.time(), json.dumps(body)))

    # ------------------------------------------------------------------ authentication

    def _locked(self, serial, user):
        state = self.user_state.get((serial, user))
        return bool(state and state[1])

    async def record_failure(self, serial, user):
        with self.lock:
            state = self.user_state.setdefault((serial, user), [0, False])
            state[0] += 1
            if state[0] >= self.config["lockout_after"]:
                state[1] = True
            failures, locked = state
        if locked:
            log.warning("user %s locked out on HSM %s after %d failed logins", user, serial, failures)
        await self.write(lambda db: db.execute(
            "INSERT OR REPLACE INTO user_state (hsm, user, failures, locked) VALUES (?,?,?,?)",
            (serial, user, failures, int(locked))))

    async def record_success(self, serial, user):
        state = self.user_state.get((serial, user))
        if state and state[0] and not state[1]:
            with self.lock:
                state[0] = 0
            await self.write(lambda db: db.execute("DELETE FROM user_state WHERE hsm = ? AND user = ?", (serial, user)))

    async def unlock(self, serial, user):
        with self.lock:
            self.user_state.pop((serial, user), None)
        await self.write(lambda db: db.execute("DELETE FROM user_state WHERE hsm = ? AND user = ?", (serial, user)))

    def _session(self, headers, serial):
        cookie = headers.get(b"cookie")
        if not cookie:
            return None
        for part in cookie.decode("latin-1").split(";"):
            name, _, value = part.strip().partition("=")
            if name == "SESSION":
                session = self.sessions.get(value)
                if session is None or session["serial"] != serial:
                    continue  # another appliance's cookie (cookies ignore ports) or an unknown one
                now = time.monotonic()
                if now - session["last"] > self.config["session_idle_timeout"]:
                    self.sessions.pop(value, None)
                    continue
                session["last"] = now
                return value, session
        return None

    async def authenticate(self, headers, serial):
        """A valid SESSION cookie for this appliance, else HTTP Basic; raises 401/403."""
        found = self._session(headers, serial)
        if found is not None:
            token, session = found
            if self._locked(serial, session["user"]):
                raise ApiError("FRAMEWORK_FORBIDDEN", "User %s is locked out on this appliance: ask the appliance "
                               "administrator to unlock it." % session["user"], "USER_LOCKED")
            return Principal(serial, session["user"], token)
        auth = headers.get(b"authorization")
        if not auth:
            raise errors.unauthorized()
        scheme, _, value = auth.partition(b" ")
        if scheme.lower() != b"basic":
            raise errors.unauthorized("Only HTTP Basic authentication or a SESSION cookie is accepted.")
        try:
            user, sep, password = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise errors.unauthorized("Malformed HTTP Basic credentials.")
        if not sep or user not in self.users:
            raise errors.unauthorized("Wrong user name or password.")
        if self._locked(serial, user):
            raise ApiError("FRAMEWORK_FORBIDDEN", "User %s is locked out on this appliance after too many failed "
                           "logins: ask the appliance administrator to unlock it." % user, "USER_LOCKED")
        if not hmac.compare_digest(password.encode(), self.users[user].encode()):
            await self.record_failure(serial, user)
            raise errors.unauthorized("Wrong user name or password.")
        await self.record_success(serial, user)
        return Principal(serial, user, None)

    def new_session(self, serial, user):
        if len(self.sessions) >= 10000:  # forget idle sessions so a long run does not grow without bound
            cutoff = time.monotonic() - self.config["session_idle_timeout"]
            for key in [k for k, v in self.sessions.items() if v["last"] < cutoff]:
                del self.sessions[key]
        token = secrets.token_urlsafe(32)
        self.sessions[token] = {"serial": serial, "user": user, "last": time.monotonic(), "so": False}
        return token

    def so_logged_in(self, principal):
        if principal.session is not None:
            session = self.sessions.get(principal.session)
            return bool(session and session["so"])
        return self.so_basic.get((principal.serial, principal.user), 0) > time.monotonic()

    def set_so(self, principal, value):
        if principal.session is not None:
            session = self.sessions.get(principal.session)
            if session is not None:
                session["so"] = value
        elif value:
            self.so_basic[(principal.serial, principal.user)] = time.monotonic() + self.config["so_login_timeout"]
        else:
            self.so_basic.pop((principal.serial, principal.user), None)

    def require_so(self, principal):
        if not self.so_logged_in(principal):
            raise ApiError("HSMPLUGIN_NOT_LOGGED_IN", "The HSM SO is not logged in on HSM %s: POST "
                           "/api/lunasa/hsms/%s/login with the SO password first." % (principal.serial, principal.serial))

    def so_locked(self, serial):
        return self._locked(serial, SO_USER)

    # ------------------------------------------------------------------ faults

    def set_faults(self, serial, faults):
        self.faults[serial] = faults
        self.counters[serial] = 0

    def faults_active(self, serial):
        faults = self.faults.get(serial)
        return faults is not None and faults != default_faults()


def hsm_or_404(db, serial):
    row = st.hsm_row(db, serial)
    if row is None:
        raise ApiError("HSMPLUGIN_INVALID_HSM", "No HSM %s in this fleet." % serial, "hsm")
    return row
