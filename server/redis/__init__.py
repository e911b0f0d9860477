"""Redis implementations of the ports, for a cluster of nodes
(``server.redis_url``): one module per port, one writer per Redis key.

    store.py   the Store (server/store/base.py): one Lua script per commit
    outbox.py  the store's cross-shard index updates on a Redis Cluster
    broker.py  the Broker (server/broker.py): sequenced streams, history, pub/sub
    timers.py  the Timers (server/timers.py): the due-set's claims and leases
    presence.py  the Presence (server/presence.py): statuses, screens' heartbeats, offers, the routing lease
    canned.py  the CannedStore (server/store/canned.py): canned response lists
    fronts.py  the Fronts (server/ringing.py): each agent's front-most screen, one claim per alert

Who writes which key:

    sb:{s}:* (conversations, messages, indexes)   the store's commit (and the outbox it wrote)
    sb:timers:{t}:due                             the store's commit only (Core's outcome:
                                                  the window's lock time, or gone)
    sb:timers:{t}:lease                           the timers only
    sb:routing:{t}:due                            the store's commit only (an offer's deadline, or gone)
    sb:routing:{t}:lease                          the offer timers only
    sb:presence:*, sb:lease:*                     the presence only
    sb:stream:* (sequences, history)              the broker only
    sb:canned:<list id>                           the canned responses' save script only
    sb:fronts:<agent>, sb:rang:<alert>            the ringing (fronts.py): each node its own fields

The node picks these over the memory/SQLite ones (server/node.py).
"""
