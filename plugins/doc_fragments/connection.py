# -*- coding: utf-8 -*-
# Copyright (c) hsmops.luna contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # Connection options of every module that talks to a Luna appliance.
    # The matching argument_spec is LUNA_CONNECTION_SPEC in plugins/module_utils/luna_client.py.
    DOCUMENTATION = r"""
options:
  url:
    description:
      - Base URL of the Luna appliance's REST API, for example V(https://hsm1.example.com:8443).
      - If not set, the value of the E(LUNA_URL) environment variable is used.
    type: str
    required: true
  username:
    description:
      - Appliance user for the REST session (V(admin) or V(operator) to change things,
        V(monitor) or V(audit) to read).
      - If not set, the value of the E(LUNA_USERNAME) environment variable is used.
    type: str
    default: admin
  password:
    description:
      - Password of O(username). Never logged or returned.
      - If not set, the value of the E(LUNA_PASSWORD) environment variable is used.
    type: str
    required: true
  validate_certs:
    description:
      - Verify the appliance's TLS certificate. Set to V(false) only for throw-away tests.
    type: bool
    default: true
  ca_path:
    description:
      - PEM file of the CA that signed the appliance's certificate (for the emulated fleet,
        C(<state dir>/ca.pem)).
      - If not set, the value of the E(LUNA_CA_PATH) environment variable is used, else the
        system's trust store.
    type: path
  timeout:
    description:
      - Seconds to wait for each HTTP answer. Reads are retried up to three times with
        exponential backoff on connection errors and HTTP 503; writes are never retried.
    type: int
    default: 30
notes:
  - One REST session is opened per module run and closed at its end; an expired session is
    re-opened once.
  - All connection options can be set once for every module of the collection with
    C(module_defaults) and the action group C(group/hsmops.luna.luna).
"""

    SO_PASSWORD = r"""
options:
  so_password:
    description:
      - Password of the HSM Security Officer, needed to change the HSM. The SO is logged in
        once per run, only when a change is needed. Never logged or returned.
      - If not set, the value of the E(LUNA_SO_PASSWORD) environment variable is used.
    type: str
"""
