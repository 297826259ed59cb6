"""The chunking peer: pyfastcdc's Cython FastCDC 2020 cutting the same 256 MiB at 64 KiB average, one core."""
import struct
import time

from pyfastcdc.cy import FastCDC

MASK = (1 << 64) - 1
state, words = 42, []
for _ in range((256 << 20) // 8):
    state = (state + 0x9E3779B97F4A7C15) & MASK
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    words.append(z ^ (z >> 31))
data = struct.pack("<%dQ" % len(words), *words)
chunker = FastCDC(65536, min_size=16384, max_size=262144, normalized_chunking=1)
best = None
for _ in range(3):
    start = time.perf_counter()
    count = sum(1 for _ in chunker.cut_buf(data))
    elapsed = time.perf_counter() - start
    best = elapsed if best is None else min(best, elapsed)
print(f"pyfastcdc (Cython): {count} chunks, 256 MiB in {best:.3f}s = {256 / 1024 / best:.2f} GiB/s")
