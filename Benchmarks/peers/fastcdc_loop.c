// The FastCDC 2020 inner loop (pyfastcdc's cut, line for line) in C, to tell the algorithm from the compiler.
//   gcc -O3 fastcdc_loop.c -o loop-gcc && ./loop-gcc
//   clang -O3 fastcdc_loop.c -o loop-clang && ./loop-clang
// On this VM: gcc 5.0 GiB/s, clang 3.5 GiB/s — LLVM folds each table load into a shift-add-add chain where
// gcc uses lea. That is why Sources/CFastCDC runs the loop as x86-64 assembly (the lea-add chain).
// The gear table here is a fixed pseudo-random one (the speed does not depend on its values).
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static size_t cut(const uint8_t *data, size_t start, size_t mid, size_t end, size_t remaining, uint64_t mask_s,
                  uint64_t mask_l, const uint64_t *gear, const uint64_t *gear_ls) {
    uint64_t hash = 0;
    size_t pos = start;
    for (; pos < mid; pos += 2) {
        hash = (hash << 2) + gear_ls[data[pos]];
        if (!(hash & (mask_s << 1))) return pos;
        hash += gear[data[pos + 1]];
        if (!(hash & mask_s)) return pos + 1;
    }
    for (; pos < end; pos += 2) {
        hash = (hash << 2) + gear_ls[data[pos]];
        if (!(hash & (mask_l << 1))) return pos;
        hash += gear[data[pos + 1]];
        if (!(hash & mask_l)) return pos + 1;
    }
    return remaining;
}

int main(void) {
    const size_t size = (size_t)256 << 20;
    uint64_t *words = malloc(size), state = 42;
    for (size_t i = 0; i < size / 8; i++) {  // the benchmark's SplitMix64 bytes
        state += 0x9E3779B97F4A7C15ULL;
        uint64_t z = state;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        words[i] = z ^ (z >> 31);
    }
    uint64_t gear[256], gear_ls[256], g = 1;
    for (int i = 0; i < 256; i++) {
        g = g * 6364136223846793005ULL + 1442695040888963407ULL;
        gear[i] = g;
        gear_ls[i] = g << 1;
    }
    const uint8_t *data = (const uint8_t *)words;
    double best = 1e9;
    size_t count = 0;
    for (int run = 0; run < 5; run++) {
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        count = 0;
        for (size_t offset = 0; offset < size; count++) {
            size_t left = size - offset, length = left, center = 65536, remaining = left;
            if (left > 16384) {
                if (remaining > 262144) remaining = 262144; else if (remaining < center) center = remaining;
                length = cut(data + offset, 16384, center / 2 * 2, remaining / 2 * 2, remaining, 0x0000d90703537000ULL,
                             0x0000d90003530000ULL, gear, gear_ls);
            }
            offset += length;
        }
        clock_gettime(CLOCK_MONOTONIC, &b);
        double seconds = (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9;
        if (seconds < best) best = seconds;
    }
    printf("%zu chunks, 256 MiB in %.1f ms = %.2f GiB/s\n", count, best * 1000, 0.25 / best);
    free(words);
    return 0;
}
