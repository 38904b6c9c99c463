#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) hsmops.luna contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: hsm_policy
short_description: Set HSM policies of a Luna HSM
version_added: 0.1.0
description:
  - Sets HSM-level policies (by name or code) and changes only those that differ.
  - Switching HSM policy 38 (SFF backup) on needs the SFF capability update (CUF) applied
    first; the rules engine's reason is reported when it is not.
  - Policies 6, 7, 12 and 22 are destructive (changing them erases every partition of the
    HSM) and are refused unless O(allow_zeroize=true). Policies 0 and 1 are fixed at
    manufacture and cannot be changed.
  - To switch policy 38 on every member of an HA group use M(hsmops.luna.ha_group_policy),
    since HA members with different SFF states cannot replicate.
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
  policies:
    description:
      - Policies to set, by name (V(sff_backup), V(cloning), V(masking), V(non_fips_algorithms),
        V(network_replication), V(offboard_storage), V(remote_ped), V(pin_authentication),
        V(ped_authentication)) or code (V(38), ...), to V(true)/V(false) (or V(1)/V(0)).
    type: dict
    required: true
  allow_zeroize:
    description:
      - Allow changing a destructive policy (6, 7, 12, 22), which erases every partition of the HSM.
    type: bool
    default: false
seealso:
  - module: hsmops.luna.hsm_capability
  - module: hsmops.luna.ha_group_policy
"""

EXAMPLES = r"""
- name: Switch SFF backup on (the CUF is applied already)
  hsmops.luna.hsm_policy:
    url: https://hsm1.example.com:8443
    password: "{{ vault_luna_admin_password }}"
    so_password: "{{ vault_luna_so_password }}"
    policies:
      sff_backup: true

- name: Policies by code; 12 is destructive and erases every partition
  hsmops.luna.hsm_policy:
    policies:
      "16": 1
      "12": 0
    allow_zeroize: true
"""

RETURN = r"""
before:
  description: The HSM policies by name before the task.
  returned: success
  type: dict
  sample: {sff_backup: false, cloning: true}
after:
  description: The HSM policies by name after the task (predicted in check mode).
  returned: success
  type: dict
changes:
  description: The policies changed (or that would be).
  returned: success
  type: list
  elements: dict
  contains:
    code:
      description: Policy code.
      type: int
    name:
      description: Policy name.
      type: str
    from:
      description: Value before.
      type: bool
    to:
      description: Value after.
      type: bool
wiped:
  description: Partitions erased by a destructive policy change (C(serial), C(label), C(object_count)).
  returned: success
  type: list
  elements: dict
serial:
  description: Serial of the HSM.
  returned: success
  type: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.hsmops.luna.plugins.module_utils.luna_client import (
    LunaError,
    client_from_params,
    error_result,
    luna_argument_spec,
)
from ansible_collections.hsmops.luna.plugins.module_utils.luna_facts import gather_hsm_facts, policy_values, read_policies
from ansible_collections.hsmops.luna.plugins.module_utils.sff_rules import (
    HSM_DESTRUCTIVE_POLICIES,
    HSM_FIXED_POLICIES,
    HSM_POLICY_CODES,
    FactError,
    sff_policy_on_refusals,
)

SFF_CODE = HSM_POLICY_CODES["sff_backup"]
NAMES = dict((code, name) for name, code in HSM_POLICY_CODES.items())


class Refusal(Exception):
    """A request the module will not carry out; nothing has been changed."""


def valid_policies_text():
    return ", ".join("%s (%d)" % (name, code) for code, name in sorted(NAMES.items()))


def normalize_policies(policies):
    """{name or code: bool-ish} -> {code: bool}; unknown names/codes and bad values refused."""
    wanted = {}
    for key, value in policies.items():
        text = str(key).strip()
        if text.isdigit() and int(text) in NAMES:
            code = int(text)
        elif text in HSM_POLICY_CODES:
            code = HSM_POLICY_CODES[text]
        else:
            raise Refusal("policies: unknown HSM policy %r; valid policies are %s" % (key, valid_policies_text()))
        try:
            flag = boolean(value, strict=True)
        except TypeError:
            raise Refusal("policies.%s: expected true/false or 1/0, got %r" % (key, value))
        if code in wanted and wanted[code] != flag:
            raise Refusal("policies: %s (%d) is given twice with different values" % (NAMES[code], code))
        wanted[code] = flag
    return wanted


def policy_refusals(facts, wanted, current, allow_zeroize):
    """Every reason not to make these changes (messages name the HSM and what to do)."""
    serial = facts["serial"]
    capabilities = facts.get("capabilities") or {}
    found = []
    for code, flag in sorted(wanted.items()):
        if current.get(code) == flag:
            continue
        name = NAMES[code]
        if code in HSM_FIXED_POLICIES:
            found.append("HSM %s: policy %s (%d) is fixed at manufacture and cannot be changed; remove it from policies."
                         % (serial, name, code))
            continue
        if code == SFF_CODE and flag:
            # The engine decides whether SFF may be switched on (CUF applied, capable HSM).
            reasons = sff_policy_on_refusals(facts)
            if reasons:
                found.append("HSM %s: policy sff_backup (38) cannot be switched on: %s Apply the CUF with "
                             "hsmops.luna.hsm_capability first."
                             % (serial, " ".join("[%s] %s" % (r["code"], r["message"]) for r in reasons)))
            continue
        if flag and name in capabilities and not capabilities[name]:
            found.append("HSM %s: policy %s (%d) cannot be switched on: the HSM does not have capability %d; "
                         "a policy cannot allow more than its capability." % (serial, name, code, code))
            continue
        if code in HSM_DESTRUCTIVE_POLICIES and not allow_zeroize:
            parts = facts.get("partitions") or []
            found.append("HSM %s: changing policy %s (%d) is destructive and erases all %d partition(s) (%s): "
                         "set allow_zeroize: true once the objects live elsewhere."
                         % (serial, name, code, len(parts),
                            ", ".join(p["label"] or p["serial"] for p in parts) or "none now"))
    return found


def named(values):
    return dict((NAMES.get(code, str(code)), value) for code, value in sorted(values.items()))


def run(module):
    params = module.params
    wanted = normalize_policies(params["policies"])
    with client_from_params(params) as client:
        facts = gather_hsm_facts(client, gather_objects=False)
        current = policy_values(facts)
        refusals = policy_refusals(facts, wanted, current, params["allow_zeroize"])
        if refusals:
            raise Refusal(" ".join(refusals) + " Nothing was changed.")
        changes = [{"code": code, "name": NAMES[code], "from": current.get(code), "to": flag}
                   for code, flag in sorted(wanted.items()) if current.get(code) != flag]
        destructive = [c for c in changes if c["code"] in HSM_DESTRUCTIVE_POLICIES]
        wiped = [{"serial": p["serial"], "label": p["label"], "object_count": p["object_count"]}
                 for p in facts["partitions"]] if destructive else []
        predicted = dict(current)
        predicted.update(dict((c["code"], c["to"]) for c in changes))
        result = dict(changed=bool(changes), serial=facts["serial"], before=named(current), changes=changes,
                      wiped=wiped)
        if not changes or module.check_mode:
            result["after"] = named(predicted)
        else:
            client.so_login(params["so_password"])
            applied = []
            try:
                # Destructive ones one by one (each erases the partitions and is a task), the rest in one call.
                for change in destructive:
                    client.set_policy(change["code"], change["to"], confirm_destructive=True)
                    applied.append(change)
                rest = [c for c in changes if c not in destructive]
                if len(rest) == 1:
                    client.set_policy(rest[0]["code"], rest[0]["to"])
                elif rest:
                    client.set_policies(dict((c["code"], c["to"]) for c in rest))
                applied.extend(rest)
            except LunaError as exc:
                if not applied:
                    raise
                # Never hide a half-applied change: say what is already done and how to finish.
                module.fail_json(changed=True, applied=applied, **error_result(LunaError(
                    "%s; already applied before the failure: %s. Run the task again to finish."
                    % (exc.message, ", ".join("%s=%s" % (c["name"], c["to"]) for c in applied)),
                    status=exc.status, error_id=exc.error_id, details=exc.details,
                    return_code=exc.return_code, serial=exc.serial, url=exc.url, hint=exc.hint)))
            result["after"] = read_policies(client)
        if changes:
            result["diff"] = {"before": {"policies": result["before"]}, "after": {"policies": result["after"]},
                              "before_header": "HSM %s policies" % facts["serial"],
                              "after_header": "HSM %s policies" % facts["serial"]}
        return result


def main():
    module = AnsibleModule(
        argument_spec=luna_argument_spec(
            so_password=True,
            policies=dict(type="dict", required=True),
            allow_zeroize=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    try:
        result = run(module)
    except Refusal as exc:
        module.fail_json(msg=str(exc) if "HSM" in str(exc) else "HSM at %s: %s" % (module.params["url"], exc))
    except (LunaError, FactError) as exc:
        module.fail_json(**error_result(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
