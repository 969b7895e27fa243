"""Google API error shape: ``{"error": {"code": HTTP, "message": ..., "status": CANONICAL}}``."""

from __future__ import annotations

# canonical status name -> (HTTP status, google.rpc.Code number)
CODES = {
    "INVALID_ARGUMENT": (400, 3),
    "NOT_FOUND": (404, 5),
    "ALREADY_EXISTS": (409, 6),
    "FAILED_PRECONDITION": (400, 9),
    "UNIMPLEMENTED": (501, 12),
    "INTERNAL": (500, 13),
    "DEADLINE_EXCEEDED": (504, 4),
    "CANCELLED": (499, 1),
    "UNAVAILABLE": (503, 14),
}


class ApiError(Exception):
    """An error answered to an API call (HTTP) or recorded on a failed job (google.rpc.Status)."""

    def __init__(self, status: str, message: str):
        super().__init__(message)
        self.status = status
        self.message = message

    @property
    def http_code(self) -> int:
        return CODES[self.status][0]

    @property
    def rpc_code(self) -> int:
        return CODES[self.status][1]

    def http_body(self) -> dict:
        return {"error": {"code": self.http_code, "message": self.message, "status": self.status}}

    def rpc_status(self) -> dict:
        """The google.rpc.Status put in Job.error and in the Pub/Sub JobResult."""
        return {"code": self.rpc_code, "message": self.message}


def invalid(message: str) -> ApiError:
    return ApiError("INVALID_ARGUMENT", message)


def unimplemented(message: str) -> ApiError:
    return ApiError("UNIMPLEMENTED", message + " (valid for the Transcoder API, not implemented by the local emulator)")


def not_found(message: str) -> ApiError:
    return ApiError("NOT_FOUND", message)
