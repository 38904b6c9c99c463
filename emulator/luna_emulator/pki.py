# Copyright (c) hsmops.luna contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Certificates (CA + server, SAN 127.0.0.1 and localhost), the fleet's Ed25519 vendor key and
the capability update files (CUF) it signs (docs/emulator-api.md, "Capability update")."""

import base64
import binascii
import datetime
import hashlib
import hmac
import ipaddress
import json
import os
import secrets

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CUF_CAPABILITY = "sff_backup"
CUF_CODE = 38


def _write(path, data, mode):
    """Write a file atomically with the given mode (secrets are never world-readable, not even briefly)."""
    tmp = "%s.tmp" % path
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def _key_pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def ensure_tls(state_dir, fleet_name):
    """DIR/ca.pem, DIR/server.pem, DIR/server.key: made once, kept across restarts."""
    ca_path = os.path.join(state_dir, "ca.pem")
    cert_path = os.path.join(state_dir, "server.pem")
    key_path = os.path.join(state_dir, "server.key")
    if all(os.path.exists(p) for p in (ca_path, cert_path, key_path)):
        return ca_path, cert_path, key_path
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "hsmops.luna emulator"),
                         x509.NameAttribute(NameOID.COMMON_NAME, "%s fleet CA" % fleet_name)])
    ca_cert = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                     crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=825))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                    x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    _write(key_path, _key_pem(key), 0o600)
    _write(cert_path, cert.public_bytes(serialization.Encoding.PEM) + ca_cert.public_bytes(serialization.Encoding.PEM),
           0o644)
    _write(ca_path, ca_cert.public_bytes(serialization.Encoding.PEM), 0o644)
    return ca_path, cert_path, key_path


def ensure_vendor_key(state_dir):
    """DIR/vendor.key (0600) and DIR/vendor.pub: the fleet's CUF signing key."""
    key_path = os.path.join(state_dir, "vendor.key")
    pub_path = os.path.join(state_dir, "vendor.pub")
    if not os.path.exists(key_path):
        key = ed25519.Ed25519PrivateKey.generate()
        _write(key_path, _key_pem(key), 0o600)
        _write(pub_path, key.public_key().public_bytes(serialization.Encoding.PEM,
                                                        serialization.PublicFormat.SubjectPublicKeyInfo), 0o644)
    return key_path, pub_path


def load_vendor_private(state_dir):
    with open(os.path.join(state_dir, "vendor.key"), "rb") as handle:
        return serialization.load_pem_private_key(handle.read(), password=None)


def load_vendor_public(state_dir):
    with open(os.path.join(state_dir, "vendor.pub"), "rb") as handle:
        return serialization.load_pem_public_key(handle.read())


def canonical(payload):
    """The signed bytes: the payload as JSON with sorted keys and no spaces."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def new_auth_code():
    """A CUF auth code such as 'K7QF-2MZD-9XWA-P4TB' (80 random bits)."""
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    raw = "".join(secrets.choice(alphabet) for _ in range(16))
    return "-".join(raw[i:i + 4] for i in range(0, 16, 4))


def auth_code_digest(code):
    return hashlib.sha256(code.encode()).hexdigest()


def mint_cuf(private_key, serial, auth_code):
    """The CUF file's bytes for one HSM serial, bound to the hash of its auth code."""
    payload = {
        "capability": CUF_CAPABILITY,
        "code": CUF_CODE,
        "serial": str(serial),
        "authCodeSha256": auth_code_digest(auth_code),
        "issued": datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat(),
    }
    signature = base64.b64encode(private_key.sign(canonical(payload))).decode()
    return (json.dumps({"payload": payload, "signature": signature}, indent=2, sort_keys=True) + "\n").encode()


class CufRejected(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


def verify_cuf(public_key, data, serial, auth_code):
    """Check a CUF for this HSM; raises CufRejected(code, message). Never echoes the auth code."""
    try:
        doc = json.loads(data)
        payload = doc["payload"]
        signature = base64.b64decode(doc["signature"], validate=True)
        if not isinstance(payload, dict):
            raise TypeError("payload")
        public_key.verify(signature, canonical(payload))
    except InvalidSignature:
        raise CufRejected("CUF_BAD_SIGNATURE", "The capability update file's signature does not verify against this "
                          "fleet's vendor key: use a file minted for this fleet (luna-emulator mint-cuf), unmodified.")
    except (ValueError, KeyError, TypeError, binascii.Error, RecursionError):
        raise CufRejected("CUF_BAD_SIGNATURE", "The uploaded file is not a signed capability update file: "
                          "upload the .cuf file exactly as issued.")
    if payload.get("capability") != CUF_CAPABILITY or payload.get("code") != CUF_CODE:
        raise CufRejected("CUF_BAD_SIGNATURE", "The capability update file is not the SFF backup capability (38).")
    if str(payload.get("serial")) != str(serial):
        raise CufRejected("CUF_WRONG_SERIAL", "The capability update file was issued for HSM %s, not HSM %s: "
                          "use the file minted for this HSM's serial." % (payload.get("serial"), serial))
    expected = payload.get("authCodeSha256")
    if (not isinstance(auth_code, str) or not isinstance(expected, str)
            or not hmac.compare_digest(auth_code_digest(auth_code), expected)):
        raise CufRejected("CUF_BAD_AUTH_CODE", "The auth code does not match the capability update file for HSM %s: "
                          "use the auth code delivered with this file." % serial)
    return payload
