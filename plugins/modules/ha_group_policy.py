#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) hsmops.luna contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: ha_group_policy
short_description: Switch SFF backup on or off on every member of one HA group at once
version_added: 0.1.0
description:
  - HA members whose SFF states differ cannot replicate (C(CKR_DATA_INVALID)), so HSM policy
    38 must change on every member of a group together. This module keeps the mixed window
    as short as it can.
  - It gathers fresh facts of every member (concurrently), asks the rules engine
    (C(sff_change_plan)) whether the change is safe for the group (every member capable, with
    the CUF applied, nothing diverging), logs the HSM SO in on every member that changes, and
    only then flips policy 38 on all those members at the same moment (one connection each,
    released together), so the group is mixed for about one request's round trip whatever the
    number of members.
  - When a flip fails midway the task fails naming exactly which members were changed and which
    were not; running the task again finishes the change (it flips only members that still differ).
author:
  - hsmops engineers (@hsmops)
extends_documentation_fragment:
  - hsmops.luna.connection
  - hsmops.luna.connection.so_password
  - hsmops.luna.attributes
  - hsmops.luna.attributes.actiongroup_luna
attributes:
  check_mode:
    support: full
    details:
      - Check mode gathers facts and returns the plan; nothing is logged in or changed.
  diff_mode:
    support: full
  idempotent:
    support: full
options:
  url:
    description:
      - Not used by this module; give each member's O(members[].url).
    required: false
  password:
    description:
      - Default appliance password for members that do not set O(members[].password).
    required: false
  so_password:
    description:
      - Default HSM SO password for members that do not set O(members[].so_password).
  group:
    description:
      - Name of the HA group, used in the plan and in messages.
    type: str
    default: ha_group
  members:
    description:
      - Every member of the HA group (all of them, since a member left out cannot be proven compatible).
      - Keys not given fall back to the module's connection options.
    type: list
    elements: dict
    required: true
    suboptions:
      url:
        description: Base URL of the member's appliance.
        type: str
        required: true
      name:
        description: Name used in results and messages. Defaults to O(members[].url).
        type: str
      username:
        description: Appliance user.
        type: str
      password:
        description: Appliance password. Never logged or returned.
        type: str
      so_password:
        description: HSM SO password of this member. Never logged or returned.
        type: str
      ca_path:
        description: CA file for this appliance's certificate.
        type: path
      validate_certs:
        description: Verify this appliance's certificate.
        type: bool
      timeout:
        description: Seconds to wait for each HTTP answer.
        type: int
  sff_backup:
    description:
      - V(true) switches HSM policy 38 on for every member, V(false) off.
    type: bool
    required: true
seealso:
  - module: hsmops.luna.hsm_capability
  - module: hsmops.luna.ha_group_info
  - module: hsmops.luna.sff_check
"""

EXAMPLES = r"""
- name: Switch SFF backup on for HA group ha_east
  hsmops.luna.ha_group_policy:
    group: ha_east
    members:
      - {name: east_1, url: "https://east1.example.com:8443"}
      - {name: east_2, url: "https://east2.example.com:8443"}
    password: "{{ vault_luna_admin_password }}"
    so_password: "{{ vault_luna_so_password }}"
    sff_backup: true
  register: flip

- name: How long the group was mixed
  ansible.builtin.debug:
    msg: "{{ flip.mixed_window_ms }} ms"
"""

RETURN = r"""
plan:
  description: The rules engine's C(sff_change_plan) for the group.
  returned: success
  type: dict
members:
  description: Every member with C(name), C(url), C(serial), C(before) and C(after) (C(sff_policy), C(sff_active)) and C(changed).
  returned: always
  type: list
  elements: dict
mixed_window_ms:
  description:
    - Milliseconds from the moment the first flip was sent to the last member's acknowledgement
      (C(time.monotonic)), an upper bound of the time the group can have been mixed. 0 when no
      member needed a change, null in check mode and when a flip failed.
  returned: success
  type: float
flipped:
  description: Names of the members whose policy 38 was changed by this run.
  returned: always
  type: list
  elements: str
"""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.hsmops.luna.plugins.module_utils.luna_client import (
    LunaError,
    client_from_params,
    luna_argument_spec,
)
from ansible_collections.hsmops.luna.plugins.module_utils.luna_facts import gather_hsm_facts
from ansible_collections.hsmops.luna.plugins.module_utils.sff_plan import APPLY_CUF, sff_change_plan
from ansible_collections.hsmops.luna.plugins.module_utils.sff_rules import HSM_POLICY_CODES, FactError, sff_active

SFF_CODE = HSM_POLICY_CODES["sff_backup"]
MEMBER_SPEC = dict(
    url=dict(type="str", required=True),
    name=dict(type="str"),
    username=dict(type="str"),
    password=dict(type="str", no_log=True),
    so_password=dict(type="str", no_log=True),
    ca_path=dict(type="path"),
    validate_certs=dict(type="bool"),
    timeout=dict(type="int"),
)


class Member(object):
    def __init__(self, params, spec):
        self.name = spec.get("name") or spec["url"]
        self.url = spec["url"]
        self.so_password = spec.get("so_password") or params.get("so_password")
        overrides = dict((k, v) for k, v in spec.items() if v is not None and k != "so_password")
        overrides["name"] = self.name
        self.client = client_from_params(params, **overrides)
        self.facts = None
        self.error = None
        self.changed = False
        self.sent = None  # time.monotonic() when the flip was sent / acknowledged
        self.acked = None

    def state(self, facts=None):
        facts = facts or self.facts
        return {"sff_policy": facts["sff_policy"], "sff_active": sff_active(facts)}

    def report(self, after=None):
        out = {"name": self.name, "url": self.url, "serial": self.facts["serial"] if self.facts else None,
               "changed": self.changed}
        if self.facts:
            out["before"] = self.state()
            out["after"] = after if after is not None else self.state()
        if self.error:
            out["msg"] = self.error
        return out


def _gather(member):
    try:
        member.facts = gather_hsm_facts(member.client, gather_objects=True)
    except (LunaError, FactError) as exc:
        member.error = str(exc)


def _so_login(member):
    try:
        member.client.so_login(member.so_password)
    except LunaError as exc:
        member.error = str(exc)


def _concurrently(func, members):
    with ThreadPoolExecutor(max_workers=max(1, len(members))) as pool:
        list(pool.map(func, members))


def _flip_together(to_flip, value):
    """PUT policy 38 on every member at the same moment: one thread each, released by a barrier
    once all are ready, so no member waits for another's answer. Sets sent/acked/changed/error."""
    barrier = threading.Barrier(len(to_flip))

    def flip(member):
        try:
            barrier.wait(timeout=30)
        except threading.BrokenBarrierError:
            pass  # a thread started late: flip anyway, the window measured says how long it took
        member.sent = time.monotonic()
        try:
            member.client.set_policy(SFF_CODE, value)
        except LunaError as exc:
            member.error = str(exc)
            return
        member.acked = time.monotonic()
        member.changed = True

    _concurrently(flip, to_flip)


def run(module, members):
    params = module.params
    group = params["group"]
    state = "on" if params["sff_backup"] else "off"
    _concurrently(_gather, members)
    failed = [m for m in members if m.error]
    if failed:
        module.fail_json(msg="HA group %s: facts of %d member(s) could not be gathered, so the group cannot be proven "
                             "safe; nothing was changed. %s" % (group, len(failed), " ".join(m.error for m in failed)),
                         changed=False, members=[m.report() for m in members], flipped=[])
    serials = [m.facts["serial"] for m in members]
    plan = sff_change_plan([m.facts for m in members], serials, ha_groups=[{"name": group, "members": serials}],
                           state=state)
    needs_cuf = [s["serial"] for s in plan["steps"] if APPLY_CUF in s["actions"]]
    if not plan["safe"] or needs_cuf:
        reasons = ["[%s] %s" % (r["code"], r["message"]) for r in plan["refusals"]]
        reasons += ["[CUF_NOT_APPLIED] HSM %s does not have the SFF capability update (CUF) applied: apply it with "
                    "hsmops.luna.hsm_capability before switching the group's policy." % s for s in needs_cuf]
        module.fail_json(msg="HA group %s: switching SFF backup %s is refused; nothing was changed. %s"
                             % (group, state, " ".join(reasons)),
                         changed=False, plan=plan, members=[m.report() for m in members], flipped=[])
    to_flip = [m for m in members if m.facts["sff_policy"] != params["sff_backup"]]
    result = dict(changed=bool(to_flip), plan=plan, flipped=[], mixed_window_ms=None)
    if not to_flip or module.check_mode:
        predicted = dict((m.name, {"sff_policy": params["sff_backup"],
                                   "sff_active": params["sff_backup"] and m.facts["sff_capability"]}) for m in to_flip)
        result["members"] = [m.report(after=predicted.get(m.name)) for m in members]
        if not to_flip:
            result["mixed_window_ms"] = 0.0
    else:
        # Every SO login first, so nothing but the flips is left when they are released together.
        _concurrently(_so_login, to_flip)
        failed = [m for m in to_flip if m.error]
        if failed:
            module.fail_json(msg="HA group %s: HSM SO login failed on %d member(s); no member was changed. %s"
                                 % (group, len(failed), " ".join(m.error for m in failed)),
                             changed=False, plan=plan, members=[m.report() for m in members], flipped=[])
        _flip_together(to_flip, params["sff_backup"])
        failed = [m for m in to_flip if m.error]
        done = [m.name for m in to_flip if m.changed]
        result["flipped"] = done
        if failed:
            left = [m.name for m in to_flip if not m.changed]
            module.fail_json(
                msg="HA group %s is now MIXED: policy 38 was switched %s on %s but not on %s (%s). Members with "
                    "different SFF states cannot replicate (CKR_DATA_INVALID). Run this task again to finish: it "
                    "changes only the members that still differ."
                    % (group, state, ", ".join(done) or "no member", ", ".join(left),
                       "; ".join("failed on %s: %s" % (m.name, m.error) for m in failed)),
                changed=bool(done), flipped=done, plan=plan, members=[m.report() for m in members],
                mixed_window_ms=None)
        window = max(m.acked for m in to_flip) - min(m.sent for m in to_flip)
        result["mixed_window_ms"] = round(window * 1000.0, 3)
        reports = []
        for member in members:
            after = None
            if member.changed:
                after_facts = dict(member.facts)
                after_facts["sff_policy"] = _read_policy(member)
                after = member.state(after_facts) if after_facts["sff_policy"] is not None else None
            reports.append(member.report(after=after))
        result["members"] = reports
    result["diff"] = {
        "before": {"sff_policy": dict((r["name"], r["before"]["sff_policy"]) for r in result["members"])},
        "after": {"sff_policy": dict((r["name"], r["after"]["sff_policy"]) for r in result["members"])},
        "before_header": "HA group %s policy 38" % group,
        "after_header": "HA group %s policy 38" % group,
    }
    return result


def _read_policy(member):
    """Policy 38 as the appliance reports it after the flip (None if it cannot be read)."""
    try:
        for item in member.client.get_policies():
            if item["code"] == SFF_CODE:
                return item["value"]
    except LunaError:
        return None
    return None


def main():
    module = AnsibleModule(
        argument_spec=luna_argument_spec(
            so_password=True,
            defaults_only=True,
            group=dict(type="str", default="ha_group"),
            members=dict(type="list", elements="dict", required=True, options=MEMBER_SPEC),
            sff_backup=dict(type="bool", required=True),
        ),
        supports_check_mode=True,
    )
    if not module.params["members"]:
        module.fail_json(msg="members is empty: list every member of HA group %s" % module.params["group"])
    members = []
    try:
        members = [Member(module.params, spec) for spec in module.params["members"]]
        result = run(module, members)
    except (LunaError, FactError) as exc:
        module.fail_json(msg="HA group %s: %s" % (module.params["group"], exc))
    finally:
        for member in members:
            member.client.close()
    module.exit_json(**result)


if __name__ == "__main__":
    main()
