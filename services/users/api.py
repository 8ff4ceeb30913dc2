"""The users HTTP API: registration, login (JWT issuing), profiles and addresses.

Register and login are public; every other path needs a bearer token, and a
customer reaches only their own user (another user's looks absent: 404).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.users.domain import email_key
from services.users.limits import SignInLimits
from services.users.models import Address, User
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
from shared.auth import mint_token
from shared.messages import UserCreated
from shared.service import Service, ServiceDep
from shared.web.auth import CurrentPrincipal, OpsPrincipal, ensure_owner
from shared.web.problems import Conflict, NotFound, Unauthorized, Unprocessable, problem_responses

router = APIRouter(tags=["users"])

Id = Annotated[
    str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:@-]+$", examples=["ada"])
]
BAD_CREDENTIALS = "invalid email or password"
"""One message for an unknown email and a wrong password: no account enumeration."""


async def _passwords(request: Request) -> Passwords:
    passwords: Passwords = request.app.state.passwords
    return passwords


async def _sign_in_limits(request: Request) -> SignInLimits:
    limits: SignInLimits = request.app.state.sign_in_limits
    return limits


async def _session(service: ServiceDep) -> AsyncIterator[AsyncSession]:
    async with service.db.reads() as session:
        yield session


PasswordsDep = Annotated[Passwords, Depends(_passwords)]
SignInLimitsDep = Annotated[SignInLimits, Depends(_sign_in_limits)]
SessionDep = Annotated[AsyncSession, Depends(_session)]


async def _user_by_email_key(session: AsyncSession, key: str) -> User | None:
    return (await session.exec(select(User).where(User.email_key == key))).first()


async def _existing_user(session: AsyncSession, user_id: str) -> User:
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound("user not found")
    return user


def _customer_token(service: Service, user_id: str) -> str:
    return mint_token(
        service.settings.jwt_key,
        sub=user_id,
        roles=["customer"],
        ttl_seconds=service.settings.jwt_ttl_seconds,
    )


def _address_out(address: Address) -> AddressOut:
    return AddressOut.model_validate(address, from_attributes=True)


@router.post(
    "/users/register",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(409, 422, 429),
    summary="Create an account",
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
    key = email_key(body.email)
    if key is None:  # EmailStr has validated it already: unreachable in practice
        raise Unprocessable("email: not a valid address", field="email")
    duplicate = Conflict("an account with this email already exists", field="email")
    # Checked before hashing so a duplicate costs no hashing; the unique index
    # decides the race between two registrations of one address.
    async with service.db.sessions() as session:
        if await _user_by_email_key(session, key) is not None:
            raise duplicate
    # Hashed outside any transaction: a slow hash must not hold a database lock.
    password_hash = await passwords.hash(body.password)
    user = User(
        email=body.email,
        email_key=key,
        first_name=body.first_name,
        last_name=body.last_name,
        password_hash=password_hash,
    )
    try:
        async with service.uow() as uow:
            uow.session.add(user)
            await uow.session.flush()
            uow.send(
                UserCreated(
                    user_id=user.id,
                    email=user.email,
                    first_name=user.first_name,
                    last_name=user.last_name,
                ),
                correlation_id=user.id,
            )
    except IntegrityError:
        raise duplicate from None
    response.headers["Location"] = f"/api/v1/users/{user.id}"
    return Registered(user_id=user.id, email=user.email, token=_customer_token(service, user.id))


@router.post("/users/login", responses=problem_responses(401, 422, 429), summary="Log in for a JWT")
async def login(
    body: Credentials,
    request: Request,
    service: ServiceDep,
    passwords: PasswordsDep,
    limits: SignInLimitsDep,
) -> Session:
    """A token for the right email and password; failures are limited per account."""
    limits.count_call(request)
    key = email_key(body.email)
    if key is None:  # no account has this address; verify() still spends the usual time
        await passwords.verify(None, body.password)
        raise Unauthorized(BAD_CREDENTIALS)
    # Unknown accounts are limited like known ones: a 429 must not reveal which exist.
    limits.start_login(key)
    try:
        async with service.db.sessions() as session:
            user = await _user_by_email_key(session, key)
        verified = await passwords.verify(user.password_hash if user else None, body.password)
    except BaseException:
        limits.not_a_failure(key)  # the password was never judged
        raise
    if not verified:
        raise Unauthorized(BAD_CREDENTIALS)
    limits.not_a_failure(key)
    assert user is not None  # verify() is never true without a stored hash
    if passwords.needs_rehash(user.password_hash):
        # Hashing parameters were raised since this password was set: upgrade it now,
        # the only moment the plain password is at hand.
        new_hash = await passwords.hash(body.password)
        async with service.uow() as uow:
            stored = await uow.session.get(User, user.id)
            if stored is not None:
                stored.password_hash = new_hash
    return Session(user_id=user.id, token=_customer_token(service, user.id))


@router.get("/users", responses=problem_responses(401, 403, 422), summary="Find users (ops)")
async def find_users(
    _ops: OpsPrincipal,
    session: SessionDep,
    email: Annotated[
        str | None, Query(max_length=320, description="exact, case-insensitive")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[UserDetails]:
    stmt = select(User).order_by(col(User.created_at)).limit(limit)
    if email is not None:
        stmt = stmt.where(User.email_key == (email_key(email) or ""))
    users = (await session.exec(stmt)).all()
    return [UserDetails.of(u) for u in users]


@router.get("/users/{user_id}", responses=problem_responses(401, 404, 422))
async def get_user(user_id: Id, principal: CurrentPrincipal, session: SessionDep) -> UserDetails:
    ensure_owner(principal, user_id, "user")
    user = await _existing_user(session, user_id)
    return UserDetails.of(user)


@router.get("/users/{user_id}/addresses", responses=problem_responses(401, 404, 422))
async def list_addresses(
    user_id: Id, principal: CurrentPrincipal, session: SessionDep
) -> list[AddressOut]:
    ensure_owner(principal, user_id, "user")
    await _existing_user(session, user_id)
    stmt = (
        select(Address)
        .where(Address.user_id == user_id)
        .order_by(col(Address.created_at), col(Address.id))
    )
    return [_address_out(a) for a in (await session.exec(stmt)).all()]


@router.post(
    "/users/{user_id}/addresses",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(401, 404, 422),
)
async def add_address(
    user_id: Id, body: AddressIn, principal: CurrentPrincipal, service: ServiceDep
) -> AddressOut:
    ensure_owner(principal, user_id, "user")
    async with service.uow() as uow:
        await _existing_user(uow.session, user_id)
        address = Address(user_id=user_id, **body.model_dump())
        uow.session.add(address)
    return _address_out(address)


@router.get("/users/{user_id}/addresses/{address_id}", responses=problem_responses(401, 404, 422))
async def get_address(
    user_id: Id, address_id: Id, principal: CurrentPrincipal, session: SessionDep
) -> AddressOut:
    ensure_owner(principal, user_id, "address")
    address = await session.get(Address, address_id)
    if address is None or address.user_id != user_id:
        raise NotFound("address not found")
    return _address_out(address)
