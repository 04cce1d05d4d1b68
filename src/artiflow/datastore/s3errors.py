"""What an S3 failure means for the person running the flow: botocore's exceptions turned into artiflow errors.

Configuration mistakes (no bucket, denied access, no credentials, an endpoint that does not answer) become
ConfigErrors that say what to change; anything else that outlived the retries becomes an S3Error.
"""

from __future__ import annotations

from typing import Any

from ..exceptions import ArtifactError, ConfigError

DENIED_CODES = {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "AllAccessDisabled",
                "InvalidToken", "ExpiredToken", "TokenRefreshRequired", "403"}
MISSING_CODES = {"NoSuchKey", "404", "NotFound"}
BOTO3_MISSING = ("The datastore root {root} is on S3, which needs boto3, and boto3 is not installed in this "
                 "Python ({python}). Install it with: pip install 'artiflow[s3]'")


class S3Error(ArtifactError):
    """An S3 request that failed for good (after botocore's retries): says which, where, and what to try."""

    headline = "S3 datastore error"


def error_code(exc: BaseException) -> str | None:
    """The S3 error code of a botocore ClientError (`NoSuchBucket`, `404`), else None."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return None
    return str(response.get("Error", {}).get("Code") or "") or None


def is_missing(exc: BaseException) -> bool:
    """Whether the error says the object is not there (GetObject's NoSuchKey, HeadObject's bare 404)."""
    return error_code(exc) in MISSING_CODES


def translate(exc: Exception, operation: str, what: str, where: Any) -> Exception:
    """The artiflow error for a botocore exception raised by `operation` on `what` (a blob), in `where` (an S3Storage)."""
    import botocore.exceptions as bce

    root, endpoint = where.describe(), where.endpoint_description()
    if isinstance(exc, (bce.NoCredentialsError, bce.PartialCredentialsError)):
        return ConfigError(f"No usable AWS credentials for the S3 datastore at {root} ({exc}). Give boto3 "
                           f"credentials the usual way: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, "
                           f"~/.aws/credentials, or an instance role.")
    if isinstance(exc, (bce.EndpointConnectionError, bce.ConnectTimeoutError)):
        return ConfigError(f"The S3 endpoint {endpoint} could not be reached ({exc}), after "
                           f"{where.settings.max_attempts} attempts, for {operation} of {what} in {root}. Check "
                           f"that the server is running and the URL is right: set ARTIFLOW_S3_ENDPOINT_URL to an "
                           f"S3-compatible server, or unset it to use AWS S3.")
    code = error_code(exc)
    if code == "NoSuchBucket":
        return ConfigError(f"The S3 bucket '{where.bucket}' does not exist (datastore root {root}, endpoint "
                           f"{endpoint}). Create it (aws s3 mb s3://{where.bucket}{where.cli_endpoint_flag()}), or "
                           f"set ARTIFLOW_DATASTORE_ROOT to s3://an-existing-bucket/prefix.")
    if code in DENIED_CODES:
        return ConfigError(f"Access to the S3 datastore at {root} was denied for {operation} of {what} "
                           f"({code}: {_message(exc)}). Check the credentials boto3 finds (AWS_PROFILE, "
                           f"AWS_ACCESS_KEY_ID, ~/.aws/credentials) and that they allow s3:GetObject, s3:PutObject, "
                           f"s3:DeleteObject and s3:ListBucket on bucket '{where.bucket}'.")
    detail = f"{code}: {_message(exc)}" if code else f"{type(exc).__name__}: {exc}"
    return S3Error(f"S3 {operation} of {what} in {root} failed ({detail}) after {where.settings.max_attempts} "
                   f"attempts at {endpoint}. The service may be failing or throttling: try again later (resume "
                   f"the run), or allow more attempts with ARTIFLOW_S3_MAX_ATTEMPTS.")


def _message(exc: BaseException) -> str:
    """The server's own words for a ClientError (or the exception's text)."""
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Message") or exc)
