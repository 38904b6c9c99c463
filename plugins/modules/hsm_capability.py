#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) hsmops.luna contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: hsm_capability
short_description: Apply a capability update (CUF) to a Luna HSM
version_added: 0.1.0
description:
  - Applies the SFF backup capability update file (CUF) bought for one HSM serial.
  - B(Applying a CUF re-initialises the HSM and erases every partition and object on it);
    the HSM SO, cloning domain and masking secret stay. The module refuses unless
    O(allow_zeroize=true) and lists in RV(wiped) what was (or would be) erased.
  - Refuses before uploading anything when the rules engine says the HSM cannot take the
    capability (firmware older than 6.21.0, Key Export HSM, password-authenticated HSM) or
    when the file was made for another HSM serial.
  - Does nothing when the capability is already applied.
  - The CUF alone does not switch SFF backup on; HSM policy 38 does (M(hsmops.luna.hsm_policy),
    M(hsmops.luna.ha_group_policy)).
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
  diff_mode:
    support: full
  idempotent:
    support: full
options:
  name:
    description:
      - The capability.
    type: str
    choices: [sff_backup]
    default: sff_backup
  src:
    description:
      - Path of the CUF file on the host running the module. Read only when the capability
        is not applied yet.
    type: path
  auth_code:
    description:
      - Authorisation code delivered with the CUF. Never logged or returned.
    type: str
  state:
    description:
      - V(present) applies the capability. A capability cannot be removed.
    type: str
    choices: [present]
    default: present
  allow_zeroize:
    description:
      - Confirm that the HSM's partitions and objects may be erased. Required to apply the CUF.
    type: bool
    default: false
notes:
  - Make sure every object on the HSM lives on an HA peer or in a backup first;
    M(hsmops.luna.sff_check) tells whether any would be lost.
seealso:
  - module: hsmops.luna.hsm_policy
  - module: hsmops.luna.sff_check
"""

EXAMPLES = r"""
- name: Apply the SFF backup CUF (erases the HSM's partitions)
  hsmops.luna.hsm_capability:
    url: https://hsm1.example.com:8443
    password: "{{ vault_luna_admin_password }}"
    so_password: "{{ vault_luna_so_password }}"
    name: sff_backup
    src: "files/cuf/{{ hsm_serial }}.cuf"
    auth_code: "{{ vault_cuf_auth_codes[hsm_serial] }}"
    allow_zeroize: true
  register: cuf

- name: What was erased
  ansible.builtin.debug:
    var: cuf.wiped
"""

RETURN = r"""
serial:
  description: Serial of the HSM.
  returned: success
  type: str
wiped:
  description: Partitions erased by applying the CUF (would be, in check mode); empty when nothing was applied.
  returned: success
  type: list
  elements: dict
  contains:
    serial:
      description: Partition serial.
      type: str
    label:
      description: Partition label.
      type: str
    object_count:
      description: Number of objects it held.
      type: int
capabilities_before:
  description: HSM capabilities by name before the task.
  returned: success
  type: dict
capabilities_after:
  description: HSM capabilities by name after the task (predicted in check mode).
  returned: success
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.hsmops.luna.plugins.module_utils.luna_client import (
    LunaError,
    client_from_params,
    cuf_auth_code_matches,
    error_result,
    luna_argument_spec,
    read_cuf,
)
from ansible_collections.hsmops.luna.plugins.module_utils.luna_facts import gather_hsm_facts, read_capabilities
from ansible_collections.hsmops.luna.plugins.module_utils.sff_rules import (
    HSM_POLICY_CODES,
    FactError,
    capability_refusals,
)


class Refusal(Exception):
    """The module will not apply the CUF; nothing has been changed or uploaded."""


def check_cuf(params, facts):
    """Read the CUF locally and refuse a file that is not for this HSM -> the parsed CUF."""
    serial = facts["serial"]
    if not params["src"]:
        raise Refusal("HSM %s does not have the %s capability yet: give src (the CUF file bought for serial %s)."
                      % (serial, params["name"], serial))
    try:
        cuf = read_cuf(params["src"])
    except LunaError as exc:
        raise Refusal("HSM %s: %s" % (serial, exc))
    if cuf["serial"] != serial:
        raise Refusal("HSM %s: the CUF file %s was made for HSM %s, not for this one (a CUF is specific to one "
                      "serial): use the file bought for serial %s." % (serial, params["src"], cuf["serial"], serial))
    if cuf["capability"] != params["name"] or cuf["code"] != HSM_POLICY_CODES.get(params["name"]):
        raise Refusal("HSM %s: the file %s carries capability %s (%s), not %s."
                      % (serial, params["src"], cuf["capability"], cuf["code"], params["name"]))
    if not params["auth_code"]:
        raise Refusal("HSM %s: auth_code is needed to apply the CUF: give the code delivered with it." % serial)
    if cuf_auth_code_matches(cuf, params["auth_code"]) is False:
        raise Refusal("HSM %s: auth_code does not match the CUF file %s: check the code delivered with this file."
                      % (serial, params["src"]))
    return cuf


def run(module):
    params = module.params
    with client_from_params(params) as client:
        facts = gather_hsm_facts(client, gather_objects=False)
        serial = facts["serial"]
        before = dict(facts["capabilities"])
        result = dict(changed=False, serial=serial, wiped=[], capabilities_before=before, capabilities_after=before)
        if facts["sff_capability"]:
            return result
        # The engine decides whether this HSM may take the capability at all.
        refusals = capability_refusals(facts)
        if refusals:
            raise Refusal("HSM %s cannot take the %s capability: %s Nothing was uploaded or changed."
                          % (serial, params["name"], " ".join("[%s] %s" % (r["code"], r["message"]) for r in refusals)))
        cuf = check_cuf(params, facts)
        wiped = [{"serial": p["serial"], "label": p["label"], "object_count": p["object_count"]}
                 for p in facts["partitions"]]
        if not params["allow_zeroize"]:
            raise Refusal("HSM %s: applying the CUF re-initialises the HSM and erases all %d partition(s) (%s, %d "
                          "object(s) in all): make sure they live on an HA peer or in a backup, then set "
                          "allow_zeroize: true. Nothing was changed."
                          % (serial, len(wiped), ", ".join(w["label"] or w["serial"] for w in wiped) or "none now",
                             sum(w["object_count"] for w in wiped)))
        after = dict(before, **{params["name"]: True})
        result.update(changed=True, wiped=wiped, capabilities_after=after)
        if not module.check_mode:
            client.so_login(params["so_password"])
            file_id = client.upload_package(cuf["file_name"], cuf["data"])
            client.apply_capability_update(file_id, params["auth_code"])
            result["capabilities_after"] = read_capabilities(client)
        result["diff"] = {"before": {"capabilities": before}, "after": {"capabilities": result["capabilities_after"]},
                          "before_header": "HSM %s capabilities" % serial,
                          "after_header": "HSM %s capabilities" % serial}
        return result


def main():
    module = AnsibleModule(
        argument_spec=luna_argument_spec(
            so_password=True,
            name=dict(type="str", choices=["sff_backup"], default="sff_backup"),
            src=dict(type="path"),
            auth_code=dict(type="str", no_log=True),
            state=dict(type="str", choices=["present"], default="present"),
            allow_zeroize=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    try:
        result = run(module)
    except Refusal as exc:
        module.fail_json(msg=str(exc))
    except (LunaError, FactError) as exc:
        module.fail_json(**error_result(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
