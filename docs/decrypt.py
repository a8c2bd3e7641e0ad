#!/usr/bin/python3
"""Independent decryptor for dbackup encrypted containers (version 1).

Written from docs/format.md alone, to prove the specification is complete.
Needs Debian's python3-cryptography. Usage:

    decrypt.py KEY_HEX_OR_KEYFILE < backup.enc > plain
    decrypt.py --vectors vectors.json      # check the published test vectors

Exit status 0 only when every chunk authenticated and the final chunk was seen.
"""
import hmac
import json
import os
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


def main():
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
    decrypt(key, sys.stdin.buffer, sys.stdout.buffer)


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # report, never leave a half-trusted output unflagged
        sys.exit("decrypt failed: %s" % (e or type(e).__name__))
