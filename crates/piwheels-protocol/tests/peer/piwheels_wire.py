"""piwheels 0.23's wire conventions, rebuilt for the peer tests from the spec (piwheels.md §2).

What an original piwheels process does with each frame: cbor2 with two hooks (timedelta
as tag 2001 ``[days, seconds, microseconds]``, the NoData sentinel as tag 2002 over
null), a bare name for messages without data and ``[name, data]`` otherwise, and a
voluptuous schema checked on every send and every receive.
"""

import datetime as dt

import cbor2
from voluptuous import Any, ExactSequence, Schema


class _NoDataType:
    __slots__ = ()

    def __repr__(self):
        return "NoData"


NoData = _NoDataType()


def _encode_hook(encoder, value):
    if isinstance(value, dt.timedelta):
        encoder.encode(cbor2.CBORTag(2001, (value.days, value.seconds, value.microseconds)))
    elif value is NoData:
        encoder.encode(cbor2.CBORTag(2002, None))
    else:
        raise cbor2.CBOREncodeError("cannot serialize %s" % type(value).__name__)


def _tag_hook(decoder, tag, shareable_index=None):
    if tag.tag == 2001:
        days, seconds, micros = tag.value
        return dt.timedelta(days=days, seconds=seconds, microseconds=micros)
    if tag.tag == 2002:
        return NoData
    return tag


def dumps(obj):
    return cbor2.dumps(obj, default=_encode_hook)


def loads(buf):
    return cbor2.loads(buf, tag_hook=_tag_hook)


SLAVE_HELLO = ExactSequence([dt.timedelta, dt.timedelta] + [str] * 8)
SLAVE_STATS = ExactSequence([dt.datetime] + [int] * 6 + [float, float])
FILE_STATE = ExactSequence(
    [str, int, str, str, str, str, str, str, Any(str, None), {str: [str]}, str]
)

# The slave protocol, seen from the slave: what it sends, what it may receive.
SLAVE_SENDS = {
    "HELLO": SLAVE_HELLO,
    "IDLE": SLAVE_STATS,
    "BUSY": SLAVE_STATS,
    "BUILT": ExactSequence([bool, dt.timedelta, str, [FILE_STATE]]),
    "SENT": NoData,
    "BYE": NoData,
}
SLAVE_RECEIVES = {
    "ACK": ExactSequence([int, str]),
    "SLEEP": bool,
    "BUILD": ExactSequence([str, str]),
    "CONT": NoData,
    "SEND": str,
    "DONE": NoData,
    "DIE": NoData,
}


def dump_msg(table, msg, data=NoData):
    """Validates and encodes one message as piwheels does before sending it."""
    schema = table[msg]
    if data is NoData:
        assert schema is NoData, "data must be specified for %s" % msg
        return dumps(msg)
    assert schema is not NoData, "no data expected for %s" % msg
    return dumps((msg, Schema(schema)(data)))


def load_msg(table, buf):
    """Decodes and validates one message as piwheels does on receipt."""
    obj = loads(buf)
    if isinstance(obj, str):
        assert table[obj] is NoData, "missing data for: %s" % obj
        return obj, NoData
    msg, data = obj
    schema = table[msg]
    assert schema is not NoData, "data not expected for: %s" % msg
    return msg, Schema(schema)(data)
