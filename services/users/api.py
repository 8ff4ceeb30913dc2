"""The users HTTP API: registration, login (JWT issuing), profiles and addresses.

Register and login are public; every other path needs a bearer token, and a
customer reaches only their own user (another user's looks absent: 404).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status

from services.users import usecases
from services.users.errors import (
    AddressNotFound,
    BadCredentials,
    EmailTaken,
    LookalikeEmail,
    NotAnEmail,
    UserNotFound,
)
from services.users.limits import SignInLimits
from services.users.passwords import Passwords
from services.users.schemas import (
    AddressIn,
    AddressOut,
    Credentials,
    Registered,
    Registration,
    Session,
    UserDetails,
)
from shared.service import ServiceDep
from shared.web.app import API_PREFIX
from shared.web.auth import CurrentPrincipal, OpsPrincipal, ensure_owner
from shared.web.limits import SIGN_IN
from shared.web.problems import (
    SIGN_IN_FAILED,
    Conflict,
    DomainProblems,
    NotFound,
    Unauthorized,
    Unprocessable,
    problem_responses,
)

router = APIRouter(tags=["users"])

PROBLEMS: DomainProblems = {
    UserNotFound: lambda e: NotFound(str(e)),
    AddressNotFound: lambda e: NotFound(str(e)),
    EmailTaken: lambda e: Conflict(str(e), field="email"),
    NotAnEmail: lambda e: Unprocessable(f"email: {e}", field="email"),
    LookalikeEmail: lambda e: Unprocessable(f"email: {e}", field="email"),
    BadCredentials: lambda e: Unauthorized(str(e)),
}

Id = Annotated[
    str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:@-]+$", examples=["ada"])
]


async def _passwords(request: Request) -> Passwords:
    passwords: Passwords = request.app.state.passwords
    return passwords


async def _sign_in_limits(request: Request) -> SignInLimits:
    limits: SignInLimits = request.app.state.sign_in_limits
    return limits


PasswordsDep = Annotated[Passwords, Depends(_passwords)]
SignInLimitsDep = Annotated[SignInLimits, Depends(_sign_in_limits)]


@router.post(
    "/users/register",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(409, 422, 429),
    summary="Create an account",
    openapi_extra=SIGN_IN,
)
async def register(
    body: Registration,
    request: Request,
    response: Response,
    service: ServiceDep,
    passwords: PasswordsDep,
    limits: SignInLimitsDep,
) -> Registered:
    """Create an account, announce it (``user.created``) in the same transaction, and
    answer ``{userId, email, token}``: the new user is signed in."""
    limits.count_call(request)
    registered = await usecases.register(service, body, passwords)
    response.headers["Location"] = f"{API_PREFIX}/users/{registered.user_id}"
    return registered


@router.post(
    "/users/login",
    responses=problem_responses(401, 422, 429, descriptions=SIGN_IN_FAILED),
    summary="Log in for a JWT",
    openapi_extra=SIGN_IN,
)
async def login(
    body: Credentials,
    request: Request,
    service: ServiceDep,
    passwords: PasswordsDep,
    limits: SignInLimitsDep,
) -> Session:
    """A token for the right email and password; failures are limited per account."""
    limits.count_call(request)
    return await usecases.login(service, body, passwords, limits)


@router.get("/users", responses=problem_responses(401, 403, 422), summary="Find users (ops)")
async def find_users(
    _ops: OpsPrincipal,
    service: ServiceDep,
    email: Annotated[
        str | None, Query(max_length=320, description="exact, case-insensitive")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[UserDetails]:
    return await usecases.find_users(service, email=email, limit=limit)


@router.get("/users/{user_id}", responses=problem_responses(401, 404, 422))
async def get_user(user_id: Id, principal: CurrentPrincipal, service: ServiceDep) -> UserDetails:
    ensure_owner(principal, user_id, "user")
    return await usecases.get_user(service, user_id)


@router.get("/users/{user_id}/addresses", responses=problem_responses(401, 404, 422))
async def list_addresses(
    user_id: Id, principal: CurrentPrincipal, service: ServiceDep
) -> list[AddressOut]:
    ensure_owner(principal, user_id, "user")
    return await usecases.list_addresses(service, user_id)


@router.post(
    "/users/{user_id}/addresses",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(401, 404, 422),
)
async def add_address(
    user_id: Id, body: AddressIn, principal: CurrentPrincipal, service: ServiceDep
) -> AddressOut:
    ensure_owner(principal, user_id, "user")
    return await usecases.add_address(service, user_id, body)


@router.get("/users/{user_id}/addresses/{address_id}", responses=problem_responses(401, 404, 422))
async def get_address(
    user_id: Id, address_id: Id, principal: CurrentPrincipal, service: ServiceDep
) -> AddressOut:
    ensure_owner(principal, user_id, "address")
    return await usecases.get_address(service, user_id, address_id)


@router.delete(
    "/users/{user_id}/addresses/{address_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 404, 422),
)
async def remove_address(
    user_id: Id, address_id: Id, principal: CurrentPrincipal, service: ServiceDep
) -> None:
    """Forget a saved address; orders placed with it keep their own copy."""
    ensure_owner(principal, user_id, "address")
    await usecases.remove_address(service, user_id, address_id)
