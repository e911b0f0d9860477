"""Meta's channels: the WhatsApp Business Cloud API and the Messenger Platform.

Inbound, webhook bytes become typed values and then service calls::

    POST /webhooks/{whatsapp,messenger}
      → signature.verify      X-Hub-Signature-256 over the raw body     (else 401)
      → whatsapp.parse / messenger.parse   bytes → Batch of events      (else 400)
      → webhooks.Inbox.apply  events → Service.receive / delivery       (store down: 503)

Outbound, the service stores an agent's message *pending* and tells the
``sender.Sender``, which sends it through ``graph.GraphClient`` and reports the
channel's answer back with ``Service.delivery`` (sent with Meta's id, or failed
with Meta's code and text).

The parsers and request builders (``whatsapp``, ``messenger``, ``signature``,
``graph.classify``) are pure: bytes in, values out, no I/O, no clock.

Exceptions raised by the pure part (``errors``)::

    WebhookError            a webhook request we refuse; carries the HTTP status
    ├── BadSignature        401: missing or wrong X-Hub-Signature-256
    └── BadPayload          400: not JSON, or not the channel's envelope
    Unsendable              an outbound message the send API cannot carry (failed)

A bad *item* inside a good envelope is not an exception: it becomes a
``events.Rejected`` value beside the good items, so it never costs them.
"""
