"""Wire types and codec for the Paxos Smart Order Routing WebSocket API.

Every frame of the protocol (``docs/protocol.md``) in both directions is a frozen
``msgspec.Struct``.
Server frames are decoded in two steps: an envelope (``channel``/``payload`` for data,
``type`` for responses) whose payload stays raw, then the payload with a decoder built
once for its channel. ``decode_frame`` never raises: a frame that is not JSON or not of
a known shape becomes an :class:`Unrecognized` value that the caller counts and shows.

Times are RFC 3339 with up to nine fractional digits; they are compared as integer
nanoseconds since the epoch (:func:`parse_time`), never as strings or ``datetime``.
"""

from __future__ import annotations

import calendar
import re
from typing import Final, Literal

import msgspec

# --------------------------------------------------------------------------- channels

MARKET_DATA: Final = "market_data"
EXECUTION_DATA: Final = "execution_data"
HEARTBEAT: Final = "heartbeat"
CHANNEL_TYPES: Final = (MARKET_DATA, EXECUTION_DATA, HEARTBEAT)
MARKET_CHANNELS: Final = (MARKET_DATA, EXECUTION_DATA)

# Error codes named by the documentation; any other code is shown as-is.
UNKNOWN_CHANNEL: Final = "UNKNOWN_CHANNEL"
UNKNOWN_CHANNEL_PARAMS_CONFIGURATION: Final = "UNKNOWN_CHANNEL_PARAMS_CONFIGURATION"
MALFORMED_REQUEST: Final = "MALFORMED_REQUEST"
INTERNAL_SERVER_ERROR: Final = "INTERNAL_SERVER_ERROR"

SCOPE: Final = "exchange:read_aggregated_marketdata_stream"


class Params(msgspec.Struct, frozen=True, gc=False):
    """Channel parameters: the market of a ``market_data``/``execution_data`` channel."""

    market: str


class Channel(msgspec.Struct, frozen=True, omit_defaults=True):
    """One channel in a request or in ``subscription_list``."""

    type: str
    params: Params | None = None

    @property
    def market(self) -> str | None:
        """The market this channel is for, or ``None`` for ``heartbeat``."""
        return self.params.market if self.params is not None else None

    @property
    def key(self) -> ChannelKey:
        """A hashable identity: ``(type, market or None)``."""
        return (self.type, self.params.market if self.params is not None else None)


ChannelKey = tuple[str, str | None]


def channel(type_: str, market: str | None = None) -> Channel:
    """Build a request channel; ``market`` is required for the market channels."""
    return Channel(type_, Params(market) if market is not None else None)


def channel_from_key(key: ChannelKey) -> Channel:
    """The request channel for a ``(type, market)`` key."""
    return channel(key[0], key[1])


# --------------------------------------------------------------------------- requests


class SubscribeRequest(msgspec.Struct, frozen=True, tag_field="type", tag="subscribe"):
    """``{"type": "subscribe", "channels": [...]}``."""

    channels: list[Channel]


class UnsubscribeRequest(msgspec.Struct, frozen=True, tag_field="type", tag="unsubscribe"):
    """``{"type": "unsubscribe", "channels": [...]}``."""

    channels: list[Channel]


class SubscriptionListRequest(
    msgspec.Struct, frozen=True, tag_field="type", tag="subscription_list"
):
    """``{"type": "subscription_list"}``."""


Request = SubscribeRequest | UnsubscribeRequest | SubscriptionListRequest

_encoder: Final = msgspec.json.Encoder()
_request_decoder: Final[msgspec.json.Decoder[Request]] = msgspec.json.Decoder(Request)


def encode(value: object) -> bytes:
    """Encode a request (or, in the simulator, a response) as compact JSON bytes."""
    return _encoder.encode(value)


def decode_request(data: bytes | str) -> Request:
    """Decode a client request; raises ``msgspec.DecodeError`` or ``ValidationError``."""
    return _request_decoder.decode(data)


# --------------------------------------------------------------------------- responses


class ChannelResult(msgspec.Struct, frozen=True, omit_defaults=True):
    """One entry of a subscribe/unsubscribe result; ``params`` may be absent."""

    type: str
    params: Params | None = None
    success: bool | None = None
    error: str | None = None

    @property
    def market(self) -> str | None:
        """The market echoed back, or ``None`` when the server left ``params`` out."""
        return self.params.market if self.params is not None else None


class SubscribeResult(msgspec.Struct, frozen=True, tag_field="type", tag="subscribe"):
    """The answer to a subscribe request: one entry per requested channel, in order."""

    channels: list[ChannelResult] = []


class UnsubscribeResult(msgspec.Struct, frozen=True, tag_field="type", tag="unsubscribe"):
    """The answer to an unsubscribe request (``success`` may be absent)."""

    channels: list[ChannelResult] = []


class SubscriptionList(msgspec.Struct, frozen=True, tag_field="type", tag="subscription_list"):
    """The server's view of this connection's active channels."""

    channels: list[Channel] = []


class ErrorMessage(msgspec.Struct, frozen=True, tag_field="type", tag="error"):
    """An error not tied to a channel; ``error`` is a code, known or not."""

    error: str = ""


Response = SubscribeResult | UnsubscribeResult | SubscriptionList | ErrorMessage

# --------------------------------------------------------------------------- data


class Level(msgspec.Struct, frozen=True, gc=False):
    """One price level: decimal strings, exactly as sent."""

    price: str
    amount: str


class BookMessage(msgspec.Struct, frozen=True, gc=False):
    """A ``market_data`` payload: a SNAPSHOT or an UPDATE."""

    market: str
    type: Literal["SNAPSHOT", "UPDATE"]
    time: str
    bids: list[Level] = []
    asks: list[Level] = []

    @property
    def is_snapshot(self) -> bool:
        """True for a SNAPSHOT."""
        return self.type == "SNAPSHOT"


class Execution(msgspec.Struct, frozen=True, gc=False):
    """An ``execution_data`` payload: one trade, without side or id."""

    market: str
    price: str
    amount: str
    executed_at: str


class Heartbeat(msgspec.Struct, frozen=True, gc=False):
    """A ``heartbeat`` payload with the server's clock."""

    timestamp: str


class DataFrame(msgspec.Struct, frozen=True):
    """``{"channel": ..., "payload": ...}`` as the simulator builds it for sending."""

    channel: str
    payload: BookMessage | Execution | Heartbeat


class Unrecognized(msgspec.Struct, frozen=True):
    """A frame that could not be understood: what went wrong and its first 200 bytes."""

    problem: str
    head: bytes

    @property
    def head_text(self) -> str:
        """The first bytes as text, for display (undecodable bytes escaped)."""
        return self.head.decode("utf-8", "backslashreplace")


ServerMessage = BookMessage | Execution | Heartbeat | Response | Unrecognized


class _Envelope(msgspec.Struct, frozen=True, gc=False):
    channel: str | None = None
    payload: msgspec.Raw = msgspec.Raw()
    type: str | None = None


_envelope_decoder: Final = msgspec.json.Decoder(_Envelope)


class _MarketDataFrame(msgspec.Struct, frozen=True, gc=False, tag_field="channel", tag=MARKET_DATA):
    payload: BookMessage


class _ExecutionFrame(
    msgspec.Struct, frozen=True, gc=False, tag_field="channel", tag=EXECUTION_DATA
):
    payload: Execution


class _HeartbeatFrame(msgspec.Struct, frozen=True, gc=False, tag_field="channel", tag=HEARTBEAT):
    payload: Heartbeat


# Data frames are nearly every frame: one pass, the channel tag choosing the payload type.
# Anything else (responses, unknown channels, bad payloads) takes the slower path that
# names the problem.
_AnyDataFrame = _MarketDataFrame | _ExecutionFrame | _HeartbeatFrame
_data_decoder: Final[msgspec.json.Decoder[_AnyDataFrame]] = msgspec.json.Decoder(_AnyDataFrame)
_payload_decoders: Final[dict[str, msgspec.json.Decoder[BookMessage | Execution | Heartbeat]]] = {
    MARKET_DATA: msgspec.json.Decoder(BookMessage),
    EXECUTION_DATA: msgspec.json.Decoder(Execution),
    HEARTBEAT: msgspec.json.Decoder(Heartbeat),
}
_response_decoder: Final[msgspec.json.Decoder[Response]] = msgspec.json.Decoder(Response)
_HEAD: Final = 200
# msgspec raises DecodeError (ValidationError is a subclass) for bad JSON or shapes, but
# UnicodeDecodeError for invalid UTF-8 inside a string and RecursionError for deep nesting.
_DECODE_ERRORS: Final = (msgspec.DecodeError, UnicodeDecodeError, RecursionError)


def _unrecognized(problem: str, data: bytes) -> Unrecognized:
    return Unrecognized(problem, bytes(data[:_HEAD]))


def decode_frame(data: bytes | bytearray | memoryview | str) -> ServerMessage:
    """Decode one server frame; never raises.

    Data frames decode to their payload type (the channel is implied by the type);
    responses to their Struct; anything else to :class:`Unrecognized`.
    """
    if type(data) is bytes:  # what the feed passes: no copy, no conversion
        raw = data
    elif isinstance(data, str):
        # surrogatepass: a str with lone surrogates becomes invalid UTF-8, rejected below.
        raw = data.encode("utf-8", "surrogatepass")
    else:
        raw = bytes(data)
    try:
        return _data_decoder.decode(raw).payload
    except _DECODE_ERRORS:
        pass
    try:
        env = _envelope_decoder.decode(raw)
    except _DECODE_ERRORS as exc:
        return _unrecognized(f"not a JSON object: {exc}", raw)
    if env.channel is not None:
        decoder = _payload_decoders.get(env.channel)
        if decoder is None:
            return _unrecognized(f"unknown channel {env.channel!r}", raw)
        if not env.payload:
            return _unrecognized(f"{env.channel} frame without payload", raw)
        try:
            return decoder.decode(env.payload)
        except _DECODE_ERRORS as exc:
            return _unrecognized(f"bad {env.channel} payload: {exc}", raw)
    if env.type is None:
        return _unrecognized("neither 'channel' nor 'type'", raw)
    try:
        return _response_decoder.decode(raw)
    except _DECODE_ERRORS as exc:
        return _unrecognized(f"bad {env.type!r} message: {exc}", raw)


# --------------------------------------------------------------------------- times

NS_PER_S: Final = 1_000_000_000
_TIME_RE: Final = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))",
    re.ASCII,  # \d must not match other scripts' digits (fullwidth, Arabic-Indic, ...)
)
_FRAC_SCALE: Final[tuple[int, ...]] = tuple(10 ** (9 - i) for i in range(10))
_second_cache: dict[str, int] = {}
_SECOND_CACHE_MAX: Final = 4096


class TimeFormatError(ValueError):
    """A timestamp that is not RFC 3339 with at most nine fractional digits."""


def parse_time(text: str) -> int:
    """RFC3339Nano text to integer nanoseconds since the Unix epoch.

    Accepts no fraction or one to nine fraction digits, ``Z`` or a numeric offset.
    Raises :class:`TimeFormatError` naming the text when it is not such a time.
    """
    # Fast path: "YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z", the whole-second part cached.
    if len(text) >= 20 and text[-1] == "Z" and text[10] == "T":
        base = _second_cache.get(text[:19])
        if base is not None:
            if len(text) == 20:
                return base
            frac = text[20:-1]
            if text[19] == "." and 0 < len(frac) <= 9 and frac.isdigit() and frac.isascii():
                return base + int(frac) * _FRAC_SCALE[len(frac)]
    m = _TIME_RE.fullmatch(text)
    if m is None:
        raise TimeFormatError(f"not an RFC 3339 time with at most 9 fraction digits: {text!r}")
    year, month, day, hour, minute, second = (int(m.group(i)) for i in range(1, 7))
    if not (1 <= month <= 12 and 1 <= day <= 31 and hour <= 23 and minute <= 59 and second <= 60):
        raise TimeFormatError(f"time out of range: {text!r}")
    try:
        import datetime as _dt

        _dt.date(year, month, day)
    except ValueError:
        raise TimeFormatError(f"no such date: {text!r}") from None
    base = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0)) * NS_PER_S
    if m.group(8) is None:
        if int(m.group(10)) > 23 or int(m.group(11)) > 59:
            raise TimeFormatError(f"offset out of range: {text!r}")
        sign = 1 if m.group(9) == "+" else -1
        base -= sign * (int(m.group(10)) * 3600 + int(m.group(11)) * 60) * NS_PER_S
    elif len(_second_cache) < _SECOND_CACHE_MAX:
        _second_cache[text[:19]] = base
    frac = m.group(7)
    return base + (int(frac) * _FRAC_SCALE[len(frac)] if frac else 0)


_head_cache: dict[int, str] = {}
"""The last whole second formatted, and its text: times come in runs within a second."""


def format_time(ns: int) -> str:
    """Integer nanoseconds to RFC3339Nano in UTC, Go style: trailing fraction zeros trimmed."""
    seconds, frac = divmod(ns, NS_PER_S)
    head = _head_cache.get(seconds)
    if head is None:
        tm = _gmtime(seconds)
        head = f"{tm[0]:04d}-{tm[1]:02d}-{tm[2]:02d}T{tm[3]:02d}:{tm[4]:02d}:{tm[5]:02d}"
        _head_cache.clear()
        _head_cache[seconds] = head
    if frac == 0:
        return head + "Z"
    return f"{head}.{frac:09d}".rstrip("0") + "Z"


def _gmtime(seconds: int) -> tuple[int, int, int, int, int, int]:
    import time as _time

    t = _time.gmtime(seconds)
    return (t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec)


# --------------------------------------------------------------------------- decimals

SCALE: Final = 18
"""Prices and amounts are held as integers in units of 10**-SCALE: exact, cheap to compare."""
ONE: Final = 10**SCALE
_POW10: Final[tuple[int, ...]] = tuple(10 ** (SCALE - n) for n in range(SCALE + 1))
"""``_POW10[n]`` scales an integer written with ``n`` fraction digits to units of 10**-SCALE."""


class DecimalFormatError(ValueError):
    """A price or amount that is not a plain non-negative decimal string we can hold exactly."""


def to_scaled(text: str) -> int:
    """A decimal string (``"50000.10"``) to an exact integer in units of 10**-18.

    Numerically equal spellings give the same integer (``"0"``, ``"0.0"``, ``"0.00000000"``).
    Raises :class:`DecimalFormatError` for anything that is not ``digits[.digits]`` or has
    more than 18 significant fraction digits.
    """
    whole, _, frac = text.partition(".")
    n = len(frac)
    if n > SCALE:
        frac = frac.rstrip("0")
        n = len(frac)
        if n > SCALE:
            raise DecimalFormatError(
                f"{text!r} has {n} significant fraction digits; sordash holds {SCALE} exactly"
            )
    digits = whole + frac
    if not (digits.isdigit() and digits.isascii()) or not whole:
        raise DecimalFormatError(f"not a non-negative decimal: {text!r}")
    return int(digits) * _POW10[n]


_scaled_cache: dict[str, int] = {}
_SCALED_CACHE_MAX: Final = 1 << 16


def to_scaled_cached(text: str) -> int:
    """:func:`to_scaled` through a bounded cache: book prices and amounts repeat a lot."""
    value = _scaled_cache.get(text)
    if value is None:
        value = to_scaled(text)
        if len(_scaled_cache) >= _SCALED_CACHE_MAX:
            _scaled_cache.clear()
        _scaled_cache[text] = value
    return value


SCALED_CACHE: Final = _scaled_cache
"""The cache itself, for hot loops that look up before calling :func:`to_scaled_cached`."""


def format_scaled(value: int, places: int | None = None) -> str:
    """An integer in units of 10**-18 back to a decimal string.

    With ``places`` the fraction is padded or cut (towards zero) to that many digits;
    without, trailing zeros are trimmed and a whole number has no point.
    """
    sign = "-" if value < 0 else ""
    whole, frac = divmod(abs(value), ONE)
    frac_text = f"{frac:018d}"
    frac_text = frac_text.rstrip("0") if places is None else frac_text[:places]
    return f"{sign}{whole}.{frac_text}" if frac_text else f"{sign}{whole}"


def decimal_places(text: str) -> int:
    """How many fraction digits a decimal string is written with."""
    _, dot, frac = text.partition(".")
    return len(frac) if dot else 0
