"""What the users' routes do: register, log in, read accounts and their addresses.

Each use case takes the service and parsed input, applies the rules of
:mod:`services.users.domain` to rows read through :mod:`services.users.repository`,
and raises the domain errors of :mod:`services.users.errors` (answered as
:data:`services.users.api.PROBLEMS` says).
"""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError

from services.users.domain import email_key, lookalike, normalize_email
from services.users.errors import (
    AddressNotFound,
    BadCredentials,
    EmailTaken,
    LookalikeEmail,
    NotAnEmail,
    UserNotFound,
)
from services.users.limits import SignInLimits
from services.users.models import Address, User
from services.users.passwords import Passwords
from services.users.repository import Users
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
from shared.service import Service


def _customer_token(service: Service, user_id: str) -> str:
    return mint_token(
        service.settings.jwt_key,
        sub=user_id,
        roles=["customer"],
        ttl_seconds=service.settings.jwt_ttl_seconds,
    )


async def _existing(users: Users, user_id: str) -> User:
    user = await users.get(user_id)
    if user is None:
        raise UserNotFound
    return user


def _address_out(address: Address) -> AddressOut:
    return AddressOut.model_validate(address, from_attributes=True)


async def register(service: Service, body: Registration, passwords: Passwords) -> Registered:
    """A new account, announced (``user.created``) in the same transaction and signed in."""
    key, email = email_key(body.email), normalize_email(body.email)
    if key is None or email is None:  # EmailStr has validated it already: unreachable in practice
        raise NotAnEmail
    confusing = lookalike(email)
    if confusing is not None:
        raise LookalikeEmail(confusing)
    # Checked before hashing so a duplicate costs no hashing; the unique index
    # decides the race between two registrations of one address.
    async with service.db.sessions() as session:
        if await Users(session).by_email_key(key) is not None:
            raise EmailTaken
    # Hashed outside any transaction: a slow hash must not hold a database lock.
    password_hash = await passwords.hash(body.password)
    user = User(
        email=email,
        email_key=key,
        first_name=body.first_name,
        last_name=body.last_name,
        password_hash=password_hash,
    )
    try:
        async with service.uow() as uow:
            Users(uow.session).add(user)
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
        raise EmailTaken from None
    return Registered(user_id=user.id, email=user.email, token=_customer_token(service, user.id))


async def login(
    service: Service, body: Credentials, passwords: Passwords, limits: SignInLimits
) -> Session:
    """A token for the right email and password; failures are limited per account."""
    key = email_key(body.email)
    if key is None:  # no account has this address; verify() still spends the usual time
        await passwords.verify(None, body.password)
        raise BadCredentials
    # Unknown accounts are limited like known ones: a 429 must not reveal which exist.
    limits.start_login(key)
    try:
        async with service.db.sessions() as session:
            user = await Users(session).by_email_key(key)
        verified = await passwords.verify(user.password_hash if user else None, body.password)
    except BaseException:
        limits.not_a_failure(key)  # the password was never judged
        raise
    if not verified:
        raise BadCredentials
    limits.not_a_failure(key)
    assert user is not None  # verify() is never true without a stored hash
    if passwords.needs_rehash(user.password_hash):
        # Hashing parameters were raised since this password was set: upgrade it now,
        # the only moment the plain password is at hand.
        new_hash = await passwords.hash(body.password)
        async with service.uow() as uow:
            stored = await Users(uow.session).get(user.id)
            if stored is not None:
                stored.password_hash = new_hash
    return Session(user_id=user.id, token=_customer_token(service, user.id))


async def find_users(service: Service, *, email: str | None, limit: int) -> list[UserDetails]:
    """Accounts oldest first; with ``email``, the one that address signs in to (if any)."""
    async with service.db.reads() as session:
        users = await Users(session).oldest_first(
            limit=limit, email_key=None if email is None else (email_key(email) or "")
        )
    return [UserDetails.of(u) for u in users]


async def get_user(service: Service, user_id: str) -> UserDetails:
    async with service.db.reads() as session:
        return UserDetails.of(await _existing(Users(session), user_id))


async def list_addresses(service: Service, user_id: str) -> list[AddressOut]:
    async with service.db.reads() as session:
        users = Users(session)
        await _existing(users, user_id)
        return [_address_out(a) for a in await users.addresses(user_id)]


async def add_address(service: Service, user_id: str, body: AddressIn) -> AddressOut:
    async with service.uow() as uow:
        users = Users(uow.session)
        await _existing(users, user_id)
        address = Address(user_id=user_id, **body.model_dump())
        users.add(address)
    return _address_out(address)


async def remove_address(service: Service, user_id: str, address_id: str) -> None:
    """Forget one of the user's addresses (orders keep their own copy); another user's looks absent."""
    async with service.uow() as uow:
        address = await Users(uow.session).address(address_id)
        if address is None or address.user_id != user_id:
            raise AddressNotFound
        await uow.session.delete(address)


async def get_address(service: Service, user_id: str, address_id: str) -> AddressOut:
    """One of the user's addresses; another user's looks absent."""
    async with service.db.reads() as session:
        address = await Users(session).address(address_id)
    if address is None or address.user_id != user_id:
        raise AddressNotFound
    return _address_out(address)
