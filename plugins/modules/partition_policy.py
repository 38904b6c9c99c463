#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) hsmops.luna contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: partition_policy
short_description: Set the policies of one partition on a Luna HSM
version_added: 0.1.0
description:
  - Switches partition policies (for example private-key SFF backup, 35) on or off on one
    partition of the appliance's HSM. Only the policies that differ are changed.
  - A partition policy can only forbid what the HSM allows. Switching one on beyond what the
    HSM allows (SFF backup policies without SFF active on the HSM, cloning policies on a Key
    Export HSM) is refused with the rules engine's reason before anything is changed.
  - If the appliance refuses one change after others were made, the ones made are set back and
    the task fails naming the HSM, the partition and the policy.
author:
  - hsmops engineers (@hsmops)
extends_documentation_fragment:
  - hsmops.luna.connection
  - hsmops.luna.connection.SO_PASSWORD
  - hsmops.luna.attributes
  - hsmops.luna.attributes.ACTIONGROUP_LUNA
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  idempotent:
    support: full
options:
  partition:
    description:
      - Label or serial of the partition.
    type: str
    required: true
  policies:
    description:
      - Partition policies by name or code, each V(true) (on, allowed) or V(false) (off, forbidden).
      - Names and codes are C(private_key_cloning) (0), C(private_key_wrapping) (1),
        C(secret_key_cloning) (4), C(high_availability) (21), C(activation) (22),
        C(auto_activation) (23), C(private_key_sff_backup) (35), C(secret_key_sff_backup) (36).
      - Policies not listed are left as they are.
    type: dict
    required: true
seealso:
  - module: hsmops.luna.partition
  - module: hsmops.luna.hsm_policy
"""

EXAMPLES = r"""
- name: Forbid SFF backup of the payments partition only
  hsmops.luna.partition_policy:
    url: https://hsm1.example.com:8443
    password: "{{ appliance_admin_password }}"
    so_password: "{{ hsm_so_password }}"
    partition: payments
    policies:
      private_key_sff_backup: false
      secret_key_sff_backup: false

- name: The same by code, connection options from module_defaults
  module_defaults:
    group/hsmops.luna.luna:
      url: https://hsm1.example.com:8443
      password: "{{ appliance_admin_password }}"
      ca_path: /etc/pki/luna-ca.pem
  hsmops.luna.partition_policy:
    partition: "1000001"
    policies: {"35": 1, "36": 1}
    so_password: "{{ hsm_so_password }}"
"""

RETURN = r"""
before:
  description: The partition's policies before the task (name -> on).
  returned: success
  type: dict
  sample: {"private_key_sff_backup": true, "secret_key_sff_backup": true, "private_key_cloning": true}
after:
  description: The partition's policies after the task, read back from the appliance (predicted in check mode).
  returned: success
  type: dict
  sample: {"private_key_sff_backup": false, "secret_key_sff_backup": false, "private_key_cloning": true}
changes:
  description: The policies that were (or in check mode would be) changed.
  returned: always
  type: list
  elements: dict
  contains:
    code:
      description: Partition policy code.
      type: int
      sample: 35
    name:
      description: Partition policy name.
      type: str
      sample: private_key_sff_backup
    from:
      description: Value before.
      type: bool
      sample: true
    to:
      description: Value after.
      type: bool
      sample: false
refusals:
  description: Why the change was refused (reason code C(HSM_POLICY_FORBIDS)), each naming the HSM.
  returned: failure
  type: list
  elements: dict
  sample: [{"code": "HSM_POLICY_FORBIDS", "serial": "154701", "message": "Partition payments: Partition policy ..."}]
partition:
  description: Serial and label of the partition.
  returned: success
  type: dict
  sample: {"serial": "1000001", "label": "payments"}
serial:
  description: Serial of the appliance's HSM.
  returned: success
  type: str
  sample: "154701"
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.hsmops.luna.plugins.module_utils.luna_client import (
    LUNA_CONNECTION_SPEC,
    SO_PASSWORD_SPEC,
    LunaError,
    client_from_params,
)
from ansible_collections.hsmops.luna.plugins.module_utils.luna_partitions import (
    error_fields,
    PartitionInputError,
    gather_with_partition,
    hsm_where,
    missing_partition_message,
    normalize_policies,
    partition_facts,
    policy_changes,
    policy_refusals,
    refusal_text,
)
from ansible_collections.hsmops.luna.plugins.module_utils.sff_rules import FactError


def apply_changes(client, pid, changes):
    """Set each change; on an appliance error set back what was applied, then re-raise."""
    applied = []
    try:
        for change in changes:
            client.set_partition_policy(pid, change["code"], change["to"])
            applied.append(change)
    except LunaError as exc:
        undone, not_undone = [], []
        for change in reversed(applied):
            try:
                client.set_partition_policy(pid, change["code"], change["from"])
                undone.append(change["name"])
            except LunaError:
                not_undone.append(change["name"])
        exc.applied = applied
        exc.undone = undone
        exc.not_undone = not_undone
        exc.failed_change = changes[len(applied)]
        raise


def run(module, client):
    params = module.params
    desired = normalize_policies(params["policies"])
    facts, part = gather_with_partition(client, params["partition"], gather_objects=False)
    where = hsm_where(facts, client.base_url)
    if part is None:
        module.fail_json(msg=missing_partition_message(facts, params["partition"], where), serial=facts["serial"])
    before = dict(part.get("policies") or {})
    changes = policy_changes(before, desired)
    refusals = policy_refusals(facts, changes, part["label"])
    ident = {"serial": part["serial"], "label": part["label"]}
    if refusals:
        module.fail_json(
            msg="%s, partition %s: policy change refused, nothing was changed: %s" % (
                where, part["label"], refusal_text(refusals)),
            refusals=refusals, changes=changes, before=before, partition=ident, serial=facts["serial"])

    after = dict(before)
    after.update(dict((c["name"], c["to"]) for c in changes))
    if changes and not module.check_mode:
        client.so_login(params["so_password"])
        try:
            apply_changes(client, part["serial"], changes)
        except LunaError as exc:
            failed = exc.failed_change
            text = "%s, partition %s: setting policy %s (%d) to %s failed: %s" % (
                where, part["label"], failed["name"], failed["code"], "on" if failed["to"] else "off", exc)
            if exc.undone:
                text += " Set back: %s." % ", ".join(exc.undone)
            if exc.not_undone:
                text += " Could NOT set back: %s; check the partition." % ", ".join(exc.not_undone)
            module.fail_json(msg=text, changes=changes, before=before, partition=ident, serial=facts["serial"],
                             error=exc.as_dict())
        after = partition_facts(client, part, gather_objects=False)["policies"]

    result = dict(changed=bool(changes), before=before, after=after, changes=changes, partition=ident,
                  serial=facts["serial"])
    if module._diff:
        result["diff"] = {
            "before": {"policies": before},
            "after": {"policies": after},
            "before_header": "%s partition %s" % (where, part["label"]),
            "after_header": "%s partition %s" % (where, part["label"]),
        }
    module.exit_json(**result)


def main():
    argument_spec = dict(LUNA_CONNECTION_SPEC)
    argument_spec.update(SO_PASSWORD_SPEC)
    argument_spec.update(
        partition=dict(type="str", required=True),
        policies=dict(type="dict", required=True),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    try:
        normalize_policies(module.params["policies"])  # bad input fails before any connection
        with client_from_params(module.params) as client:
            run(module, client)
    except PartitionInputError as exc:
        module.fail_json(msg=str(exc))
    except LunaError as exc:
        module.fail_json(msg="Partition %s: %s" % (module.params["partition"], exc), **error_fields(exc))
    except FactError as exc:
        module.fail_json(msg="The appliance %s reported facts the collection cannot use: %s"
                         % (module.params["url"], exc))


if __name__ == "__main__":
    main()
