"""Who may do what: the permission table of the control API's commands, by role.

Layer: edge (pure). The table is the single source; docs/control-api.md reproduces it and a test checks
that they agree. Requests not listed here need no session (hello, subscribe, login …).

    command          vendor  admin  senior  operator  readonly
    whoami, logout     ✓       ✓      ✓        ✓         ✓
    set_password       ✓       ✓      ✓        ✓         ✓      (own; another's: manage rule below)
    get_report         ✓       ✓      ✓        ✓         ✓
    get_period_report  ✓       ✓      ✓        ✓         ✓
    list_shifts        ✓       ✓      ✓        ✓         ✓
    ack_alarm          ✓       ✓      ✓        ✓         -
    read_totals        ✓       ✓      ✓        ✓         -
    open_shift         -       ✓      ✓        ✓         -
    close_shift        -       ✓      ✓        ✓         -
    close_day          -       ✓      ✓        -         -
    list_operators     ✓       ✓      ✓        -         -
    unlock_operator    ✓       ✓      ✓        -         -
    get_audit          ✓       ✓      ✓        -         -
    lock_operator      ✓       ✓      -        -         -
    add_operator       ✓       ✓      -        -         -
    desk.read          ✓       ✓      ✓        ✓         -      the attendant's desk (docs/desk.md)
    desk.operations    ✓       ✓      ✓        ✓         -
    desk.pin           -       ✓      ✓        ✓         -
    desk.topup         -       ✓      ✓        ✓         -
    desk.unlock        -       ✓      ✓        ✓         -
    desk.lost          -       ✓      ✓        ✓         -
    desk.register      -       ✓      ✓        -         -
    desk.issue         -       ✓      ✓        -         -
    desk.replace       -       ✓      ✓        -         -
    desk.cancel        -       ✓      ✓        -         -
    desk.reinstate     -       ✓      ✓        -         -
    desk.cylinder      -       ✓      ✓        -         -
    desk.clear         -       ✓      ✓        -         -
    lpg.store          ✓       ✓      ✓        ✓         ✓
    lpg.fill           -       ✓      ✓        ✓         -
    lpg.customer       -       ✓      ✓        ✓         -      (ID number in full: admin, senior)
    lpg.handout        -       ✓      ✓        ✓         -
    lpg.return         -       ✓      ✓        ✓         -

Managing another operator (add, lock, unlock, set their password) also needs a higher rank than the
target's role, except that vendor and admin may manage their own rank: vendor > admin > senior >
operator > readonly. So a senior operator unlocks an attendant locked out, but not an admin.
"""

from __future__ import annotations

from collections.abc import Mapping

from edge.control.messages import Role

_V, _A, _S, _O, _R = Role.VENDOR, Role.ADMIN, Role.SENIOR, Role.OPERATOR, Role.READONLY

PERMISSIONS: Mapping[str, frozenset[Role]] = {
    "whoami": frozenset({_V, _A, _S, _O, _R}),
    "logout": frozenset({_V, _A, _S, _O, _R}),
    "set_password": frozenset({_V, _A, _S, _O, _R}),
    "get_report": frozenset({_V, _A, _S, _O, _R}),
    "get_period_report": frozenset({_V, _A, _S, _O, _R}),
    "list_shifts": frozenset({_V, _A, _S, _O, _R}),
    "ack_alarm": frozenset({_V, _A, _S, _O}),
    "read_totals": frozenset({_V, _A, _S, _O}),
    "open_shift": frozenset({_A, _S, _O}),
    "close_shift": frozenset({_A, _S, _O}),
    "close_day": frozenset({_A, _S}),
    "list_operators": frozenset({_V, _A, _S}),
    "unlock_operator": frozenset({_V, _A, _S}),
    "get_audit": frozenset({_V, _A, _S}),
    "lock_operator": frozenset({_V, _A}),
    "add_operator": frozenset({_V, _A}),
    "desk.read": frozenset({_V, _A, _S, _O}),
    "desk.operations": frozenset({_V, _A, _S, _O}),
    "desk.pin": frozenset({_A, _S, _O}),
    "desk.topup": frozenset({_A, _S, _O}),
    "desk.unlock": frozenset({_A, _S, _O}),
    "desk.lost": frozenset({_A, _S, _O}),
    "desk.register": frozenset({_A, _S}),
    "desk.issue": frozenset({_A, _S}),
    "desk.replace": frozenset({_A, _S}),
    "desk.cancel": frozenset({_A, _S}),
    "desk.reinstate": frozenset({_A, _S}),
    "desk.cylinder": frozenset({_A, _S}),
    "desk.clear": frozenset({_A, _S}),
    "lpg.store": frozenset({_V, _A, _S, _O, _R}),
    "lpg.fill": frozenset({_A, _S, _O}),
    "lpg.customer": frozenset({_A, _S, _O}),
    "lpg.handout": frozenset({_A, _S, _O}),
    "lpg.return": frozenset({_A, _S, _O}),
}

RANK: Mapping[Role, int] = {_V: 5, _A: 4, _S: 3, _O: 2, _R: 1}
SELF_RANK_MANAGERS = frozenset({_V, _A})


def allowed(role: Role, command: str) -> bool:
    return role in PERMISSIONS.get(command, frozenset())


def permissions_of(role: Role) -> tuple[str, ...]:
    return tuple(sorted(cmd for cmd, roles in PERMISSIONS.items() if role in roles))


def may_manage(actor: Role, target: Role) -> bool:
    """May `actor` add, lock, unlock or reset the password of an operator with role `target`?"""
    if actor in SELF_RANK_MANAGERS:
        return RANK[target] <= RANK[actor]
    return RANK[target] < RANK[actor]
