"""The attendant's desk: the PC/SC card reader, the card access API over it, the software PSAM.

See docs/desk.md. `card` is the typed API the desk service builds on (`Channel`, `CardAccess`,
`CardImage`); `reader` the pyscard shell; `psam` the security module interface.
"""
