# Copyright (c) hsmops.luna contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The appliance's error body, the same for every failure (docs/emulator-api.md, "Transport")."""

import json

MEDIA_TYPE = "application/vnd.safenetinc.lunasa+json;version=1"

# id -> HTTP status, as listed in the contract.
ERROR_STATUS = {
    "FRAMEWORK_BAD_REQUEST": 400,
    "FRAMEWORK_UNAUTHORIZED": 401,
    "HSMPLUGIN_LOGIN_FAILED": 401,
    "FRAMEWORK_FORBIDDEN": 403,
    "HSMPLUGIN_NOT_LOGGED_IN": 403,
    "HSMPLUGIN_INVALID_HSM": 404,
    "HSMPLUGIN_INVALID_PARTITION": 404,
    "FRAMEWORK_RESOURCE_NOT_FOUND": 404,
    "FRAMEWORK_METHOD_NOT_ALLOWED": 405,
    "HSMPLUGIN_INVALID_POLICY": 400,
    "FRAMEWORK_UNSUPPORTED_MEDIA_TYPE": 415,
    "FRAMEWORK_PAYLOAD_TOO_LARGE": 413,
    "HSMPLUGIN_OPERATION_NOT_ALLOWED": 422,
    "HSMPLUGIN_CLONING_FAILED": 422,
    "FRAMEWORK_RESOURCE_GONE": 410,
    "FRAMEWORK_INTERNAL_ERROR": 500,
    "FRAMEWORK_SERVICE_UNAVAILABLE": 503,
}


class ApiError(Exception):
    """A failure answered with the contract's error body. Never carries a secret."""

    def __init__(self, error_id, message, details="", return_code=0, status=None, headers=None):
        super().__init__(message)
        self.error_id = error_id
        self.message = message
        self.details = details
        self.return_code = return_code
        self.status = status or ERROR_STATUS.get(error_id, 400)
        self.headers = headers or {}

    def body(self):
        return error_body(self.error_id, self.message, self.details, self.return_code)


def error_body(error_id, message, details="", return_code=0):
    return {
        "id": error_id,
        "message": message,
        "details": details,
        "returnCode": return_code,
        "status": "ERROR",
        "type": "HSMPLUGIN" if error_id.startswith("HSMPLUGIN") else "FRAMEWORK",
    }


def encode(body):
    return json.dumps(body, separators=(",", ":")).encode()


def bad_request(message, details=""):
    return ApiError("FRAMEWORK_BAD_REQUEST", message, details)


def not_allowed(found, error_id="HSMPLUGIN_OPERATION_NOT_ALLOWED", return_code=0):
    """422 from the rules engine's findings: details is the first reason code, message all of them."""
    first = found[0]
    message = " ".join(f["message"] for f in found)
    return ApiError(error_id, message, first["code"], return_code)


def not_allowed_code(code, message, return_code=0):
    return ApiError("HSMPLUGIN_OPERATION_NOT_ALLOWED", message, code, return_code)


def unauthorized(message="Authentication required: send HTTP Basic credentials or a SESSION cookie."):
    return ApiError("FRAMEWORK_UNAUTHORIZED", message, headers={"WWW-Authenticate": 'Basic realm="lunasa"'})
