"""A minimal software WebAuthn authenticator for tests: one ES256 key pair (made with `cryptography`), "none"
attestation, a signature counter. It produces the JSON a browser's navigator.credentials.create()/get() would give
to @simplewebauthn/browser, for a given origin."""
from __future__ import annotations

import base64
import hashlib
import json
import os
from typing import Any
from urllib.parse import urlsplit

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

UP, UV, AT = 0x01, 0x04, 0x40


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class SoftAuthenticator:
    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = os.urandom(16)
        self.counter = 0

    @property
    def id(self) -> str:
        return b64url(self.credential_id)

    def _cose_public_key(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        return cbor2.dumps({1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")})

    @staticmethod
    def _client_data(kind: str, challenge: str, origin: str) -> bytes:
        return json.dumps({"type": kind, "challenge": challenge, "origin": origin, "crossOrigin": False}).encode()

    def create(self, options: dict[str, Any], origin: str) -> dict[str, Any]:
        """navigator.credentials.create() for these registration options (the RP id is the origin's host)."""
        rp_id = urlsplit(origin).hostname
        auth_data = (hashlib.sha256(rp_id.encode()).digest() + bytes([UP | UV | AT]) + self.counter.to_bytes(4, "big")
                     + bytes(16) + len(self.credential_id).to_bytes(2, "big") + self.credential_id
                     + self._cose_public_key())
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return {"id": self.id, "rawId": self.id, "type": "public-key", "clientExtensionResults": {},
                "authenticatorAttachment": "platform",
                "response": {"clientDataJSON": b64url(self._client_data("webauthn.create", options["challenge"], origin)),
                             "attestationObject": b64url(attestation), "transports": ["internal"]}}

    def get(self, options: dict[str, Any], origin: str, user_handle: str = "", rp_id: str | None = None) -> dict[str, Any]:
        """navigator.credentials.get(): signs authenticator data and the client data hash with the key. `rp_id`
        (default: the origin's host) lets a test forge a mismatch."""
        self.counter += 1
        rp_id = rp_id or urlsplit(origin).hostname
        auth_data = hashlib.sha256(rp_id.encode()).digest() + bytes([UP | UV]) + self.counter.to_bytes(4, "big")
        client_data = self._client_data("webauthn.get", options["challenge"], origin)
        signature = self.key.sign(auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256()))
        return {"id": self.id, "rawId": self.id, "type": "public-key", "clientExtensionResults": {},
                "authenticatorAttachment": "platform",
                "response": {"clientDataJSON": b64url(client_data), "authenticatorData": b64url(auth_data),
                             "signature": b64url(signature), "userHandle": user_handle}}
