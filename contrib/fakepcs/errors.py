"""PCS error codes, their messages and HTTP statuses, in one table.

Handlers raise :class:`PcsError`; the server turns it into Baidu's error body
``{"error_code", "error_msg", "request_id"}`` with the status listed here, so the
mapping lives in exactly one place.
"""

from __future__ import annotations

# code -> (HTTP status, error_msg). Sources: Baidu's 2013 PCS error table
# (BaiduPCS-Go docs/file_data_apis_error.md) unless the comment says otherwise.
ERRORS: dict[int, tuple[int, str]] = {
    3: (400, "Unsupported open api"),
    4: (403, "No permission to do this operation"),
    6: (403, "No permission to access user data"),  # bypy comment [code]
    110: (401, "Access token invalid or no longer valid"),
    111: (401, "Access token expired"),  # bypy comment: "111 (sc: 401)" [code]
    31023: (400, "param error"),
    31024: (400, "app id is empty"),
    31034: (400, "hit frequence control"),  # status: probe saw 400 and 200 [probe]
    31045: (403, "user not exists"),
    31061: (400, "file already exists"),
    31062: (400, "file name is invalid"),
    31063: (400, "file parent path does not exist"),
    31064: (403, "file is not authorized"),
    31065: (400, "directory is full"),
    # The doc says 403; bypy's comment says "(indeed 404)". We follow bypy.
    31066: (404, "file does not exist"),
    31070: (503, "file delete failed"),
    31079: (404, "File md5 not found, you should use upload API to upload the whole file."),
    31081: (404, "superfile create failed"),  # 404 per bypy, 503 per the doc
    31082: (503, "superfile block list is empty"),
    31112: (400, "exceed quota"),
    31363: (403, "block miss in superfile2"),  # bypy const comment [code]
    36016: (404, "Task was not found"),
}


class PcsError(Exception):
    """A PCS-level failure that becomes a JSON error reply."""

    def __init__(
        self,
        code: int,
        msg: str | None = None,
        status: int | None = None,
        extra: dict[str, object] | None = None,
    ) -> None:
        default_status, default_msg = ERRORS.get(code, (400, "unknown error"))
        self.code = code
        self.msg = msg if msg is not None else default_msg
        self.status = status if status is not None else default_status
        self.extra = extra or {}
        super().__init__(f"{code} {self.msg}")

    def body(self, request_id: int) -> dict[str, object]:
        """The JSON body Baidu sends for this error."""
        out: dict[str, object] = {"error_code": self.code, "error_msg": self.msg}
        out.update(self.extra)
        out["request_id"] = request_id
        return out


class OAuthError(Exception):
    """An OAuth endpoint failure: ``{"error", "error_description"}``, no error_code."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        self.error = error
        self.description = description
        self.status = status
        super().__init__(f"{error}: {description}")

    def body(self) -> dict[str, object]:
        """The JSON body of the OAuth error."""
        return {"error": self.error, "error_description": self.description}
