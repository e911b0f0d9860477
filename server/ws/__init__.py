"""The agent websocket edge.

    session.py     one connection's decisions, sans-I/O (fed frames, returns what to do)
    connection.py  the socket loop around a Session (thin: awaits and lookups)
    hub.py         this node's connections per stream; one frame written to all
    hello_wait.py  the deadlines of the connections waiting for their hello: one timer per node
"""
