"""Pure codecs for the dispenser RS-485 frame protocol ("FA-frame").

Layer: protocol (pure; no I/O, no asyncio). The only package that knows byte layouts; the daemon
(`edge/`) and the simulator (`station_sim`) both use it, in the controller and the device role.

Public surface:
- `protocol.frame`: `Frame`, `encode_frame`, CRC and the escaping rules;
- `protocol.reader`: `FrameReader`, the incremental stream reader with resynchronisation;
- `protocol.messages`: typed, frozen message dataclasses, one per command and direction;
- `protocol.codec`: `decode_message`, `encode_message`, `guess_direction`;
- `protocol.record`: the 95-byte transaction record;
- `protocol.cng`: the CNG card profile carried in IC_DATA (a project extension);
- `protocol.downloads`: list files, the price table and station info (CONTENT 0..5).
"""
