"""Errors raised by the Python client.

    ClientError
    ├── CommandError            the server refused a command (carries its ``code``)
    │   ├── AlreadyAssigned     ``already_assigned``: someone else took it first
    │   ├── SessionLocked       ``session_locked``: only a template may go out
    │   ├── NotFound, Forbidden, NotAssignee, ConversationEnded,
    │   │   ConversationOpen, NotSupportedOnChannel, InvalidArgument,
    │   │   Conflict, RateLimited, Unavailable, InternalError, BadFrame,
    │   │   UnknownCommand     one class per stable code in protocol.errors
    │   └── (a code this client does not know yet: plain CommandError)
    ├── AuthError               token refused or protocol not served: reconnecting
    │                           will not help; the client stops
    ├── ConnectionLost          the connection dropped while a command was in
    │                           flight: it may or may not have been carried out
    ├── NotConnected            no live connection within the command timeout
    └── ClientClosed            the client was closed

Branch on the type (or on ``CommandError.code``), never on the message text:
messages are for people and may change.
"""

from __future__ import annotations

from protocol import errors as codes


class ClientError(Exception):
    pass


class CommandError(ClientError):
    """The server answered a command with an ``error`` frame."""

    code: str = ""

    def __init__(self, code: str, message: str, command: str = "") -> None:
        super().__init__(f"{code}: {message}" + (f" ({command})" if command else ""))
        self.code = code
        self.message = message
        self.command = command


class AlreadyAssigned(CommandError):
    """Someone else took the conversation first."""

    code = codes.ALREADY_ASSIGNED


class SessionLocked(CommandError):
    """The reply window has closed: only a template may go out."""

    code = codes.SESSION_LOCKED


class NotFound(CommandError):
    """No such conversation (or not one this agent may see)."""

    code = codes.NOT_FOUND


class Forbidden(CommandError):
    """The agent has no right to do this."""

    code = codes.FORBIDDEN


class NotAssignee(CommandError):
    """Only the conversation's assignee may do this."""

    code = codes.NOT_ASSIGNEE


class ConversationEnded(CommandError):
    """The conversation has ended."""

    code = codes.CONVERSATION_ENDED


class ConversationOpen(CommandError):
    """The conversation is still open (wrap-up before End Chat, or a second outbound)."""

    code = codes.CONVERSATION_OPEN


class NotSupportedOnChannel(CommandError):
    """Not on this channel (e.g. Notes on Messenger)."""

    code = codes.NOT_SUPPORTED_ON_CHANNEL


class InvalidArgument(CommandError):
    """A well-typed but unacceptable value."""

    code = codes.INVALID_ARGUMENT


class InvalidAddress(CommandError):
    """Not a phone number (or BSUID / PSID) a message can go to; the message says why."""

    code = codes.INVALID_ADDRESS


class Conflict(CommandError):
    """Concurrent writers kept winning; retry."""

    code = codes.CONFLICT


class RateLimited(CommandError):
    """Too many commands; slow down."""

    code = codes.RATE_LIMITED


class Unavailable(CommandError):
    """Storage or broker down: nothing was done; retry."""

    code = codes.UNAVAILABLE


class InternalError(CommandError):
    """A server bug; nothing was done."""

    code = codes.INTERNAL


class BadFrame(CommandError):
    """The server could not read the frame."""

    code = codes.BAD_FRAME


class UnknownCommand(CommandError):
    """The server does not know this command."""

    code = codes.UNKNOWN_COMMAND


BY_CODE: dict[str, type[CommandError]] = {
    cls.code: cls
    for cls in (
        AlreadyAssigned,
        SessionLocked,
        NotFound,
        Forbidden,
        NotAssignee,
        ConversationEnded,
        ConversationOpen,
        NotSupportedOnChannel,
        InvalidArgument,
        InvalidAddress,
        Conflict,
        RateLimited,
        Unavailable,
        InternalError,
        BadFrame,
        UnknownCommand,
    )
}


def command_error(code: str, message: str, command: str = "") -> CommandError:
    """The typed error for a server code; a code unknown to this client
    version still raises (as a plain CommandError carrying the code)."""
    return BY_CODE.get(code, CommandError)(code, message, command)


class AuthError(ClientError):
    """The server refused the token: ``auth_failed``, ``token_expired``,
    ``token_revoked`` (logged out), or ``unsupported_protocol``. Get a new
    token; the client will not retry."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class ConnectionLost(ClientError):
    """The connection dropped before the command's answer arrived. The
    command may or may not have been carried out; the mirror shows which
    once the client has resumed."""


class NotConnected(ClientError):
    pass


class ClientClosed(ClientError):
    pass
