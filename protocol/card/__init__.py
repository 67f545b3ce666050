"""The fuel / CNG IC card: APDUs, file layouts, status words, keys and MAC formulas (docs/desk.md).

Layer: protocol (pure). Shared by the desk's card access (`edge.devices.desk.card`) and the simulator's
virtual card (`station_sim.card`), so both sides encode and MAC every exchange the same way.
"""
