#!/usr/bin/python3
"""Independent decryptor for dbackup encrypted containers (version 1).

Written from docs/format.md alone, to prove the specification is complete.
Needs Debian's python3-cryptography. Usage:

    decrypt.py KEY_HEX_OR_KEYFILE [--sidecar backup.enc.meta.json] < backup.enc > plain
    decrypt.py --vectors vectors.json              # check the container test vectors
    decrypt.py --sidecar-vectors sidecar-vectors.json

With --sidecar, the sidecar's MAC is checked with the key before anything is
decrypted, and the stored bytes against its size and SHA-256 as they are read.
Exit status 0 only when every chunk authenticated and the final chunk was seen
(and the sidecar, when given, authenticated and matched).
"""
import hashlib
import hmac
import json
import os
import re
import struct
import sys

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MAGIC = b"DBKUPENC"
HEADER_SIZE = 69
TAG = 16


def hkdf(key, salt, info, length):
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(key)


def decrypt(key, src, dst):
    header = src.read(HEADER_SIZE)
    if len(header) != HEADER_SIZE or header[:8] != MAGIC:
        raise ValueError("not a dbackup container")
    if header[8] != 1 or header[9] != 1:
        raise ValueError("unsupported version or algorithm")
    chunk_size = struct.unpack(">I", header[10:14])[0]
    salt, prefix, check = header[14:46], header[46:53], header[53:69]
    if not hmac.compare_digest(hkdf(key, salt, b"dbackup container v1 key check", 16), check):
        raise ValueError("wrong key")
    aead = AESGCM(hkdf(key, salt, b"dbackup container v1 aes-256-gcm key", 32))
    sealed_size = chunk_size + TAG
    counter = 0
    buf = src.read(sealed_size + 1)
    while True:
        last = len(buf) <= sealed_size
        chunk = buf if last else buf[:sealed_size]
        if len(chunk) < TAG:
            raise ValueError("truncated")
        nonce = prefix + struct.pack(">I", counter) + (b"\x01" if last else b"\x00")
        dst.write(aead.decrypt(nonce, chunk, header))  # raises InvalidTag
        if last:
            return
        counter += 1
        buf = buf[sealed_size:] + src.read(sealed_size)


MAC_MEMBER = re.compile(rb'(.*),\n  "mac": "([0-9a-f]{64})"\n}\n', re.S)


def check_sidecar(key, data):
    """Return the sidecar as a dict if its MAC under key is right."""
    m = MAC_MEMBER.fullmatch(data)
    if not m:
        raise ValueError("sidecar has no MAC as its last member")
    body = m.group(1) + b"\n}\n"
    mac_key = hkdf(key, None, b"dbackup sidecar v2 mac", 32)
    want = hmac.new(mac_key, body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(want.encode(), m.group(2)):
        raise ValueError("sidecar MAC does not match: altered, or another key")
    return json.loads(data)


class Checked:
    """Reads the stored bytes; at their end, compares size and SHA-256."""

    def __init__(self, src, size, sha256):
        self.src, self.size, self.sha256 = src, size, sha256
        self.h, self.n = hashlib.sha256(), 0

    def read(self, n):
        b = self.src.read(n)
        self.h.update(b)
        self.n += len(b)
        if len(b) < n:
            rest = self.src.read()
            self.h.update(rest)
            self.n += len(rest)
            if self.n != self.size or self.h.hexdigest() != self.sha256:
                raise ValueError("stored bytes differ from the sidecar's size and SHA-256")
        return b


def main():
    if sys.argv[1:2] == ["--sidecar-vectors"]:
        for v in json.load(open(sys.argv[2])):
            try:
                check_sidecar(bytes.fromhex(v["profile_key"]), v["sidecar"].encode())
                ok = True
            except ValueError:
                ok = False
            if ok != v["valid"]:
                sys.exit("sidecar vector %r: valid=%s, want %s" % (v["name"], ok, v["valid"]))
        print("all sidecar vectors ok")
        return
    if sys.argv[1:2] == ["--vectors"]:
        import io
        for v in json.load(open(sys.argv[2])):
            out = io.BytesIO()
            decrypt(bytes.fromhex(v["key"]), io.BytesIO(bytes.fromhex(v["container"])), out)
            if out.getvalue().hex() != v["plaintext"]:
                sys.exit("vector %r: plaintext differs" % v["name"])
        print("all vectors ok")
        return
    arg = sys.argv[1]
    key_hex = open(arg).read().strip() if os.path.exists(arg) else arg
    key = bytes.fromhex(key_hex)
    if len(key) != 32:
        sys.exit("key must be 32 bytes (64 hex digits)")
    src = sys.stdin.buffer
    if sys.argv[2:3] == ["--sidecar"]:
        meta = check_sidecar(key, open(sys.argv[3], "rb").read())
        src = Checked(src, meta["size"], meta["sha256"])
    decrypt(key, src, sys.stdout.buffer)


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # report, never leave a half-trusted output unflagged
        sys.exit("decrypt failed: %s" % (e or type(e).__name__))
