#!/usr/bin/env python3
"""An independent AES-CCM implementation (the `cryptography` package) on
mirage-block-ccm's layout, the peer of tests/block_ccm.rs.

Each sector s of the encrypted device is the pair of sectors 2s, 2s+1 of
the image: the ciphertext of the sector and the 16-byte tag, then the
nonce (NONCE_LEN bytes), then random additional authenticated data to the
end of the pair.

  decrypt IMAGE SECTOR_SIZE KEY_HEX NONCE_LEN   one line per sector: the
      plaintext in hex, or `!` if the pair does not authenticate
  encrypt IMAGE SECTOR_SIZE KEY_HEX NONCE_LEN   reads plaintext sectors
      (hex, one a line) on stdin, writes the encrypted image
"""

import os
import sys

try:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESCCM
except ImportError as e:
    print(f"SKIPPED: the cryptography package is not installed ({e})")
    sys.exit(0)

TAG = 16


def main():
    op, image, size, key, nonce_len = sys.argv[1:6]
    size, nonce_len = int(size), int(nonce_len)
    ccm = AESCCM(bytes.fromhex(key.removeprefix("0x")), tag_length=TAG)
    if op == "decrypt":
        data = open(image, "rb").read()
        for at in range(0, len(data) - 2 * size + 1, 2 * size):
            pair = data[at : at + 2 * size]
            sealed = pair[: size + TAG]
            nonce = pair[size + TAG : size + TAG + nonce_len]
            aad = pair[size + TAG + nonce_len :]
            try:
                print(ccm.decrypt(nonce, sealed, aad).hex())
            except InvalidTag:
                print("!")
    elif op == "encrypt":
        out = bytearray()
        for line in sys.stdin.read().split():
            plain = bytes.fromhex(line)
            assert len(plain) == size
            fill = os.urandom(size - TAG)
            nonce, aad = fill[:nonce_len], fill[nonce_len:]
            out += ccm.encrypt(nonce, plain, aad) + fill
        open(image, "wb").write(out)
    else:
        sys.exit(f"unknown operation {op}")


if __name__ == "__main__":
    main()
