"""The daemon's core seam: the component interface, the registry, event routes and the centre outbox.

Layer: edge core (pure: typing and small registries, no I/O). Everything the daemon runs beside the
dispenser lines is a `Component` built by a `ComponentKind` from its own configuration table; every
event type on the bus registers its `EventRoute` (control-API message, uplink payload). The daemon
(`edge.daemon`) is the one composition root; `edge.registry` lists the kinds. See docs/architecture.md.
"""
