# Copyright (c) hsmops.luna contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What each change does to the fleet, decided by the rules engine.

Every function takes an open write transaction (`db`) and raises ApiError to refuse; the
caller commits or rolls back the whole change. Every SFF, cloning and HA question is asked
of sff_rules; nothing here restates a rule.
"""

import json
import re

from ansible_collections.hsmops.luna.plugins.module_utils import sff_rules

from luna_emulator import errors, store as st
from luna_emulator.errors import ApiError
from luna_emulator.fleet import LABEL_RE, PARTITION_POLICY_NAMES, POLICY_NAMES, default_partition_policies

TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


def _partition(db, hsm_serial, pid, where="partition"):
    row = db.execute("SELECT * FROM partitions WHERE serial = ? AND hsm = ?", (pid, hsm_serial)).fetchone()
    if row is None:
        raise ApiError("HSMPLUGIN_INVALID_PARTITION", "HSM %s has no partition %s." % (hsm_serial, pid), where)
    return row


def _hsm(db, serial, where="hsm"):
    row = st.hsm_row(db, serial)
    if row is None:
        raise ApiError("HSMPLUGIN_INVALID_HSM", "No HSM %s in this fleet." % serial, where)
    return row


def wipe(db, serial):
    """Erase every partition and object of one HSM (SO, domain and SIM secret stay)."""
    n = db.execute("SELECT COUNT(*) FROM partitions WHERE hsm = ?", (serial,)).fetchone()[0]
    db.execute("DELETE FROM objects WHERE partition IN (SELECT serial FROM partitions WHERE hsm = ?)", (serial,))
    db.execute("DELETE FROM partitions WHERE hsm = ?", (serial,))
    return n


# --------------------------------------------------------------------------- HSM policies


def policy_refusal(facts, caps, pols, code, value):
    """Why HSM policy `code` may not be set to `value` (None: it may)."""
    serial = facts["serial"]
    if code in sff_rules.HSM_FIXED_POLICIES:
        return errors.not_allowed_code(
            "POLICY_FIXED", "HSM policy %s (%d) is fixed at manufacture on HSM %s and cannot be changed."
            % (POLICY_NAMES[code], code, serial))
    if value == pols[code] or value == 0:
        return None
    if code == 38:
        # Policy 38 on only where the rules engine would then call SFF active (firmware, CUF, policy).
        found = sff_rules.sff_policy_on_refusals(facts)
        if found:
            found = sorted(found, key=lambda f: f["code"] != "CUF_NOT_APPLIED")
            return errors.not_allowed(found)
    if not caps[code]:
        return errors.not_allowed_code(
            "CAPABILITY_NOT_PRESENT", "HSM %s lacks capability %s (%d); a policy can never be more permissive than "
            "its capability." % (serial, POLICY_NAMES[code], code))
    return None


def set_policies(db, serial, changes, rt=None):
    """Non-destructive HSM policy changes {code: value}, all or nothing. Returns the codes changed."""
    row = _hsm(db, serial)
    facts = st.hsm_facts(db, row, partitions=False)
    caps, pols = st.capabilities(row), st.policies(row)
    changed = []
    for code, value in changes.items():
        refusal = policy_refusal(facts, caps, pols, code, value)
        if refusal is not None:
            raise refusal
        if pols[code] != value:
            if code in sff_rules.HSM_DESTRUCTIVE_POLICIES:
                raise errors.bad_request("HSM policy %d is destructive: change it alone with PUT and "
                                         "\"confirm\": \"proceed\"." % code, "policies")
            pols[code] = value
            changed.append(code)
    if changed:
        db.execute("UPDATE hsms SET policies = ? WHERE serial = ?", (json.dumps(pols), serial))
        if rt is not None:
            rt.maybe_crash(serial, "policy_change")
    return changed


def apply_destructive_policy(db, serial, code, value, rt=None):
    """A destructive policy change: the wipe and the new value in one transaction."""
    row = _hsm(db, serial)
    facts = st.hsm_facts(db, row, partitions=False)
    caps, pols = st.capabilities(row), st.policies(row)
    refusal = policy_refusal(facts, caps, pols, code, value)
    if refusal is not None:
        raise refusal
    erased = wipe(db, serial)
    pols[code] = value
    db.execute("UPDATE hsms SET policies = ? WHERE serial = ?", (json.dumps(pols), serial))
    if rt is not None:
        rt.maybe_crash(serial, "policy_change")
    return {"policy": code, "value": value, "partitionsErased": erased}


# --------------------------------------------------------------------------- capability update


def cuf_refusal(db, serial):
    """Refusals that do not depend on the file: engine's capability_refusals, already applied."""
    row = _hsm(db, serial)
    facts = st.hsm_facts(db, row, partitions=False)
    found = sff_rules.capability_refusals(facts)
    if found:
        return errors.not_allowed(found)
    if facts["sff_capability"]:
        return errors.not_allowed_code(
            "CUF_ALREADY_APPLIED", "HSM %s already has the SFF backup capability update applied." % serial)
    return None


def apply_cuf(db, serial, rt=None):
    """Re-initialise the HSM with capability 38: every partition and object erased; SO, cloning
    domain and SIM secret kept; policy 38 stays off. One transaction."""
    refusal = cuf_refusal(db, serial)
    if refusal is not None:
        raise refusal
    row = _hsm(db, serial)
    caps, pols = st.capabilities(row), st.policies(row)
    erased = wipe(db, serial)
    caps[38] = 1
    pols[38] = 0
    db.execute("UPDATE hsms SET capabilities = ?, policies = ? WHERE serial = ?",
               (json.dumps(caps), json.dumps(pols), serial))
    if rt is not None:
        rt.maybe_crash(serial, "capability_update")
    return {"capability": 38, "value": 1, "partitionsErased": erased}


# --------------------------------------------------------------------------- partitions


def create_partition(db, serial, name):
    if not isinstance(name, str) or not LABEL_RE.match(name):
        raise errors.bad_request("Field 'name': a partition label must match ^[A-Za-z0-9_]{1,32}$.", "name")
    row = _hsm(db, serial)
    if db.execute("SELECT 1 FROM partitions WHERE hsm = ? AND label = ?", (serial, name)).fetchone():
        raise errors.not_allowed_code("LABEL_IN_USE", "HSM %s already has a partition labelled %s: choose another "
                                      "label or delete that partition first." % (serial, name))
    facts = st.hsm_facts(db, row, partitions=False)
    pid = st.next_partition_id(db)
    db.execute("INSERT INTO partitions (serial, hsm, label, policies) VALUES (?,?,?,?)",
               (pid, serial, name, json.dumps(default_partition_policies(facts))))
    return pid


def delete_partition(db, serial, pid):
    _partition(db, serial, pid)
    db.execute("DELETE FROM objects WHERE partition = ?", (pid,))
    db.execute("DELETE FROM partitions WHERE serial = ?", (pid,))


def set_partition_policy(db, serial, pid, code, value):
    prow = _partition(db, serial, pid)
    row = _hsm(db, serial)
    name = PARTITION_POLICY_NAMES[code]
    found = sff_rules.partition_policy_refusals(st.hsm_facts(db, row, partitions=False), {name: bool(value)})
    if found:
        raise errors.not_allowed(found)
    policies = {int(k): v for k, v in json.loads(prow["policies"]).items()}
    policies[code] = value
    db.execute("UPDATE partitions SET policies = ? WHERE serial = ?", (json.dumps(policies), pid))


def create_object(db, serial, pid, body):
    _partition(db, serial, pid)
    label = body.get("label")
    if not isinstance(label, str) or not 1 <= len(label) <= 64:
        raise errors.bad_request("Field 'label': expected a string of 1 to 64 characters.", "label")
    cls = body.get("class", "secret_key")
    if cls not in sff_rules.OBJECT_CLASSES:
        raise errors.bad_request("Field 'class': expected one of %s." % ", ".join(sff_rules.OBJECT_CLASSES), "class")
    fingerprint = body.get("fingerprint") or "%s:%s" % (cls, label)
    if not isinstance(fingerprint, str) or len(fingerprint) > 128:
        raise errors.bad_request("Field 'fingerprint': expected a string of at most 128 characters.", "fingerprint")
    extractable = body.get("extractable", False)
    if not isinstance(extractable, bool):
        raise errors.bad_request("Field 'extractable': expected true or false.", "extractable")
    if db.execute("SELECT 1 FROM objects WHERE partition = ? AND fingerprint = ?", (pid, fingerprint)).fetchone():
        raise errors.not_allowed_code("OBJECT_EXISTS", "Partition %s on HSM %s already holds an object with "
                                      "fingerprint %s." % (pid, serial, fingerprint))
    db.execute("INSERT INTO objects (partition, label, class, fingerprint, extractable, off_board) VALUES (?,?,?,?,?,0)",
               (pid, label, cls, fingerprint, int(extractable)))
    return fingerprint


# --------------------------------------------------------------------------- cloning


def _find_partition(facts, pid, where):
    for part in facts["partitions"]:
        if part["serial"] == pid:
            return part
    raise ApiError("HSMPLUGIN_INVALID_PARTITION", "HSM %s has no partition %s." % (facts["serial"], pid), where)


def _cloning_failed(code, findings, return_code):
    return ApiError("HSMPLUGIN_CLONING_FAILED", " ".join(f["message"] for f in findings), code, return_code or 0)


def _clone_into(db, src_facts, src_part, dst_facts, dst_part, objects):
    """Copy `objects` (from src_part) that dst_part lacks; the rules engine decides. Returns (cloned, skipped)."""
    verdict = sff_rules.clone_verdict(src_facts, dst_facts)
    if not verdict["possible"]:
        return_code = sff_rules.clone_failure_code(verdict)
        details = next((r for r in verdict["reasons"]
                        if sff_rules.clone_failure_code({"reasons": [r]}) == return_code), verdict["reasons"][0])
        raise _cloning_failed(details, verdict["findings"], return_code)
    have = {o["fingerprint"] for o in dst_part["objects"]}
    todo = []
    for obj in objects:
        if obj["fingerprint"] in have:
            continue
        refusal = sff_rules.object_clone_refusal(obj, dst_facts, dst_part)
        if refusal is not None:
            raise _cloning_failed(refusal["code"], [refusal],
                                  sff_rules.clone_failure_code({"reasons": [refusal["code"]]}))
        todo.append(obj)
        have.add(obj["fingerprint"])
    db.executemany(
        "INSERT INTO objects (partition, label, class, fingerprint, extractable, off_board) VALUES (?,?,?,?,?,?)",
        [(dst_part["serial"], o["label"], o["class"], o["fingerprint"], int(o["extractable"]), int(o["off_board"]))
         for o in todo])
    dst_part["objects"] = dst_part["objects"] + todo
    return len(todo), len(objects) - len(todo)


def clone(db, serial, pid, target_serial, target_pid, fingerprints):
    src_facts = st.hsm_facts(db, _hsm(db, serial))
    src_part = _find_partition(src_facts, pid, "partition")
    dst_facts = st.hsm_facts(db, _hsm(db, target_serial, "target.hsm"))
    dst_part = _find_partition(dst_facts, target_pid, "target.partition")
    if (serial, pid) == (target_serial, target_pid):
        raise errors.bad_request("Field 'target': the target is the source partition itself.", "target")
    objects = src_part["objects"]
    if fingerprints is not None:
        by_fp = {o["fingerprint"]: o for o in objects}
        missing = [fp for fp in fingerprints if fp not in by_fp]
        if missing:
            raise errors.bad_request("Field 'objects': partition %s on HSM %s holds no object with fingerprint %s."
                                     % (pid, serial, missing[0]), "objects")
        objects = [by_fp[fp] for fp in dict.fromkeys(fingerprints)]
    cloned, skipped = _clone_into(db, src_facts, src_part, dst_facts, dst_part, objects)
    return {"cloned": cloned, "skipped": skipped}


def synchronize(db, serial, pid, peers):
    here = st.hsm_facts(db, _hsm(db, serial))
    part = _find_partition(here, pid, "partition")
    total = 0
    cache = {serial: here}
    for index, (peer_serial, peer_pid) in enumerate(peers):
        where = "peers[%d]" % index
        if (peer_serial, peer_pid) == (serial, pid):
            raise errors.bad_request("Field '%s': a partition cannot synchronise from itself." % where, where)
        if peer_serial not in cache:
            cache[peer_serial] = st.hsm_facts(db, _hsm(db, peer_serial, where + ".hsm"))
        peer = cache[peer_serial]
        peer_part = _find_partition(peer, peer_pid, where + ".partition")
        cloned, _ = _clone_into(db, peer, peer_part, here, part, peer_part["objects"])
        total += cloned
    return {"cloned": total}


# --------------------------------------------------------------------------- SFF backup / restore


def sff_backup(db, serial, pid, token, now):
    if not isinstance(token, str) or not TOKEN_RE.match(token):
        raise errors.bad_request("Field 'token': expected a token label matching ^[A-Za-z0-9_-]{1,32}$.", "token")
    facts = st.hsm_facts(db, _hsm(db, serial))
    part = _find_partition(facts, pid, "partition")
    allowed = sff_rules.partition_sff_backup(facts, part)
    if allowed["findings"]:
        raise errors.not_allowed(allowed["findings"])
    include = {"private_key": allowed["private_keys"], "secret_key": allowed["secret_keys"]}
    chosen = [o for o in part["objects"] if include.get(o["class"], True)]
    fps = [o["fingerprint"] for o in chosen]
    db.executemany("UPDATE objects SET off_board = 1 WHERE partition = ? AND fingerprint = ?",
                   [(pid, fp) for fp in fps])
    stored = [dict(o, off_board=True) for o in chosen]
    source = {k: facts[k] for k in ("serial", "label", "firmware", "auth", "cloning", "sff_capability",
                                     "sff_policy", "cloning_domain", "sim_secret")}
    db.execute("INSERT OR REPLACE INTO tokens (label, source_hsm, source_partition, source_facts, objects, created)"
               " VALUES (?,?,?,?,?,?)", (token, serial, pid, json.dumps(source), json.dumps(stored), now))
    return {"token": token, "objects": len(stored)}


INTERCHANGE_MESSAGES = {
    "SFF_NOT_ACTIVE": "SFF backups can be restored only on an HSM with SFF backup active; HSM %(here)s does not "
                      "have it active (firmware, CUF and policy 38 are all needed).",
    "SIM_SECRET_MISMATCH": "Token %(token)s was made on HSM %(src)s; HSM %(here)s does not hold the same SIM "
                           "(masking) secret, so it cannot read the backup.",
}


def sff_restore(db, serial, pid, token):
    if not isinstance(token, str) or not TOKEN_RE.match(token):
        raise errors.bad_request("Field 'token': expected a token label matching ^[A-Za-z0-9_-]{1,32}$.", "token")
    trow = db.execute("SELECT * FROM tokens WHERE label = ?", (token,)).fetchone()
    if trow is None:
        raise ApiError("FRAMEWORK_RESOURCE_NOT_FOUND", "No SFF token %s: back a partition up to it first." % token, "token")
    here = st.hsm_facts(db, _hsm(db, serial))
    part = _find_partition(here, pid, "partition")
    source = sff_rules.validate_hsm(json.loads(trow["source_facts"]))
    # seed: last table row, "Can interchange provided the same SIM secret is on both HSMs".
    verdict = sff_rules.clone_verdict(source, here)
    if not verdict["sff_interchange"]:
        found = [sff_rules.reason(code, serial, INTERCHANGE_MESSAGES[code] % {"here": serial, "src": source["serial"],
                                                                               "token": token})
                 for code in verdict["interchange_reasons"]]
        raise errors.not_allowed(found)
    allowed = sff_rules.partition_sff_backup(here, part)
    if allowed["findings"]:
        raise errors.not_allowed(allowed["findings"])
    have = {o["fingerprint"] for o in part["objects"]}
    todo = [o for o in json.loads(trow["objects"]) if o["fingerprint"] not in have]
    db.executemany(
        "INSERT INTO objects (partition, label, class, fingerprint, extractable, off_board) VALUES (?,?,?,?,?,1)",
        [(pid, o["label"], o["class"], o["fingerprint"], int(o["extractable"])) for o in todo])
    return {"objects": len(todo)}
