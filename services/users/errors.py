"""What the users' use cases refuse, as domain errors (they know nothing of HTTP;
:data:`services.users.api.PROBLEMS` says what each answers)::

    UserError
    ├── UserNotFound            no such account
    ├── AddressNotFound         no such address, or another user's
    ├── EmailTaken              an account with this email exists already
    ├── NotAnEmail              an email no account can have
    ├── LookalikeEmail          an address that could pass for another one
    └── BadCredentials          an unknown email or a wrong password (one error for
                                both: which one it was is not told)
"""

from __future__ import annotations

from shared.errors import DomainError


class UserError(DomainError):
    """A request about accounts that cannot be carried out as asked."""


class UserNotFound(UserError):
    message = "user not found"


class AddressNotFound(UserError):
    message = "address not found"


class EmailTaken(UserError):
    message = "an account with this email already exists"


class NotAnEmail(UserError):
    message = "not a valid address"


class LookalikeEmail(UserError):
    def __init__(self, why: str) -> None:
        super().__init__(f"{why}; it could pass for another address")


class BadCredentials(UserError):
    message = "invalid email or password"
