"""The wire codec: every frame of docs/protocol.md, RFC3339Nano times and exact decimals.

Decoding must never raise into the feed's reader loop, so besides one test per documented
frame there are fuzz tests over random bytes, random JSON and mutated real frames.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal, localcontext
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.protocol import (
    ONE,
    SCALE,
    BookMessage,
    Channel,
    ChannelResult,
    DataFrame,
    DecimalFormatError,
    ErrorMessage,
    Execution,
    Heartbeat,
    Level,
    Params,
    ServerMessage,
    SubscribeRequest,
    SubscribeResult,
    SubscriptionList,
    SubscriptionListRequest,
    TimeFormatError,
    Unrecognized,
    UnsubscribeRequest,
    UnsubscribeResult,
    channel,
    decimal_places,
    decode_frame,
    decode_request,
    encode,
    format_scaled,
    format_time,
    parse_time,
    to_scaled,
    to_scaled_cached,
)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def ns_of(dt: datetime) -> int:
    """Nanoseconds since the epoch by datetime arithmetic: independent of the code under test."""
    return (dt - EPOCH) // timedelta(microseconds=1) * 1000


def frame(obj: object) -> bytes:
    return json.dumps(obj).encode()


# --------------------------------------------------------------------------- requests

DOC_SUBSCRIBE = """{"type": "subscribe", "channels": [
  {"type": "market_data", "params": {"market": "BTCUSD"}},
  {"type": "execution_data", "params": {"market": "BTCUSD"}},
  {"type": "heartbeat"}]}"""
DOC_UNSUBSCRIBE = (
    '{"type": "unsubscribe", "channels": [{"type": "market_data", "params": {"market": "BTCUSD"}}]}'
)
DOC_LIST = '{"type": "subscription_list"}'


def compact(doc: str) -> bytes:
    return json.dumps(json.loads(doc), separators=(",", ":")).encode()


@pytest.mark.parametrize(
    ("request_", "doc"),
    [
        (
            SubscribeRequest(
                [
                    channel("market_data", "BTCUSD"),
                    channel("execution_data", "BTCUSD"),
                    channel("heartbeat"),
                ]
            ),
            DOC_SUBSCRIBE,
        ),
        (UnsubscribeRequest([channel("market_data", "BTCUSD")]), DOC_UNSUBSCRIBE),
        (SubscriptionListRequest(), DOC_LIST),
    ],
    ids=["subscribe", "unsubscribe", "subscription_list"],
)
def test_requests_encode_to_the_documented_json(request_: object, doc: str) -> None:
    # Byte for byte: tag first, no "params": null for heartbeat, compact separators.
    assert encode(request_) == compact(doc)
    assert decode_request(encode(request_)) == request_


def test_request_decoder_reads_the_documented_requests() -> None:
    request = decode_request(DOC_SUBSCRIBE)
    assert isinstance(request, SubscribeRequest)
    assert [ch.key for ch in request.channels] == [
        ("market_data", "BTCUSD"),
        ("execution_data", "BTCUSD"),
        ("heartbeat", None),
    ]
    assert isinstance(decode_request(DOC_LIST), SubscriptionListRequest)


# --------------------------------------------------------------------------- responses


def test_subscribe_result_with_params() -> None:
    msg = decode_frame(
        b"""{"type": "subscribe", "channels": [
  {"type": "market_data", "params": {"market": "BTCUSD"}, "success": true},
  {"type": "market_data", "params": {"market": "BADBAD"}, "success": false,
   "error": "UNKNOWN_CHANNEL_PARAMS_CONFIGURATION"},
  {"type": "nonsense", "success": false, "error": "UNKNOWN_CHANNEL"}]}"""
    )
    assert msg == SubscribeResult(
        [
            ChannelResult("market_data", Params("BTCUSD"), True),
            ChannelResult(
                "market_data", Params("BADBAD"), False, "UNKNOWN_CHANNEL_PARAMS_CONFIGURATION"
            ),
            ChannelResult("nonsense", None, False, "UNKNOWN_CHANNEL"),
        ]
    )
    assert [entry.market for entry in msg.channels] == ["BTCUSD", "BADBAD", None]


def test_subscribe_result_without_params() -> None:
    msg = decode_frame(
        b'{"type":"subscribe","channels":[{"type":"market_data","success":true},'
        b'{"type":"heartbeat","success":true}]}'
    )
    assert msg == SubscribeResult(
        [ChannelResult("market_data", None, True), ChannelResult("heartbeat", None, True)]
    )


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            b'{"type":"unsubscribe","channels":[{"type":"market_data",'
            b'"params":{"market":"BTCUSD"},"success":true}]}',
            UnsubscribeResult([ChannelResult("market_data", Params("BTCUSD"), True)]),
        ),
        (
            b'{"type":"unsubscribe","channels":[{"type":"market_data",'
            b'"params":{"market":"BTCUSD"}}]}',
            UnsubscribeResult([ChannelResult("market_data", Params("BTCUSD"), None)]),
        ),
        (
            b'{"type":"unsubscribe","channels":[{"type":"market_data","success":false,'
            b'"error":"UNKNOWN_CHANNEL_PARAMS_CONFIGURATION"}]}',
            UnsubscribeResult(
                [ChannelResult("market_data", None, False, "UNKNOWN_CHANNEL_PARAMS_CONFIGURATION")]
            ),
        ),
        (b'{"type":"unsubscribe"}', UnsubscribeResult([])),
    ],
    ids=["with-success", "without-success", "without-params", "without-channels"],
)
def test_unsubscribe_result_in_every_tolerated_shape(data: bytes, expected: object) -> None:
    assert decode_frame(data) == expected


def test_subscription_list() -> None:
    msg = decode_frame(
        b"""{"type": "subscription_list", "channels": [{"type": "heartbeat"},
  {"type": "market_data", "params": {"market": "BTCUSD"}}]}"""
    )
    assert msg == SubscriptionList([Channel("heartbeat"), Channel("market_data", Params("BTCUSD"))])
    assert [ch.key for ch in msg.channels] == [("heartbeat", None), ("market_data", "BTCUSD")]


@pytest.mark.parametrize(
    "code", ["MALFORMED_REQUEST", "UNKNOWN_CHANNEL", "INTERNAL_SERVER_ERROR", "SOMETHING_NEW"]
)
def test_error_message_keeps_any_code(code: str) -> None:
    assert decode_frame(frame({"type": "error", "error": code})) == ErrorMessage(code)


# --------------------------------------------------------------------------- data

DOC_SNAPSHOT = b"""{"channel": "market_data", "payload": {
  "market": "BTCUSD", "type": "SNAPSHOT", "time": "2024-01-15T10:30:00.123456789Z",
  "bids": [{"price": "50000.00", "amount": "1.5"}, {"price": "49999.50", "amount": "2.0"}],
  "asks": [{"price": "50100.00", "amount": "2.0"}, {"price": "50101.00", "amount": "1.5"}]}}"""
DOC_UPDATE = b"""{"channel": "market_data", "payload": {
  "market": "BTCUSD", "type": "UPDATE", "time": "2024-01-15T10:30:01.456789012Z",
  "bids": [{"price": "50000.00", "amount": "0"}],
  "asks": [{"price": "50100.50", "amount": "3.5"}]}}"""
DOC_EXECUTION = b"""{"channel": "execution_data", "payload": {"market": "BTCUSD",
  "price": "50000.00", "amount": "0.5", "executed_at": "2024-01-15T10:30:00.123456789Z"}}"""
DOC_HEARTBEAT = (
    b'{"channel": "heartbeat", "payload": {"timestamp": "2024-01-15T10:30:00.123456789Z"}}'
)


def test_snapshot() -> None:
    msg = decode_frame(DOC_SNAPSHOT)
    assert msg == BookMessage(
        "BTCUSD",
        "SNAPSHOT",
        "2024-01-15T10:30:00.123456789Z",
        [Level("50000.00", "1.5"), Level("49999.50", "2.0")],
        [Level("50100.00", "2.0"), Level("50101.00", "1.5")],
    )
    assert isinstance(msg, BookMessage) and msg.is_snapshot


def test_update() -> None:
    msg = decode_frame(DOC_UPDATE)
    assert msg == BookMessage(
        "BTCUSD",
        "UPDATE",
        "2024-01-15T10:30:01.456789012Z",
        [Level("50000.00", "0")],
        [Level("50100.50", "3.5")],
    )
    assert isinstance(msg, BookMessage) and not msg.is_snapshot


@pytest.mark.parametrize(
    ("payload", "bids", "asks"),
    [
        ({"bids": [{"price": "1", "amount": "2"}]}, [Level("1", "2")], []),
        ({"asks": [{"price": "1", "amount": "2"}]}, [], [Level("1", "2")]),
        ({"bids": [], "asks": []}, [], []),
        ({}, [], []),
    ],
    ids=["only-bids", "only-asks", "empty-lists", "no-lists"],
)
def test_update_sides_may_be_missing_or_empty(
    payload: dict[str, Any], bids: list[Level], asks: list[Level]
) -> None:
    body = {"market": "ETHUSD", "type": "UPDATE", "time": "2024-01-15T10:30:05Z", **payload}
    msg = decode_frame(frame({"channel": "market_data", "payload": body}))
    assert msg == BookMessage("ETHUSD", "UPDATE", "2024-01-15T10:30:05Z", bids, asks)


def test_execution() -> None:
    assert decode_frame(DOC_EXECUTION) == Execution(
        "BTCUSD", "50000.00", "0.5", "2024-01-15T10:30:00.123456789Z"
    )


def test_heartbeat() -> None:
    assert decode_frame(DOC_HEARTBEAT) == Heartbeat("2024-01-15T10:30:00.123456789Z")


def test_str_and_buffer_inputs_decode_like_bytes() -> None:
    expected = decode_frame(DOC_HEARTBEAT)
    assert decode_frame(DOC_HEARTBEAT.decode()) == expected
    assert decode_frame(bytearray(DOC_HEARTBEAT)) == expected
    assert decode_frame(memoryview(DOC_HEARTBEAT)) == expected


def test_unknown_fields_are_ignored_everywhere() -> None:
    extra = {"x": [1, {"y": None}], "z": "?"}
    snapshot = {
        "channel": "market_data",
        "sequence": 7,
        "payload": {
            "market": "BTCUSD",
            "type": "SNAPSHOT",
            "time": "2024-01-15T10:30:00Z",
            "venue": extra,
            "bids": [{"price": "1", "amount": "2", "orders": 3}],
            "asks": [],
        },
    }
    assert decode_frame(frame(snapshot)) == BookMessage(
        "BTCUSD", "SNAPSHOT", "2024-01-15T10:30:00Z", [Level("1", "2")], []
    )
    result = {
        "type": "subscribe",
        "id": 9,
        "channels": [
            {
                "type": "heartbeat",
                "success": True,
                "note": extra,
                "params": {"market": "BTCUSD", "depth": 5},
            }
        ],
    }
    assert decode_frame(frame(result)) == SubscribeResult(
        [ChannelResult("heartbeat", Params("BTCUSD"), True)]
    )
    execution = {
        "channel": "execution_data",
        "payload": {
            "market": "BTCUSD",
            "price": "1",
            "amount": "2",
            "executed_at": "t",
            "side": "buy",
        },
    }
    assert decode_frame(frame(execution)) == Execution("BTCUSD", "1", "2", "t")
    assert decode_frame(frame({"type": "error", "error": "E", "detail": extra})) == ErrorMessage(
        "E"
    )


def test_data_frames_round_trip_through_the_simulator_envelope() -> None:
    for data in (DOC_SNAPSHOT, DOC_UPDATE, DOC_EXECUTION, DOC_HEARTBEAT):
        payload = decode_frame(data)
        assert isinstance(payload, BookMessage | Execution | Heartbeat)
        name = json.loads(data)["channel"]
        assert decode_frame(encode(DataFrame(name, payload))) == payload


# --------------------------------------------------------------------------- unrecognized


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"", "not a JSON object"),
        (b"hello", "not a JSON object"),
        (b"[1, 2]", "not a JSON object"),
        (b'"subscribe"', "not a JSON object"),
        (b'{"type": "subscribe"', "not a JSON object"),
        (b'{"channel": 5, "payload": {}}', "not a JSON object"),
        (b"{}", "neither 'channel' nor 'type'"),
        (b'{"channel": "order_data", "payload": {}}', "unknown channel 'order_data'"),
        (b'{"channel": "market_data"}', "market_data frame without payload"),
        (b'{"channel": "heartbeat", "payload": {"time": "x"}}', "bad heartbeat payload"),
        (b'{"channel": "heartbeat", "payload": null}', "bad heartbeat payload"),
        (
            b'{"channel": "market_data", "payload": {"market": "B", "type": "DELTA", "time": "t"}}',
            "bad market_data payload",
        ),
        (
            b'{"channel": "market_data", "payload": {"market": "B", "type": "UPDATE", '
            b'"time": "t", "bids": [{"price": 1.5, "amount": "1"}]}}',
            "bad market_data payload",
        ),
        (b'{"type": "unknown_response"}', "bad 'unknown_response' message"),
        (b'{"type": "subscribe", "channels": {}}', "bad 'subscribe' message"),
        (b'{"type": "subscribe", "channels": [{"success": true}]}', "bad 'subscribe' message"),
    ],
)
def test_bad_frames_decode_to_unrecognized(data: bytes, problem: str) -> None:
    msg = decode_frame(data)
    assert isinstance(msg, Unrecognized)
    assert msg.problem.startswith(problem), msg.problem
    assert msg.head == data


def test_unrecognized_keeps_only_the_first_200_bytes() -> None:
    data = b'{"type": "nope", "pad": "' + b"\xff" * 500 + b'"}'
    msg = decode_frame(data)
    assert isinstance(msg, Unrecognized)
    assert msg.head == data[:200]
    assert msg.head_text.startswith('{"type": "nope", "pad": "\\xff')


@pytest.mark.parametrize(
    "data",
    [
        b'{"type": "\xff"}',
        b'{"type": "error", "error": "\xc3\x28"}',
        b'{"channel": "heartbeat", "payload": {"timestamp": "\xed\xa0\x80"}}',
        b'{"x": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        b'{"channel": "market_data", "payload": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        b'{"type": "subscribe", "channels": ' + b"[" * 5000 + b"]" * 5000 + b"}",
    ],
    ids=["utf8-in-type", "utf8-in-error", "surrogate-bytes", "deep", "deep-payload", "deep-list"],
)
def test_invalid_utf8_and_deep_nesting_do_not_escape(data: bytes) -> None:
    # msgspec reports these with UnicodeDecodeError / RecursionError, not DecodeError.
    assert isinstance(decode_frame(data), Unrecognized)


def test_str_with_lone_surrogate_does_not_escape() -> None:
    assert isinstance(decode_frame('{"type": "error", "error": "\ud800"}'), Unrecognized)


# --------------------------------------------------------------------------- fuzz

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)
names = st.sampled_from(
    [
        "market_data",
        "execution_data",
        "heartbeat",
        "subscribe",
        "unsubscribe",
        "subscription_list",
        "error",
        "SNAPSHOT",
        "UPDATE",
    ]
) | st.text(max_size=8)
frame_fields = [
    "channel",
    "payload",
    "type",
    "channels",
    "market",
    "time",
    "bids",
    "asks",
    "price",
    "amount",
    "executed_at",
    "timestamp",
    "params",
    "success",
    "error",
]
shaped_json = st.recursive(
    json_values | names,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(frame_fields) | st.text(max_size=4), inner, max_size=6)
    ),
    max_leaves=30,
)
real_frames = [
    DOC_SNAPSHOT,
    DOC_UPDATE,
    DOC_EXECUTION,
    DOC_HEARTBEAT,
    b'{"type":"subscribe","channels":[{"type":"heartbeat","success":true}]}',
]


def check_never_raises(data: bytes | str) -> ServerMessage:
    msg = decode_frame(data)  # the property: this line does not raise
    if isinstance(msg, Unrecognized):
        raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
        assert len(msg.head) <= 200 and raw.startswith(msg.head)
        assert msg.problem
    return msg


@given(st.binary(max_size=300))
def test_fuzz_random_bytes(data: bytes) -> None:
    check_never_raises(data)


@given(json_values)
def test_fuzz_random_json(value: object) -> None:
    check_never_raises(json.dumps(value).encode())


@given(shaped_json)
def test_fuzz_random_json_shaped_like_frames(value: object) -> None:
    check_never_raises(json.dumps(value, ensure_ascii=False))


@given(
    data=st.sampled_from(real_frames),
    start=st.integers(0, 400),
    length=st.integers(0, 8),
    junk=st.binary(max_size=8),
)
def test_fuzz_mutated_real_frames(data: bytes, start: int, length: int, junk: bytes) -> None:
    check_never_raises(data[:start] + junk + data[start + length :])


@given(st.text(st.characters(codec=None), max_size=50))
def test_fuzz_random_text_including_surrogates(text: str) -> None:
    check_never_raises('{"type": "error", "error": "' + text + '"}')


# --------------------------------------------------------------------------- times

T05 = ns_of(datetime(2024, 1, 15, 10, 30, 5, tzinfo=UTC))


@pytest.mark.parametrize(
    ("text", "offset_ns"),
    [
        ("2024-01-15T10:30:05Z", 0),
        ("2024-01-15T10:30:05.1Z", 100_000_000),
        ("2024-01-15T10:30:05.12Z", 120_000_000),
        ("2024-01-15T10:30:05.123Z", 123_000_000),
        ("2024-01-15T10:30:05.1234Z", 123_400_000),
        ("2024-01-15T10:30:05.12345Z", 123_450_000),
        ("2024-01-15T10:30:05.123456Z", 123_456_000),
        ("2024-01-15T10:30:05.1234567Z", 123_456_700),
        ("2024-01-15T10:30:05.12345678Z", 123_456_780),
        ("2024-01-15T10:30:05.123456789Z", 123_456_789),
        ("2024-01-15T10:30:05.000000001Z", 1),
        ("2024-01-15T10:30:05.5Z", 500_000_000),
        ("2024-01-15T10:30:05.500Z", 500_000_000),
        ("2024-01-15t10:30:05.5z", 500_000_000),
        ("2024-01-15T11:30:05+01:00", 0),
        ("2024-01-15T05:00:05.25-05:30", 250_000_000),
        ("2024-01-15T10:30:05.999999999+00:00", 999_999_999),
        ("2024-01-14T21:00:05-13:30", 0),
    ],
)
def test_parse_time(text: str, offset_ns: int) -> None:
    assert parse_time(text) == T05 + offset_ns
    assert parse_time(text) == T05 + offset_ns  # second call: the cached whole second


def test_times_compare_as_numbers_not_strings() -> None:
    whole, tenth = "2024-01-15T10:30:05Z", "2024-01-15T10:30:05.1Z"
    assert whole > tenth  # as strings: the trap docs/protocol.md §5 warns about
    assert parse_time(whole) < parse_time(tenth)


def test_cached_second_does_not_leak_into_other_forms() -> None:
    assert parse_time("2024-01-15T10:30:05Z") == T05
    assert parse_time("2024-01-15T10:30:05.7+02:00") == T05 - 2 * 3600 * 10**9 + 700_000_000
    # The fast path, with this second cached, must still reject a malformed fraction.
    for bad in (
        "2024-01-15T10:30:05.Z",
        "2024-01-15T10:30:05.1a3Z",
        "2024-01-15T10:30:05.-1Z",
        "2024-01-15T10:30:05.1234567890Z",
        "2024-01-15T10:30:05xZ",
    ):
        with pytest.raises(TimeFormatError):
            parse_time(bad)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "2024-01-15",
        "2024-01-15T10:30:05",
        "2024-01-15 10:30:05Z",
        "2024-01-15T10:30:05.Z",
        "2024-01-15T10:30:05.1234567890Z",
        "2024-01-15T10:30:5Z",
        "2024-13-01T00:00:00Z",
        "2024-02-30T00:00:00Z",
        "2023-02-29T00:00:00Z",
        "2024-01-15T24:00:00Z",
        "2024-01-15T10:60:00Z",
        "2024-01-15T10:30:05+0100",
        "2024-01-15T10:30:05+24:00",
        "2024-01-15T10:30:05+01:60",
        "2024-01-15T10:30:05Zjunk",
        " 2024-01-15T10:30:05Z",
        "\uff12\uff10\uff12\uff14-01-15T10:30:05Z",  # fullwidth digits
        "2024-01-15T10:30:05.\uff11Z",
        "1705314605000000000",
    ],
)
def test_invalid_time_is_an_error_naming_the_text(text: str) -> None:
    with pytest.raises(TimeFormatError) as info:
        parse_time(text)
    assert repr(text) in str(info.value)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("ns", "text"),
    [
        (T05, "2024-01-15T10:30:05Z"),
        (T05 + 500_000_000, "2024-01-15T10:30:05.5Z"),
        (T05 + 120_000_000, "2024-01-15T10:30:05.12Z"),
        (T05 + 1, "2024-01-15T10:30:05.000000001Z"),
        (T05 + 123_456_789, "2024-01-15T10:30:05.123456789Z"),
        (0, "1970-01-01T00:00:00Z"),
        (-1, "1969-12-31T23:59:59.999999999Z"),
    ],
)
def test_format_time_is_go_style(ns: int, text: str) -> None:
    assert format_time(ns) == text


MIN_NS = ns_of(datetime(1, 1, 1, tzinfo=UTC))
MAX_NS = ns_of(datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)) + 999_999_999
GO_STYLE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{0,8}[1-9])?Z")


@given(st.integers(MIN_NS, MAX_NS))
def test_time_round_trip(ns: int) -> None:
    text = format_time(ns)
    assert GO_STYLE.fullmatch(text), text
    assert parse_time(text) == ns


@given(
    when=st.datetimes(datetime(1, 1, 2), datetime(9999, 12, 30)),
    nanos=st.integers(0, 999),
    offset_minutes=st.integers(-23 * 60 - 59, 23 * 60 + 59),
    digits=st.integers(0, 9),
)
def test_parse_time_agrees_with_datetime(
    when: datetime, nanos: int, offset_minutes: int, digits: int
) -> None:
    tz = timezone(timedelta(minutes=offset_minutes))
    local = when.replace(tzinfo=tz)
    fraction = f"{local.microsecond:06d}{nanos:03d}"[:digits]
    sign = "-" if offset_minutes < 0 else "+"
    hours, minutes = divmod(abs(offset_minutes), 60)
    text = local.strftime("%Y-%m-%dT%H:%M:%S").rjust(19, "0")
    text += (f".{fraction}" if digits else "") + f"{sign}{hours:02d}:{minutes:02d}"
    expected = ns_of(local.replace(microsecond=0)) + int(fraction.ljust(9, "0") or 0)
    assert parse_time(text) == expected


# --------------------------------------------------------------------------- decimals


@pytest.mark.parametrize(
    ("spellings", "value"),
    [
        (["0", "0.0", "0.00000000", "00", "0.000000000000000000000"], 0),
        (["50000", "50000.0", "50000.00", "050000.000000000000000000"], 50_000 * ONE),
        (["1.5", "1.50", "1.500000000000000000"], 3 * ONE // 2),
        (["0.000000000000000001", "0.0000000000000000010"], 1),
        (
            ["123456789012345678901234567890.123456789012345678"],
            123456789012345678901234567890123456789012345678,
        ),
    ],
)
def test_equal_spellings_give_equal_scaled_values(spellings: list[str], value: int) -> None:
    assert {to_scaled(text) for text in spellings} == {value}
    assert {to_scaled_cached(text) for text in spellings} == {value}


@given(
    st.decimals(min_value=0, max_value=10**12, places=SCALE, allow_nan=False),
    st.integers(0, 5),
)
def test_scaled_matches_decimal_arithmetic(value: Decimal, pad: int) -> None:
    text = f"{value:f}"
    if pad:
        text += ("" if "." in text else ".") + "0" * pad
    scaled = to_scaled(text)
    with localcontext() as ctx:
        ctx.prec = 60  # the default 28 digits would round the oracle itself
        assert scaled == int(value * ONE)
    assert Decimal(format_scaled(scaled)) == value
    assert to_scaled(format_scaled(scaled)) == scaled


@pytest.mark.parametrize(
    "text",
    [
        "",
        "-1",
        "+1",
        "-0",
        "1e5",
        "1E-3",
        "1.2.3",
        ".5",
        "abc",
        " 1",
        "1 ",
        "NaN",
        "Infinity",
        "1,5",
        "1_000",
        "\uff11",
        "0x10",
        "0.0000000000000000001",
    ],
)
def test_bad_decimal_is_a_clear_error(text: str) -> None:
    with pytest.raises(DecimalFormatError) as info:
        to_scaled(text)
    assert repr(text) in str(info.value)
    with pytest.raises(DecimalFormatError):
        to_scaled_cached(text)


@pytest.mark.parametrize(
    ("value", "places", "text"),
    [
        (0, None, "0"),
        (50_000 * ONE, None, "50000"),
        (to_scaled("1.2390"), None, "1.239"),
        (to_scaled("1.239"), 2, "1.23"),
        (5 * ONE, 2, "5.00"),
        (1, None, "0.000000000000000001"),
        (-ONE // 2, None, "-0.5"),
        (-ONE // 2, 3, "-0.500"),
    ],
)
def test_format_scaled(value: int, places: int | None, text: str) -> None:
    assert format_scaled(value, places) == text


@pytest.mark.parametrize(("text", "places"), [("1", 0), ("1.", 0), ("1.50", 2), ("0.00000000", 8)])
def test_decimal_places(text: str, places: int) -> None:
    assert decimal_places(text) == places


@settings(max_examples=50)
@given(st.lists(st.tuples(st.integers(0, 10**9), st.integers(0, 10**9)), max_size=5))
def test_encoded_book_message_decodes_to_itself(pairs: list[tuple[int, int]]) -> None:
    levels = [Level(format_scaled(p * 10**10), format_scaled(a * 10**10)) for p, a in pairs]
    msg = BookMessage("BTCUSD", "UPDATE", format_time(T05), levels, levels[::-1])
    assert decode_frame(encode(DataFrame("market_data", msg))) == msg
