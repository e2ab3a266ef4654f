"""The conversation's stages (D1–D5): groups, the table of manual moves, and the automatic
moves that messages cause. Pure data and functions; actions/stages.py applies them.

Read from the DevRev PLuG seed: New and Suspended are Open; Waiting on user, Needs response
and Hold are In progress; Resolved and Archived are Closed. Archived is final.
"""

from __future__ import annotations

from .models import Stage

GROUPS: dict[str, tuple[str, ...]] = {
    "open": (Stage.NEW, Stage.SUSPENDED),
    "in_progress": (Stage.WAITING_ON_USER, Stage.NEEDS_RESPONSE, Stage.HOLD),
    "closed": (Stage.RESOLVED, Stage.ARCHIVED),
}
GROUP_OF = {stage: group for group, stages in GROUPS.items() for stage in stages}

# Manual moves an operator may make (D2: "checked against a transition table"). Anything
# not listed is refused with a clear error and changes nothing.
MANUAL_MOVES: dict[str, frozenset[str]] = {
    # spam that got past the filter; answered elsewhere; thrown away
    Stage.NEW: frozenset({Stage.SUSPENDED, Stage.WAITING_ON_USER, Stage.RESOLVED,
                          Stage.ARCHIVED}),
    # a reviewer found it valid; or it really is spam
    Stage.SUSPENDED: frozenset({Stage.NEW, Stage.ARCHIVED}),
    # the customer answered elsewhere; escalated; resolved
    Stage.WAITING_ON_USER: frozenset({Stage.NEEDS_RESPONSE, Stage.HOLD, Stage.RESOLVED}),
    Stage.NEEDS_RESPONSE: frozenset({Stage.WAITING_ON_USER, Stage.HOLD, Stage.RESOLVED}),
    # dependencies done (normally automatic), or answered directly, or resolved
    Stage.HOLD: frozenset({Stage.NEEDS_RESPONSE, Stage.WAITING_ON_USER, Stage.RESOLVED}),
    # reopened by the team; put away
    Stage.RESOLVED: frozenset({Stage.NEEDS_RESPONSE, Stage.ARCHIVED}),
    Stage.ARCHIVED: frozenset(),
}


def can_move(current: str, target: str) -> bool:
    return target in MANUAL_MOVES.get(current, frozenset())


# Automatic moves (D2).
def after_team_reply(current: str) -> str | None:
    """The team's first reply (New), a reply to Needs response, or an answer while on Hold
    waits for the user."""
    if current in (Stage.NEW, Stage.NEEDS_RESPONSE, Stage.HOLD):
        return Stage.WAITING_ON_USER
    return None


def after_customer_reply(current: str) -> str | None:
    """A customer reply needs the team's response, and reopens a Resolved conversation."""
    if current in (Stage.WAITING_ON_USER, Stage.RESOLVED):
        return Stage.NEEDS_RESPONSE
    return None


# D5: the inbox shows a Reply button on these.
NEEDS_TEAM = frozenset({Stage.NEEDS_RESPONSE, Stage.NEW})


# M4: snooze is a state beside the stage, not a stage (docs/architecture.md, "Snooze"). Only
# a conversation the team is working on can be snoozed: not spam under review, not a closed
# one (a move to the closed group ends a snooze).
SNOOZABLE = frozenset({Stage.NEW, Stage.WAITING_ON_USER, Stage.NEEDS_RESPONSE, Stage.HOLD})


def after_snooze(current: str) -> str | None:
    """When a snooze's time comes: a conversation waiting on the user comes back as needing
    the team's response (the table's WOU → NR, as if the customer had answered: the team
    asked to be reminded). New and Needs response already ask for the team; Hold still
    waits for its dependencies (E2 releases it)."""
    if current == Stage.WAITING_ON_USER:
        return Stage.NEEDS_RESPONSE
    return None
