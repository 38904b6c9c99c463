#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) hsmops.luna contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: partition
short_description: Create or delete a partition on a Luna HSM
version_added: 0.1.0
description:
  - Makes sure a partition with a given label exists (O(state=present)) or does not
    (O(state=absent)) on the appliance's HSM.
  - On creation, O(policies) are set on the new partition. Policies the HSM does not allow
    (the rules engine's C(partition_policy_refusals)) are refused before the partition is
    created; if the appliance refuses one after creation, the new, empty partition is deleted
    again, so no half-made partition is left behind.
  - Deleting a partition that holds objects needs O(allow_delete=true); the objects are lost
    unless they live on an HA peer or in a backup.
  - A re-initialised HA member gets its partition back with this module, then its objects with
    M(hsmops.luna.partition_sync).
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
  label:
    description:
      - Partition label, 1 to 32 letters, digits or C(_), unique on the HSM.
    type: str
    required: true
  state:
    description:
      - V(present) creates the partition when it is missing; V(absent) deletes it when it exists.
    type: str
    choices: [present, absent]
    default: present
  policies:
    description:
      - Partition policies (name or code -> V(true)/V(false)) to set when the partition is created;
        see M(hsmops.luna.partition_policy) for the names.
      - An existing partition's policies are not changed (a warning says when they differ);
        use M(hsmops.luna.partition_policy) for that.
    type: dict
  allow_delete:
    description:
      - With O(state=absent), also delete a partition that still holds objects.
    type: bool
    default: false
seealso:
  - module: hsmops.luna.partition_policy
  - module: hsmops.luna.partition_sync
"""

EXAMPLES = r"""
- name: Recreate the payments partition on a re-initialised HA member
  hsmops.luna.partition:
    url: https://hsm2.example.com:8443
    password: "{{ appliance_admin_password }}"
    so_password: "{{ hsm_so_password }}"
    label: payments
    policies:
      private_key_cloning: true
      secret_key_cloning: true
      high_availability: true

- name: Remove a scratch partition even though it holds objects
  hsmops.luna.partition:
    url: https://hsm2.example.com:8443
    password: "{{ appliance_admin_password }}"
    so_password: "{{ hsm_so_password }}"
    label: scratch
    state: absent
    allow_delete: true
"""

RETURN = r"""
partition:
  description:
    - Facts of the partition (docs/facts.md) after the task; in check mode the predicted ones
      (serial unknown for a partition still to be created). Empty after a deletion.
  returned: success
  type: dict
  contains:
    serial:
      description: Partition serial.
      type: str
      sample: "1000001"
    label:
      description: Partition label.
      type: str
      sample: payments
    policies:
      description: Partition policies, name -> on.
      type: dict
      sample: {"private_key_cloning": true}
    object_count:
      description: Number of objects.
      type: int
      sample: 0
    objects:
      description: The partition's objects.
      type: list
      elements: dict
      sample: []
before:
  description: Facts of the partition before the task, empty when it did not exist.
  returned: success
  type: dict
  sample: {}
refusals:
  description: Why the creation was refused (reason code C(HSM_POLICY_FORBIDS)), each naming the HSM.
  returned: failure
  type: list
  elements: dict
  sample: []
serial:
  description: Serial of the appliance's HSM.
  returned: success
  type: str
  sample: "154702"
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
    check_label,
    gather_with_partition,
    hsm_where,
    normalize_policies,
    partition_facts,
    policy_changes,
    policy_refusals,
    refusal_text,
)
from ansible_collections.hsmops.luna.plugins.module_utils.sff_rules import FactError


def _public(part):
    """Partition facts as returned (plain dict, fixed keys)."""
    if not part:
        return {}
    return {
        "serial": part.get("serial"),
        "label": part.get("label"),
        "policies": dict(part.get("policies") or {}),
        "object_count": int(part.get("object_count") or 0),
        "objects": list(part.get("objects") or []),
    }


def create(module, client, facts, where, desired):
    """Create the partition and set its policies; delete it again if a policy is refused."""
    label = module.params["label"]
    # Refuse before creating: the new partition's defaults are unknown, so check every policy switched on.
    refusals = policy_refusals(facts, [{"name": n, "to": v} for n, v in desired.items() if v], label)
    if refusals:
        module.fail_json(msg="%s: partition %s not created, nothing was changed: %s" % (
            where, label, refusal_text(refusals)), refusals=refusals, serial=facts["serial"])
    if module.check_mode:
        return {"serial": None, "label": label, "policies": dict(desired), "object_count": 0, "objects": []}
    client.so_login(module.params["so_password"])
    pid = client.create_partition(label)
    try:
        new = partition_facts(client, {"serial": pid})
        for change in policy_changes(new["policies"], desired):
            client.set_partition_policy(pid, change["code"], change["to"])
    except LunaError as exc:
        try:
            client.delete_partition(pid)
            cleanup = "the new partition %s was deleted again, nothing was left changed" % pid
        except LunaError as exc2:
            cleanup = "deleting the half-made partition %s failed too (%s): delete it by hand" % (pid, exc2)
        module.fail_json(msg="%s: setting the policies of new partition %s failed: %s; %s" % (
            where, label, exc, cleanup), error=exc.as_dict(), serial=facts["serial"])
    return partition_facts(client, {"serial": pid})


def run(module, client):
    params = module.params
    label = params["label"]
    desired = normalize_policies(params["policies"])
    # Named by label only: a label made of digits must not match another partition's serial.
    facts, part = gather_with_partition(client, label, gather_objects=True, labels_only=True)
    where = hsm_where(facts, client.base_url)
    before = _public(part)
    changed = False
    warnings = []

    if params["state"] == "present":
        if part is None:
            after = create(module, client, facts, where, desired)
            changed = True
        else:
            after = before
            differ = policy_changes(before["policies"], desired)
            if differ:
                warnings.append("%s: partition %s exists; its policies %s differ from 'policies' and were not "
                                "changed (policies apply on creation): use hsmops.luna.partition_policy to change them"
                                % (where, label, ", ".join(c["name"] for c in differ)))
    else:
        after = {}
        if part is not None:
            count = before["object_count"]
            if count and not params["allow_delete"]:
                module.fail_json(
                    msg="%s: partition %s holds %d object(s); deleting it destroys them. Make sure they live on an "
                        "HA peer or in a backup, then set allow_delete: true. Nothing was changed."
                        % (where, label, count),
                    partition=before, serial=facts["serial"])
            if not module.check_mode:
                client.so_login(params["so_password"])
                client.delete_partition(part["serial"])
            changed = True

    result = dict(changed=changed, partition=after, before=before, serial=facts["serial"])
    if module._diff:
        result["diff"] = {
            "before": before, "after": after,
            "before_header": "%s partition %s" % (where, label),
            "after_header": "%s partition %s" % (where, label),
        }
    for warning in warnings:
        module.warn(warning)
    module.exit_json(**result)


def main():
    argument_spec = dict(LUNA_CONNECTION_SPEC)
    argument_spec.update(SO_PASSWORD_SPEC)
    argument_spec.update(
        label=dict(type="str", required=True),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        policies=dict(type="dict"),
        allow_delete=dict(type="bool", default=False),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    try:
        check_label(module.params["label"])
        normalize_policies(module.params["policies"])  # bad input fails before any connection
        with client_from_params(module.params) as client:
            run(module, client)
    except PartitionInputError as exc:
        module.fail_json(msg=str(exc))
    except LunaError as exc:
        module.fail_json(msg="Partition %s: %s" % (module.params["label"], exc), **error_fields(exc))
    except FactError as exc:
        module.fail_json(msg="The appliance %s reported facts the collection cannot use: %s"
                         % (module.params["url"], exc))


if __name__ == "__main__":
    main()
