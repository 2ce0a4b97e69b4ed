"""The notifier's demo addresses name the people the registry's demo accounts sign in as: each service keeps
its own data (the notifier never asks the registry), so this cross-service test keeps the two in step."""

from __future__ import annotations

from lkg.notifier.demo import DEMO_PEOPLE
from lkg.registry.accounts.seed import DEMO_ACCOUNTS
from lkg.registry.demo_directory import person_of


def test_every_demo_account_has_an_address_for_its_own_person():
    accounts = {username: person_of(post, n) for username, post, n, _ in DEMO_ACCOUNTS}
    assert {k: v for k, v in DEMO_PEOPLE.items() if not k.startswith("line")} == accounts
