"""The app layer (use cases): load → decide (core) → commit (store) →
publish (broker), one module per job.

    catalog.py    what the config declares, indexed (no I/O)
    directory.py  contacts on the store: find by any identity, links
    changes.py    the one compare-and-set loop and the one publish path
    contacts.py   learn a contact, the directory agents edit, republish
    reads.py      snapshot, thread, history, search, contact card, inbox
    commands.py   agent commands that change a conversation
    intake.py     channel events and the session timer
    tokens.py     authenticate, revoke, (dev) issue
    routing.py    agents' status, offers, transfers, the routing pass
    canned.py     canned responses: the agent's lists, save, delete
    dispatch.py   one protocol command → the use case that runs it

``App`` only groups the parts for the edges; the node builds each part.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from server.app.canned import CannedResponses
from server.app.catalog import Catalog
from server.app.changes import Changes
from server.app.commands import Commands
from server.app.contacts import Contacts
from server.app.directory import Directory
from server.app.intake import Intake
from server.app.reads import Reads
from server.app.routing import Router
from server.app.tokens import Tokens


@dataclass(frozen=True, slots=True)
class App:
    catalog: Catalog
    directory: Directory
    changes: Changes
    contacts: Contacts
    reads: Reads
    commands: Commands
    intake: Intake
    tokens: Tokens
    routing: Router
    clock: Callable[[], int]
    canned: CannedResponses
