"""`station decode`: FA frames in, one JSON object per decoded frame out.

Layer: edge (CLI shell over `protocol`). Frames come as hex arguments (one frame per argument, spaces
allowed inside it) or, with `--stream`, as a raw byte stream on stdin: hex text or binary, possibly
several escaped frames with line noise between them. Each frame's direction is guessed by
`protocol.codec.guess_direction`; damaged frames and payloads that do not decode are reported on stderr,
one line each, and not emitted.

`message_to_json` is the one place that turns a decoded frame into JSON, for reuse by anything that
traces frames (the daemon's TRACE log).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import enum
import json
import string
import sys
from collections.abc import Iterable, Iterator
from typing import IO, Any, TextIO

from edge.errors import EdgeError
from protocol.cng import is_cng_profile, parse_cng_profile
from protocol.codec import DEFAULT_CONTROLLER_ADDRESS, decode_message, guess_direction
from protocol.crc import crc16_arc
from protocol.errors import FrameError, ProtocolError
from protocol.frame import HEADER_LEN, SOF, Frame, decode_bcd_len, encode_frame
from protocol.messages import CardInserted, Direction, ListReply, Message, NozzleInfo, RecordUpload
from protocol.reader import FrameReader
from protocol.reasons import decode_m_flag

NAME = "decode"
HELP = "Decode dispenser protocol (FA) frames given as hex, or a byte stream on stdin, to JSON lines."

EXIT_OK = 0
EXIT_NOTHING_DECODED = 1
EXIT_USAGE = 2

INTERNAL_CARD_TYPES = ("04", "05", "06")  # ASN byte 2: cards checked against the white list
READ_CHUNK = 65536
MAX_WIRE_FRAME = 6 + 2 * (9999 + 2)  # the longest frame, every DATA and CRC byte escaped
_HEX_TEXT = frozenset((string.hexdigits + string.whitespace).encode())

EPILOG = """\
input:
  HEX ...        one frame per argument, e.g. "FA 00 E0 2A 00 02 32 00 06 BB"; the wire form (FA
                 doubled after the header) or the logical form of the spec's test vectors
  --stream       a byte stream on stdin: hex text (whitespace and newlines allowed) or binary,
                 detected (hex text if it holds nothing but hex digits and whitespace) or forced
                 with --hex/--binary; it may hold several frames and line noise. With --binary the
                 bytes are decoded as they arrive (e.g. from a serial port).

output:
  one JSON object per decoded frame on stdout: cmd, direction (P dispenser, H controller),
  direction_rule, dst, src, ctrl, frame_no, then the payload fields in lower case (bytes as lower-case
  hex, times ISO 8601; a 0x32 record's fields at top level plus raw, its 95 bytes). Damaged frames and
  payloads that do not decode: one line each on stderr, with the raw bytes in hex.

exit status:
  0  at least one frame decoded, or the input was empty
  1  there was input but no frame decoded from it (damaged frames, noise only, bad hex)
  2  bad arguments
"""


# --- message -> JSON --------------------------------------------------------------------------------


def jsonable(value: Any) -> Any:
    """Plain JSON value of a message field: bytes as lower-case hex, times ISO 8601, enums as ints."""
    if isinstance(value, bytes | bytearray):
        return bytes(value).hex()
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return fields_of(value)
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    return value


def fields_of(obj: Any) -> dict[str, Any]:
    """A dataclass instance's fields, by name, as JSON values."""
    return {f.name: jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}


def _card_entry(entry: CardInserted) -> dict[str, Any]:
    out = {"st": entry.ST, **fields_of(entry)}
    if is_cng_profile(entry.ic_data):
        try:
            profile = parse_cng_profile(entry.ic_data)
        except ProtocolError as exc:
            out["cng_error"] = str(exc)
        else:
            out["cng"] = {**fields_of(profile), "mode_name": profile.mode.name.lower()}
    return out


def _payload(frame: Frame, msg: Message) -> dict[str, Any]:
    if isinstance(msg, RecordUpload):
        return {**fields_of(msg.record), "raw": frame.data[1:].hex()}
    if isinstance(msg, NozzleInfo):
        entries = [
            _card_entry(entry) if isinstance(entry, CardInserted) else {"st": entry.ST, **fields_of(entry)}
            for entry in msg.entries
        ]
        return {"n": len(entries), "entries": entries}
    out = fields_of(msg)
    if isinstance(msg, ListReply):
        refuse, reason = decode_m_flag(msg.m_flag, internal=msg.asn[4:6] in INTERNAL_CARD_TYPES)
        out["refuse"] = refuse
        out["reason"] = reason.name.lower() if isinstance(reason, enum.Enum) else reason
    return out


def message_to_json(frame: Frame, msg: Message, direction: Direction, rule: str) -> dict[str, Any]:
    """One decoded frame as a flat JSON-ready dict (see `station decode --help` for the fields).

    Envelope: cmd ("0x32"), direction ("P"/"H"), direction_rule, dst, src, ctrl, frame_no; then the
    payload's fields named as in the spec, lower case: a record's at top level with `raw` (its 95 bytes
    in hex); a 0x31's as `n` and `entries` (each with `st`, and `cng` when IC_DATA is a CNG profile);
    a 0x36 answer's M_FLAG also split into `refuse` and `reason`.
    """
    return {
        "cmd": f"0x{frame.command:02X}",
        "direction": direction.value,
        "direction_rule": rule,
        "dst": frame.dst,
        "src": frame.src,
        "ctrl": frame.ctrl,
        "frame_no": frame.frame_no,
        **_payload(frame, msg),
    }


# --- input ------------------------------------------------------------------------------------------


class InputError(EdgeError, ValueError):
    """The input is not what the options say (bad hex)."""


def parse_hex(text: str) -> bytes:
    """Hex digits with any whitespace between them; `InputError` otherwise."""
    digits = "".join(text.split())
    if len(digits) % 2:
        raise InputError(f"odd number of hex digits ({len(digits)})")
    try:
        return bytes.fromhex(digits)
    except ValueError as exc:
        raise InputError(f"not hex: {text.strip()[:60]!r}") from exc


def is_hex_text(data: bytes) -> bool:
    """True when `data` holds only hex digits and whitespace (binary frames always hold an 0xFA)."""
    return _HEX_TEXT.issuperset(data)


def logical_frame(raw: bytes) -> Frame | None:
    """`raw` read as exactly one logical (un-escaped) frame with a good CRC, as the spec prints them."""
    if len(raw) < HEADER_LEN + 3 or raw[0] != SOF or SOF in raw[1:HEADER_LEN]:
        return None
    try:
        length = decode_bcd_len(raw[4], raw[5])
    except ProtocolError:
        return None
    if len(raw) != HEADER_LEN + length + 2 or crc16_arc(raw[1:-2]) != int.from_bytes(raw[-2:], "big"):
        return None
    return Frame(raw[1], raw[2], raw[3], raw[HEADER_LEN:-2])


def stdin_chunks(source: IO[bytes], form: str | None) -> Iterator[bytes]:
    """The bytes of `source`: binary as they arrive when forced, else read whole and detected."""
    if form == "binary":
        read = getattr(source, "read1", source.read)
        while chunk := read(READ_CHUNK):
            yield chunk
        return
    data = source.read()
    if form == "hex" or (form is None and is_hex_text(data)):
        yield parse_hex(data.decode("ascii"))
    else:
        yield data


# --- the command ------------------------------------------------------------------------------------


class Decoder:
    """Decodes frames, writes one JSON line per frame to `out` and one line per problem to `err`."""

    def __init__(self, controller_address: int, out: TextIO, err: TextIO) -> None:
        self.controller_address = controller_address
        self.out = out
        self.err = err
        self.decoded = 0
        self.problems = 0

    def problem(self, what: str, raw: bytes = b"") -> None:
        self.problems += 1
        print(f"{what}: {raw.hex()}" if raw else what, file=self.err, flush=True)

    def frame_error(self, error: FrameError) -> None:
        self.problem(f"{type(error).__name__}: {error}", error.raw)

    def emit(self, frame: Frame) -> None:
        direction, rule = guess_direction(frame, self.controller_address)
        try:
            msg = decode_message(frame.data, direction)
        except ProtocolError as exc:
            what = f"{type(exc).__name__}: {exc} (direction {direction.value} by rule {rule})"
            self.problem(what, encode_frame(frame))
            return
        obj = message_to_json(frame, msg, direction, rule)
        print(json.dumps(obj, ensure_ascii=False), file=self.out, flush=True)
        self.decoded += 1

    def argument(self, text: str) -> None:
        """One hex argument holds one frame: its wire form, else its logical form."""
        try:
            raw = parse_hex(text)
        except InputError as exc:
            self.problem(f"bad argument: {exc}")
            return
        if not raw:
            return
        errors: list[FrameError] = []
        reader = FrameReader(errors.append)
        frames = list(reader.feed(raw))
        if not frames and (logical := logical_frame(raw)) is not None:
            self.emit(logical)
            return
        for error in errors:
            self.frame_error(error)
        for frame in frames:
            self.emit(frame)
        self._finish(reader, raw, reported=bool(errors))

    def stream(self, chunks: Iterable[bytes]) -> bool:
        """A byte stream that may hold several frames and noise; returns whether there was input."""
        errors = 0

        def on_error(error: FrameError) -> None:
            nonlocal errors
            errors += 1
            self.frame_error(error)

        reader = FrameReader(on_error)
        seen = False
        recent = b""  # enough of the input's end to show an incomplete frame
        for chunk in chunks:
            seen = seen or bool(chunk)
            recent = (recent + chunk)[-MAX_WIRE_FRAME:]
            for frame in reader.feed(chunk):
                self.emit(frame)
        if seen:
            self._finish(reader, recent, reported=errors > 0)
        return seen

    def _finish(self, reader: FrameReader, recent: bytes, reported: bool) -> None:
        if reader.pending:
            tail = recent[-reader.pending :]
            self.problem(f"incomplete frame at the end of the input ({reader.pending} bytes)", tail)
        elif reader.stats.frames == 0 and not reported:
            self.problem(f"no frame found in {reader.stats.noise_bytes} bytes")


def _address(text: str) -> int:
    try:
        value = int(text, 16)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a hex address: {text!r}") from exc
    if not 0 <= value <= 0xFF or value == SOF:
        raise argparse.ArgumentTypeError(f"address {text} must be 00..FF and not FA")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG
    parser.add_argument("frames", nargs="*", metavar="HEX", help="one frame per argument, in hex")
    parser.add_argument("--stream", action="store_true", help="read a byte stream on stdin instead")
    form = parser.add_mutually_exclusive_group()
    form.add_argument("--hex", dest="form", action="store_const", const="hex", help="stdin is hex text")
    form.add_argument("--binary", dest="form", action="store_const", const="binary", help="stdin is binary")
    parser.add_argument(
        "--controller-address",
        type=_address,
        default=DEFAULT_CONTROLLER_ADDRESS,
        metavar="HEX",
        help="the controller's address, to tell who sent a frame (default %(default)02X)",
    )


def run(args: argparse.Namespace, stdin: IO[bytes] | None = None) -> int:
    if args.stream == bool(args.frames):
        print("station decode: give HEX frames, or --stream and the bytes on stdin", file=sys.stderr)
        return EXIT_USAGE
    if args.form and not args.stream:
        print("station decode: --hex and --binary apply to --stream", file=sys.stderr)
        return EXIT_USAGE
    decoder = Decoder(args.controller_address, sys.stdout, sys.stderr)
    if args.frames:
        for text in args.frames:
            decoder.argument(text)
        had_input = any(text.strip() for text in args.frames)
    else:
        try:
            had_input = decoder.stream(stdin_chunks(stdin or sys.stdin.buffer, args.form))
        except (InputError, UnicodeDecodeError) as exc:
            decoder.problem(f"bad input: {exc}")
            had_input = True
    if decoder.decoded or not had_input:
        return EXIT_OK
    return EXIT_NOTHING_DECODED
