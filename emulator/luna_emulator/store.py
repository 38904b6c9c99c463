# Copyright (c) hsmops.luna contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet's state in SQLite (WAL, synchronous=FULL).

Every change is one transaction (`Store.write`), so a crash leaves the fleet either before
or after it; reads use their own connection per thread and never wait for a writer.
"""

import contextlib
import json
import sqlite3
import threading
import time

from ansible_collections.hsmops.luna.plugins.module_utils import sff_rules

SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE hsms (
    serial TEXT PRIMARY KEY, position INTEGER NOT NULL, label TEXT NOT NULL, model TEXT NOT NULL,
    firmware TEXT NOT NULL, auth TEXT NOT NULL, cloning_domain TEXT NOT NULL, sim_secret TEXT,
    capabilities TEXT NOT NULL, policies TEXT NOT NULL, so_password TEXT NOT NULL,
    faults TEXT NOT NULL, port INTEGER);
CREATE TABLE partitions (
    serial TEXT PRIMARY KEY, hsm TEXT NOT NULL REFERENCES hsms(serial), label TEXT NOT NULL,
    policies TEXT NOT NULL, UNIQUE (hsm, label));
CREATE TABLE objects (
    id INTEGER PRIMARY KEY, partition TEXT NOT NULL REFERENCES partitions(serial) ON DELETE CASCADE,
    label TEXT NOT NULL, class TEXT NOT NULL, fingerprint TEXT NOT NULL,
    extractable INTEGER NOT NULL, off_board INTEGER NOT NULL);
CREATE INDEX objects_by_partition ON objects (partition);
CREATE TABLE tokens (
    label TEXT PRIMARY KEY, source_hsm TEXT NOT NULL, source_partition TEXT NOT NULL,
    source_facts TEXT NOT NULL, objects TEXT NOT NULL, created REAL NOT NULL);
CREATE TABLE package_files (
    hsm TEXT NOT NULL, name TEXT NOT NULL, data BLOB NOT NULL, PRIMARY KEY (hsm, name));
CREATE TABLE tasks (
    id INTEGER PRIMARY KEY, hsm TEXT NOT NULL, kind TEXT NOT NULL, state TEXT NOT NULL,
    start_time REAL NOT NULL, finish_time REAL, source_url TEXT NOT NULL, response_url TEXT NOT NULL,
    params TEXT NOT NULL, result TEXT, error TEXT);
CREATE TABLE user_state (
    hsm TEXT NOT NULL, user TEXT NOT NULL, failures INTEGER NOT NULL, locked INTEGER NOT NULL,
    PRIMARY KEY (hsm, user));
"""

FIRST_PARTITION_ID = 1000000


def _codes(text):
    return {int(k): v for k, v in json.loads(text).items()}


class Store:
    """One SQLite file, one connection per thread."""

    def __init__(self, path):
        self.path = str(path)
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._all = []
        self._all_lock = threading.Lock()

    def conn(self):
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            self._local.conn = conn
            with self._all_lock:
                self._all.append(conn)
        return conn

    @contextlib.contextmanager
    def write(self):
        """One transaction: committed when the block ends, rolled back if it raises."""
        with self._write_lock:
            conn = self.conn()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @contextlib.contextmanager
    def read(self):
        """A consistent snapshot for several SELECTs (WAL: never blocked by a writer)."""
        conn = self.conn()
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    def close(self):
        with self._all_lock:
            for conn in self._all:
                try:
                    conn.close()
                except sqlite3.Error:
                    pass
            self._all = []
        self._local = threading.local()

    # ------------------------------------------------------------------ building

    def create(self, fleet):
        """First start: the whole fleet from the checked fleet file, in one transaction."""
        with self.write() as db:
            # DDL inside the transaction: a crash here leaves an empty file, built again at the next start.
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            meta = {
                "fleet_name": fleet["name"],
                "users": fleet["users"],
                "config": fleet["config"],
                "ha_groups": fleet["ha_groups"],
                "created": time.time(),
            }
            explicit = [int(p["serial"]) for h in fleet["hsms"] for p in h["partitions"] if p["serial"] is not None]
            next_id = max([FIRST_PARTITION_ID - 1] + explicit) + 1
            for position, hsm in enumerate(fleet["hsms"]):
                db.execute(
                    "INSERT INTO hsms (serial, position, label, model, firmware, auth, cloning_domain, sim_secret,"
                    " capabilities, policies, so_password, faults) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                    (hsm["serial"], position, hsm["label"], hsm["model"], hsm["firmware"], hsm["auth"],
                     hsm["cloning_domain"], hsm["sim_secret"], json.dumps(hsm["capabilities"]),
                     json.dumps(hsm["policies"]), hsm["so_password"], json.dumps(hsm["faults"])))
                for part in hsm["partitions"]:
                    pserial = part["serial"]
                    if pserial is None:
                        pserial = str(next_id)
                        next_id += 1
                    db.execute("INSERT INTO partitions (serial, hsm, label, policies) VALUES (?,?,?,?)",
                               (pserial, hsm["serial"], part["label"], json.dumps(part["policies"])))
                    db.executemany(
                        "INSERT INTO objects (partition, label, class, fingerprint, extractable, off_board)"
                        " VALUES (?,?,?,?,?,?)",
                        [(pserial, o["label"], o["class"], o["fingerprint"], int(o["extractable"]), int(o["off_board"]))
                         for o in hsm_objects(part)])
            meta["next_partition_id"] = next_id
            db.executemany("INSERT INTO meta (key, value) VALUES (?, ?)",
                           [(k, json.dumps(v)) for k, v in meta.items()])

    def meta_missing(self):
        try:
            return self.meta("fleet_name") is None
        except sqlite3.OperationalError:
            return True

    def meta(self, key):
        row = self.conn().execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row["value"])


def hsm_objects(part):
    return part.get("objects") or []


def set_meta(db, key, value):
    db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, json.dumps(value)))


def next_partition_id(db):
    value = json.loads(db.execute("SELECT value FROM meta WHERE key = 'next_partition_id'").fetchone()["value"])
    set_meta(db, "next_partition_id", value + 1)
    return str(value)


def hsm_row(db, serial):
    return db.execute("SELECT * FROM hsms WHERE serial = ?", (serial,)).fetchone()


def partition_rows(db, serial):
    return db.execute("SELECT * FROM partitions WHERE hsm = ? ORDER BY CAST(serial AS INTEGER)", (serial,)).fetchall()


def object_rows(db, pserial):
    return db.execute("SELECT * FROM objects WHERE partition = ? ORDER BY id", (pserial,)).fetchall()


def object_dict(row):
    return {"label": row["label"], "class": row["class"], "fingerprint": row["fingerprint"],
            "extractable": bool(row["extractable"]), "off_board": bool(row["off_board"])}


def partition_facts(db, prow, with_objects=True):
    """One partition in the fact schema (docs/facts.md)."""
    from luna_emulator.fleet import PARTITION_POLICY_NAMES

    policies = {PARTITION_POLICY_NAMES[c]: bool(v) for c, v in _codes(prow["policies"]).items()}
    objects = [object_dict(r) for r in object_rows(db, prow["serial"])] if with_objects else []
    return {"serial": prow["serial"], "label": prow["label"], "policies": policies, "objects": objects}


def hsm_facts(db, row, partitions=True):
    """The HSM in the fact schema, checked by the rules engine (sff_rules.validate_hsm)."""
    from luna_emulator.fleet import POLICY_NAMES

    caps = _codes(row["capabilities"])
    pols = _codes(row["policies"])
    facts = {
        "serial": row["serial"],
        "label": row["label"],
        "model": row["model"],
        "firmware": row["firmware"],
        "auth": row["auth"],
        "cloning": bool(caps[7]),
        "sff_capability": bool(caps[38]),
        "sff_policy": bool(pols[38]),
        "cloning_domain": row["cloning_domain"],
        "sim_secret": row["sim_secret"],
        "policies": {POLICY_NAMES[c]: bool(v) for c, v in pols.items()},
        "partitions": [partition_facts(db, p) for p in partition_rows(db, row["serial"])] if partitions else [],
    }
    return sff_rules.validate_hsm(facts)


def capabilities(row):
    return _codes(row["capabilities"])


def policies(row):
    return _codes(row["policies"])
