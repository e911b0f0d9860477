"""One agent command from the protocol → the use case that runs it."""

from __future__ import annotations

from protocol import errors
from protocol import messages as p
from server.app import App
from server.core.errors import DomainError
from server.core.model import Agent


async def dispatch(app: App, agent: Agent, cmd: p.Command) -> p.CommandResult:
    """Run one agent command. Raises DomainError for a refusal. (Hello,
    Open and Close belong to the connection: see server/ws/session.py.)"""
    commands, reads = app.commands, app.reads
    match cmd:
        case p.Ping():
            return p.Ok()
        case p.Claim(conversation_id=cid):
            return await commands.claim(agent, cid)
        case p.Assign(conversation_id=cid, agent_id=target):
            return await commands.assign(agent, cid, target)
        case p.SendToInbox(conversation_id=cid):
            return await commands.send_to_inbox(agent, cid)
        case p.EndChat(conversation_id=cid):
            return await commands.end(agent, cid)
        case p.SendMessage(conversation_id=cid, text=body, idempotency_key=key):
            return await commands.send(agent, cid, body, key)
        case p.SendMedia(conversation_id=cid, upload_id=upload_id, caption=caption, idempotency_key=key):
            return await commands.send_media(agent, cid, upload_id, caption, key)
        case p.SendTemplate(conversation_id=cid, template=ref, idempotency_key=key):
            return await commands.send_template(agent, cid, ref, key)
        case p.StartConversation():
            return await commands.start(agent, cmd)
        case p.MarkRead(conversation_id=cid):
            return await commands.read(agent, cid)
        case p.History(conversation_id=cid, before=before, limit=limit):
            return await reads.history(agent, cid, before, limit)
        case p.Search(conversation_id=cid, query=query, limit=limit):
            return await reads.search(agent, cid, query, limit)
        case p.InboxPage(cursor=cursor, limit=limit, queue_id=queue_id, channel=channel, query=query):
            return await reads.inbox_page(
                agent, cursor=cursor, limit=limit, queue_id=queue_id, channel=channel, query=query
            )
        case p.AddNote(conversation_id=cid, text=body):
            return await commands.add_note(agent, cid, body)
        case p.WrapUp(conversation_id=cid, disposition=disposition, note=note):
            return await commands.wrap_up(agent, cid, disposition, note)
        case p.GetContactCard(conversation_id=cid):
            return await reads.contact_card(agent, cid)
        case p.SetStatus(status=status):
            return await app.routing.set_status(agent, status)
        case p.SetCapacity(agent_id=target, capacity=capacity):
            return await app.routing.set_capacity(agent, target, capacity)
        case p.AcceptOffer(conversation_id=cid):
            return await app.routing.accept(agent, cid)
        case p.DeclineOffer(conversation_id=cid):
            return await app.routing.decline(agent, cid)
        case p.Transfer():
            return await app.routing.transfer(agent, cmd)
        case p.SaveCanned():
            return await app.canned.save(agent, cmd)
        case p.DeleteCanned():
            return await app.canned.delete(agent, cmd)
    raise DomainError(errors.UNKNOWN_COMMAND, f"{type(cmd).__name__} is not handled here.")
