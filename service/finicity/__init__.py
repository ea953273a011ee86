"""Mastercard Open Banking US (formerly Finicity): HTTP client, typed errors, models, partner token."""

from service.finicity.client import FinicityClient, RetryPolicy, TokenProvider
from service.finicity.errors import (
    AuthenticationFailed,
    BadRequest,
    Conflict,
    FinicityError,
    Forbidden,
    MfaRequired,
    NotFound,
    RateLimited,
    ServerError,
    TokenExpired,
    TokenInvalid,
    TransportError,
    UnexpectedResponse,
)
from service.finicity.paging import IncompleteRead
from service.finicity.tokens import PartnerTokenService, TokenCipher, TokenServiceUnavailable

__all__ = [
    "AuthenticationFailed",
    "BadRequest",
    "Conflict",
    "FinicityClient",
    "FinicityError",
    "Forbidden",
    "IncompleteRead",
    "MfaRequired",
    "NotFound",
    "PartnerTokenService",
    "RateLimited",
    "RetryPolicy",
    "ServerError",
    "TokenCipher",
    "TokenExpired",
    "TokenInvalid",
    "TokenProvider",
    "TokenServiceUnavailable",
    "TransportError",
    "UnexpectedResponse",
]
