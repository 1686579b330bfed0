"""HTTP/1.1 (and later WebSocket and HTTP/2): the sans-IO parser and connection state machine."""
