# -*- coding: utf-8 -*-
# Copyright (c) hsmops.luna contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fact builders shared by the rules engine, filter and test plugin unit tests."""

import os

import pytest
import yaml

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
DEMO_FLEET = os.path.join(REPO, "emulator", "fleets", "demo.yml")

# Firmware shorthands used by the seed's tables: "F/w prior to version 6.21.0" and "6.21.0 or newer".
PRE = "6.2.1"
NEW = "6.22.0"


def make_hsm(serial="154701", firmware=NEW, cuf=False, policy=False, **extra):
    """One HSM's facts (docs/facts.md) with cloning-type, PED-authenticated defaults."""
    facts = {
        "serial": serial,
        "label": "hsm_%s" % serial,
        "firmware": firmware,
        "auth": "ped",
        "cloning": True,
        "sff_capability": cuf,
        "sff_policy": policy,
        "cloning_domain": "dom_a",
        "sim_secret": "sim_a",
        "partitions": [],
    }
    facts.update(extra)
    return facts


@pytest.fixture
def sff_hsm():
    return make_hsm


@pytest.fixture(scope="session")
def sff_demo():
    with open(DEMO_FLEET) as handle:
        return yaml.safe_load(handle)


@pytest.fixture
def sff_demo_by_serial(sff_demo):
    return {h["serial"]: h for h in sff_demo["hsms"]}
