// The FastCDC 2020 inner loop (Xia et al.): the gear hash rolled two bytes per step, tested against the
// normalized masks. Written out in x86-64 assembly there: LLVM (clang and Swift alike) compiles the loop to a
// shift-add-add dependency chain, about 3.5 GiB/s here, where this lea-add chain runs at 5 GiB/s (what gcc
// emits for the same C; Benchmarks/peers/fastcdc_loop.c). Other architectures use the plain C loop.
// Boundaries are identical either way (STOQDataTests compare them with pyfastcdc).
#include "cfastcdc.h"

/* Scans [pos, limit) two bytes at a time; returns the cut position, or SIZE_MAX with *hash updated. */
static inline size_t scan(const uint8_t *data, size_t pos, size_t limit, uint64_t *hash, uint64_t mask_shifted,
                          uint64_t mask, const uint64_t *gear_shifted, const uint64_t *gear) {
#if defined(__x86_64__)
    uint64_t h = *hash, t;
    size_t p = pos, result;
    __asm__("cmp %[limit], %[p]\n\t"
            "jae 3f\n\t"
            "1:\n\t"
            "movzbl (%[data],%[p]), %k[t]\n\t"
            "mov (%[gs],%[t],8), %[t]\n\t"
            "lea (%[t],%[h],4), %[h]\n\t"
            "test %[ms], %[h]\n\t"
            "je 4f\n\t"
            "movzbl 1(%[data],%[p]), %k[t]\n\t"
            "add (%[g],%[t],8), %[h]\n\t"
            "test %[m], %[h]\n\t"
            "je 5f\n\t"
            "add $2, %[p]\n\t"
            "cmp %[limit], %[p]\n\t"
            "jb 1b\n\t"
            "3:\n\t"
            "mov $-1, %[r]\n\t"
            "jmp 6f\n\t"
            "5:\n\t"
            "add $1, %[p]\n\t"
            "4:\n\t"
            "mov %[p], %[r]\n\t"
            "6:\n\t"
            : [h] "+r"(h), [p] "+r"(p), [t] "=&r"(t), [r] "=&r"(result)
            : [data] "r"(data), [limit] "r"(limit), [ms] "r"(mask_shifted), [m] "r"(mask), [gs] "r"(gear_shifted),
              [g] "r"(gear)
            : "cc", "memory");
    *hash = h;
    return result;
#else
    uint64_t h = *hash;
    for (size_t p = pos; p < limit; p += 2) {
        h = (h << 2) + gear_shifted[data[p]];
        if (!(h & mask_shifted)) return p;
        h += gear[data[p + 1]];
        if (!(h & mask)) return p + 1;
    }
    *hash = h;
    return SIZE_MAX;
#endif
}

size_t hm_fastcdc_cut(const uint8_t *data, size_t start, size_t middle, size_t end, size_t remaining,
                      uint64_t mask_small, uint64_t mask_large, const uint64_t *gear, const uint64_t *gear_shifted) {
    uint64_t hash = 0;
    size_t cut = scan(data, start, middle, &hash, mask_small << 1, mask_small, gear_shifted, gear);
    if (cut != SIZE_MAX) return cut;
    cut = scan(data, start > middle ? start : middle, end, &hash, mask_large << 1, mask_large, gear_shifted, gear);
    return cut != SIZE_MAX ? cut : remaining;
}
