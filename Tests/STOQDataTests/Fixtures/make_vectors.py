"""Writes vectors.txt: chunk sizes and SHA-256 ids of 1 MiB of SplitMix64 bytes (seed 2026), cut by
the reference pyfastcdc (16Ki/64Ki/256Ki, normalization 1), and the manifest id — computed without
HyperMesh's code, so the committed vectors check it independently.
"""
import hashlib
import struct

from pyfastcdc.py import FastCDC

MASK = (1 << 64) - 1


def splitmix_bytes(count, seed):
    state, out = seed, bytearray()
    while len(out) < count:
        state = (state + 0x9E3779B97F4A7C15) & MASK
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        z ^= z >> 31
        out += struct.pack("<Q", z)
    return bytes(out[:count])


data = splitmix_bytes(1 << 20, 2026)
lines, manifest = [], b""
for chunk in FastCDC(65536, min_size=16384, max_size=262144, normalized_chunking=1).cut_buf(data):
    digest = hashlib.sha256(data[chunk.offset:chunk.offset + chunk.length]).digest()
    lines.append(f"{chunk.length} {digest.hex()}")
    manifest += digest + struct.pack(">Q", chunk.length)
lines.append(f"manifest {hashlib.sha256(manifest).hexdigest()}")
open("vectors.txt", "w").write("\n".join(lines) + "\n")
