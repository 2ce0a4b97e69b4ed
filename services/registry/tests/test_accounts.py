"""Use cases of accounts against a real PostgreSQL database (its own, migrated): roles derived from the
posts held, the lockout window on the simulated clock, what is stored of passwords and tokens, the
re-hash when the argon2 cost rises, the demo seed, and tokens that libs/common verifies."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta

import pytest
import pytest_asyncio
import sqlalchemy as sa

from lkg.common.auth import Principal, Role, TokenVerifier
from lkg.common.clock import TZ, SimulatedClock
from lkg.common.db import Database, migrate
from lkg.common.events.contracts import PersonSnapshot, PostHoldingSnapshot, PostKind, PostSnapshot
from lkg.common.http.problems import DomainError
from lkg.registry.accounts import audit, clients, lockout, passwords, seed, service
from lkg.registry.accounts.models import Account, LoginEvent, LoginGuard, RefreshToken
from lkg.registry.org import service as org
from lkg.registry.org.document import default_document, org_id
from lkg.registry.projects import lines
from lkg.registry.settings import RegistrySettings, most_failures_from_one_source

START = datetime(2020, 5, 1, 9, tzinfo=TZ)
SETTINGS = RegistrySettings(env="test", clock="simulated")
ORIGIN = audit.Origin(address="10.0.0.7", user_agent="unit-test")
#: The account-wide ceiling at 5, out of one address's reach (3 free failures, then a wait longer than the
#: window), so guesses from as many addresses as it takes exercise it (accounts/lockout.py).
LOCKOUT = RegistrySettings(
    env="test",
    clock="simulated",
    accounts_lockout_threshold=5,
    accounts_source_free_failures=3,
    accounts_source_delay_seconds=900,
    accounts_source_max_delay_seconds=900,
)
_addresses = itertools.count(1)


def somewhere() -> audit.Origin:
    """An origin no attempt has come from yet."""
    n = next(_addresses)
    return audit.Origin(address=f"10.1.{n // 250}.{n % 250 + 1}")


ADMIN, OFFICE = (
    Principal(subject=who, kind="person", person_id=who, client_id=None, name=who, roles=frozenset({role}))
    for who, role in (("root", Role.ADMIN), ("office", Role.MAJOR_PROJECTS_OFFICE))
)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def db(db_factory) -> AsyncIterator[Database]:
    url = await db_factory.fresh("registry", lambda u: migrate("lkg.registry:migrations", u))
    database = Database(url, pool_size=2)
    clock = SimulatedClock(START)
    async with database.transaction() as session:
        await lines.load_org_document(session, clock, default_document(), actor="t", reason="t")
        assert await seed.seed_demo_accounts(session, SETTINGS, clock) == len(seed.DEMO_ACCOUNTS) + 8
    yield database
    await database.dispose()


def _staff(key: str, unit: str, name: str) -> list:
    """A staff post in ``unit`` and a person holding it from 2020-05-01 to 2020-05-31."""
    post, person = org_id(f"post.{key}"), org_id(f"person.{key}")
    return [
        (
            f"post.{key}",
            PostSnapshot(
                id=post,
                revision=1,
                valid_from=date(2020, 5, 1),
                title=name,
                unit_id=org_id(unit),
                kind=PostKind.STAFF,
            ),
        ),
        (f"person.{key}", PersonSnapshot(id=person, revision=1, name=name)),
        (
            f"holding.{key}",
            PostHoldingSnapshot(
                id=org_id(f"holding.{key}"),
                revision=1,
                valid_from=date(2020, 5, 1),
                valid_to=date(2020, 5, 31),
                post_id=post,
                person_id=person,
            ),
        ),
    ]


async def test_roles_follow_the_posts_held_on_the_day(db: Database) -> None:
    clock = SimulatedClock(START)
    async with db.transaction() as session:
        await org.apply_changes(
            session,
            clock,
            _staff("united_front", "dept.united_front", "统战部联络员")
            + _staff("street", "street.cihui", "慈惠街专员")
            + _staff("statistics", "dept.statistics", "统计局专员")
            + [
                ("person.secretary", PersonSnapshot(id=org_id("person.secretary"), revision=1, name="书记")),
                (
                    "holding.secretary",
                    PostHoldingSnapshot(
                        id=org_id("holding.secretary"),
                        revision=1,
                        valid_from=date(2020, 5, 1),
                        post_id=org_id("post.party_secretary"),
                        person_id=org_id("person.secretary"),
                    ),
                ),
            ],
            actor="t",
            reason="t",
        )
        directory = await org.load_directory(session)
    may, june = date(2020, 5, 15), date(2020, 6, 1)

    def roles(key: str, day: date = may, admin: bool = False) -> list[str]:
        return sorted(service.roles_of(directory, org_id(key), day, system_admin=admin))

    assert roles("person.xu_yigong") == ["line_leader"]  # 第一线 (§二(二)1)
    assert roles("person.united_front") == ["service_department"]  # line 1's 区委统战部
    assert roles("person.street") == ["unit_user"]  # 慈惠街, a responsible unit
    assert roles("person.statistics") == ["statistics_bureau"]
    assert roles("person.secretary") == ["top_leader"]
    assert roles("person.demo_office_admin", admin=True) == ["admin", "major_projects_office"]
    assert roles("person.demo_assessor") == ["assessment_office"]
    # The holdings end on 2020-05-31: on 1 June the posts give nothing; admin belongs to the account.
    assert roles("person.street", june) == []
    assert roles("person.street", june, admin=True) == ["admin"]
    assert roles("person.nobody") == []


async def test_the_demo_seed_is_idempotent_and_stores_only_argon2id_hashes(db: Database) -> None:
    clock = SimulatedClock(START)
    async with db.transaction() as session:
        assert await seed.seed_demo_accounts(session, SETTINGS, clock) == 0
        accounts = (await session.execute(sa.select(Account).order_by(Account.username))).scalars().all()
    assert [a.username for a in accounts] == sorted(
        [username for username, *_ in seed.DEMO_ACCOUNTS] + [f"line{n}" for n in range(1, 9)]
    )
    assert all(a.password_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$") for a in accounts)
    assert [a.username for a in accounts if a.system_admin] == ["admin"]


async def test_failures_spread_beyond_the_window_do_not_lock(db: Database) -> None:
    clock = SimulatedClock(START)

    async def attempt(password: str) -> str:
        async with db.transaction() as session:
            result = await service.login(
                session, LOCKOUT, clock, username="LINE2", password=password, origin=somewhere()
            )
        return result.code if isinstance(result, DomainError) else "ok"

    assert [await attempt("wrong") for _ in range(4)] == ["invalid_credentials"] * 4
    clock.move_to(START + timedelta(minutes=15))  # the window (15 min) has run out: counting starts again
    assert [await attempt("wrong") for _ in range(4)] == ["invalid_credentials"] * 4
    assert await attempt("wrong") == "account_locked"
    assert await attempt(seed.DEMO_PASSWORD) == "account_locked"
    clock.move_to(START + timedelta(minutes=29, seconds=59))
    assert await attempt(seed.DEMO_PASSWORD) == "account_locked"
    clock.move_to(START + timedelta(minutes=30))
    assert await attempt(seed.DEMO_PASSWORD) == "ok"
    async with db.sessions() as session:
        guard = await session.get(LoginGuard, "line2")
        assert (guard.failures, guard.window_started_at, guard.locked_until) == (0, None, None)
        outcomes = (
            await session.execute(
                sa.select(LoginEvent.outcome, LoginEvent.client_address)
                .where(LoginEvent.username == "line2")
                .order_by(LoginEvent.at, LoginEvent.id)
            )
        ).all()
    assert [o for o, _ in outcomes] == ["failure"] * 8 + ["lockout", "locked", "locked", "success"]
    assert len({a for _, a in outcomes}) == 12  # each attempt from its own address


async def test_the_access_token_is_one_libs_common_verifies_and_the_refresh_token_is_kept_hashed(
    db: Database,
) -> None:
    clock = SimulatedClock(START)
    async with db.transaction() as session:
        issued = await service.login(
            session, SETTINGS, clock, username="line3", password=seed.DEMO_PASSWORD, origin=ORIGIN
        )
    assert isinstance(issued, service.Issued)
    principal = await TokenVerifier(SETTINGS).verify(issued.access_token)
    assert (principal.person_id, principal.kind, principal.roles, principal.name) == (
        str(org_id("person.zhou_benqi")),
        "person",
        frozenset({Role.LINE_LEADER}),
        "周本奇",
    )
    async with db.sessions() as session:
        row = (
            await session.execute(sa.select(RefreshToken).where(RefreshToken.account_id == issued.account_id))
        ).scalar_one()
    assert row.token_hash == hashlib.sha256(issued.refresh_token.encode()).hexdigest()
    assert row.expires_at == START + timedelta(days=30)


async def test_a_higher_argon2_cost_rehashes_at_the_next_login(db: Database) -> None:
    clock = SimulatedClock(START)
    stronger = RegistrySettings(env="test", clock="simulated", accounts_argon2_time_cost=3)
    async with db.transaction() as session:
        result = await service.login(
            session, stronger, clock, username="line8", password=seed.DEMO_PASSWORD, origin=ORIGIN
        )
        assert isinstance(result, service.Issued)
    async with db.sessions() as session:
        account = (await session.execute(sa.select(Account).where(Account.username == "line8"))).scalar_one()
    assert account.password_hash.startswith("$argon2id$v=19$m=19456,t=3,p=1$")


async def test_only_a_system_admin_makes_or_manages_a_system_admin(db: Database) -> None:
    clock = SimulatedClock(START)
    async with db.transaction() as session:

        def guo(*, system_admin: bool, by: Principal):  # 郭小平, line 6's leader
            return service.create_account(
                session,
                SETTINGS,
                clock,
                person_id=org_id("person.guo_xiaoping"),
                username="guo",
                password="long-enough-1",
                system_admin=system_admin,
                by=by,
            )

        with pytest.raises(DomainError) as refused:
            await guo(system_admin=True, by=OFFICE)
        assert refused.value.status == 403
        admin = (await session.execute(sa.select(Account).where(Account.username == "admin"))).scalar_one()
        with pytest.raises(DomainError) as managed:
            await service.set_status(
                session, clock, admin, status="disabled", expected_revision=admin.revision, by=OFFICE
            )
        assert managed.value.status == 403
        with pytest.raises(DomainError) as twice:
            await guo(system_admin=False, by=ADMIN)
        assert twice.value.code == "person_has_account"  # line6 is 郭小平's account already


async def test_a_client_token_names_the_client_and_a_rotated_secret_stops_at_once(db: Database) -> None:
    clock = SimulatedClock(START)
    async with db.transaction() as session:
        client, secret = await clients.register_client(
            session,
            clock,
            client_id="stats-system",
            name="统计联网直报",
            scopes=["projects:read", "enrolment:write"],
            by=ADMIN,
        )
    async with db.transaction() as session:
        token = await clients.issue_client_token(
            session,
            SETTINGS,
            clock,
            client_id="stats-system",
            client_secret=secret,
            scope="projects:read",
            origin=ORIGIN,
        )
    assert isinstance(token, clients.ClientToken)
    principal = await TokenVerifier(SETTINGS).verify(token.access_token)
    assert (principal.kind, principal.client_id, principal.scopes, principal.roles) == (
        "client",
        "stats-system",
        frozenset({"projects:read"}),
        frozenset({Role.CLIENT_SYSTEM}),
    )
    async with db.transaction() as session:
        client = await clients.get_client(session, "stats-system")
        assert client.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
        _, new_secret = await clients.rotate_client_secret(
            session, clock, client, expected_revision=client.revision, grace_seconds=0
        )
    async with db.transaction() as session:
        old = await clients.issue_client_token(
            session,
            SETTINGS,
            clock,
            client_id="stats-system",
            client_secret=secret,
            scope=None,
            origin=ORIGIN,
        )
        new = await clients.issue_client_token(
            session,
            SETTINGS,
            clock,
            client_id="stats-system",
            client_secret=new_secret,
            scope=None,
            origin=ORIGIN,
        )
    assert isinstance(old, DomainError) and (old.status, old.code) == (401, "invalid_client")
    assert isinstance(new, clients.ClientToken) and new.scopes == ("enrolment:write", "projects:read")


async def test_logging_out_an_unknown_token_changes_nothing(db: Database) -> None:
    clock = SimulatedClock(START)
    async with db.transaction() as session:
        before = (await session.execute(sa.select(sa.func.count()).select_from(LoginEvent))).scalar_one()
        assert not await service.logout(session, clock, refresh_token="lkgrt_" + "x" * 43, origin=ORIGIN)
        after = (await session.execute(sa.select(sa.func.count()).select_from(LoginEvent))).scalar_one()
    assert before == after


def test_an_idempotency_fingerprint_of_a_password_is_keyed_not_a_plain_hash() -> None:
    other = RegistrySettings(env="test", jwt_secret="another-secret-of-enough-length-000")
    plain = hashlib.sha256(b"long-enough-1").hexdigest()
    mine = passwords.password_fingerprint(SETTINGS, "long-enough-1")
    assert mine != plain and mine != passwords.password_fingerprint(other, "long-enough-1")
    assert mine == passwords.password_fingerprint(SETTINGS, "long-enough-1")


def test_usernames_are_compared_in_lower_case() -> None:
    assert passwords.normalise_username("  Line2 ") == "line2"


async def test_the_purge_removes_expired_refresh_tokens_and_spent_guards_only(db: Database) -> None:
    clock = SimulatedClock(START)
    async with db.transaction() as session:
        for _ in range(5):
            await service.login(session, SETTINGS, clock, username="ghost", password="guess", origin=ORIGIN)
        issued = await service.login(
            session, SETTINGS, clock, username="line1", password=seed.DEMO_PASSWORD, origin=ORIGIN
        )
    assert isinstance(issued, service.Issued)

    async def left() -> tuple[bool, bool]:
        async with db.sessions() as session:
            guard = await session.get(LoginGuard, "ghost")
            token = (
                await session.execute(
                    sa.select(RefreshToken).where(RefreshToken.account_id == issued.account_id)
                )
            ).scalar_one_or_none()
        return guard is not None, token is not None

    for until, expected in [
        (START + timedelta(minutes=14), (True, True)),  # still locked (until 09:15)
        (START + timedelta(minutes=15), (False, True)),  # the lock ran out: nothing to keep
        (START + timedelta(days=30) - timedelta(seconds=1), (False, True)),
        (START + timedelta(days=30), (False, False)),  # the refresh token expired
    ]:
        async with db.transaction() as session:
            await lockout.purge(session, until)
        assert await left() == expected, until


async def test_wrong_passwords_at_once_are_each_counted_and_lock_exactly_once(db: Database) -> None:
    clock = SimulatedClock(START + timedelta(hours=1))

    async def attempt() -> str:
        async with db.transaction() as session:
            result = await service.login(
                session, LOCKOUT, clock, username="line5", password="x", origin=somewhere()
            )
        assert isinstance(result, DomainError)
        return result.code

    codes = await asyncio.gather(*(attempt() for _ in range(6)))
    assert sorted(codes) == ["account_locked"] * 2 + ["invalid_credentials"] * 4
    async with db.sessions() as session:
        outcomes = (
            await session.execute(sa.select(LoginEvent.outcome).where(LoginEvent.username == "line5"))
        ).scalars()
        assert sorted(outcomes) == ["failure"] * 4 + ["locked", "lockout"]


async def test_one_refresh_token_sent_twice_at_once_rotates_once_and_ends_the_login(db: Database) -> None:
    clock = SimulatedClock(START + timedelta(hours=1))
    async with db.transaction() as session:
        issued = await service.login(
            session, SETTINGS, clock, username="line4", password=seed.DEMO_PASSWORD, origin=ORIGIN
        )
    assert isinstance(issued, service.Issued)

    async def use(token: str):
        async with db.transaction() as session:
            return await service.refresh(session, SETTINGS, clock, refresh_token=token, origin=ORIGIN)

    first, second = await asyncio.gather(use(issued.refresh_token), use(issued.refresh_token))
    winners = [r for r in (first, second) if isinstance(r, service.Issued)]
    losers = [r.code for r in (first, second) if isinstance(r, DomainError)]
    assert (len(winners), losers) == (1, ["refresh_token_reused"])
    # The family is revoked: the winner's new refresh token is dead too.
    after = await use(winners[0].refresh_token)
    assert isinstance(after, DomainError) and after.code == "invalid_refresh_token"


async def test_one_address_waits_longer_each_failure_and_cannot_lock_the_owner_out(db: Database) -> None:
    """Issue #11 item 5: a guesser must not lock a person out. One address guessing at a username for a
    whole window, waiting out every delay it is given, is throttled but never locks the account, and the
    owner, from elsewhere, logs in all along."""
    clock = SimulatedClock(START + timedelta(days=1))
    guesser = audit.Origin(address="203.0.113.9")

    async def attempt(password: str, origin: audit.Origin) -> DomainError | service.Issued:
        async with db.transaction() as session:
            return await service.login(
                session, SETTINGS, clock, username="line3", password=password, origin=origin
            )

    codes, waits, failures = [], [], 0
    while clock.now() < START + timedelta(days=1, minutes=15):
        result = await attempt("guess", guesser)
        assert isinstance(result, DomainError)
        codes.append(result.code)
        if result.code == "login_throttled":
            waits.append(int(result.headers["Retry-After"]))
            clock.move_to(clock.now() + timedelta(seconds=waits[-1]))
        else:
            assert result.code == "invalid_credentials"
            failures += 1
    assert codes[:5] == ["invalid_credentials"] * 4 + ["login_throttled"]
    assert waits == [2, 4, 8, 16, 32, 64, 128, 256, 300, 300][: len(waits)] and len(waits) >= 9
    assert failures < SETTINGS.accounts_lockout_threshold
    assert isinstance(await attempt(seed.DEMO_PASSWORD, audit.Origin(address="198.51.100.1")), service.Issued)
    # The guesser's own success (it learnt the password) clears its count.
    clock.move_to(clock.now() + timedelta(minutes=5))
    assert isinstance(await attempt(seed.DEMO_PASSWORD, guesser), service.Issued)
    assert (await attempt("guess", guesser)).code == "invalid_credentials"  # type: ignore[union-attr]


def test_the_ceiling_must_be_out_of_one_addresss_reach() -> None:
    assert most_failures_from_one_source(SETTINGS) == 12  # 3 free, then waits of 2 s … 300 s in 15 min
    with pytest.raises(ValueError, match="one guesser could lock an account"):
        RegistrySettings(env="test", accounts_lockout_threshold=12)
    assert RegistrySettings(env="test", accounts_lockout_threshold=13).accounts_lockout_threshold == 13
