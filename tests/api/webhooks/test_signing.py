"""Standard Webhooks signatures: what a receiver checks, and what it must refuse."""

from __future__ import annotations

import base64
import hashlib
import hmac

from api.webhooks.signing import headers, new_secret, verify


def test_a_receiver_can_verify_with_nothing_but_the_standard_library() -> None:
    secret = new_secret()
    body = b'{"id":"evt_1","type":"deal.won"}'
    sent = headers(secret, "evt_1", body, now=1_800_000_000)
    # What the docs tell receivers to do, written out independently of api.webhooks.signing:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{sent['webhook-id']}.{sent['webhook-timestamp']}.".encode() + body
    expected = "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    assert sent["webhook-signature"] == expected
    assert verify(secret, sent, body, now=1_800_000_010)


def test_tampering_other_secrets_and_old_timestamps_are_refused() -> None:
    secret = new_secret()
    body = b'{"id":"evt_1"}'
    sent = headers(secret, "evt_1", body, now=1_800_000_000)
    assert not verify(secret, sent, body + b" ", now=1_800_000_000)
    assert not verify(new_secret(), sent, body, now=1_800_000_000)
    assert not verify(secret, {**sent, "webhook-id": "evt_2"}, body, now=1_800_000_000)
    assert not verify(secret, sent, body, now=1_800_000_000 + 301)  # a replay, too late
    assert not verify(secret, {}, body)
    rotated = {**sent, "webhook-signature": f"v1,bm90LWl0 {sent['webhook-signature']}"}
    assert verify(secret, rotated, body, now=1_800_000_000)  # any one valid signature is enough
