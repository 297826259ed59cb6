#ifndef CFASTCDC_H
#define CFASTCDC_H

#include <stddef.h>
#include <stdint.h>

/// The first cut point of FastCDC 2020 in `data`: scans [start, middle) with `mask_small` and then
/// [max(start, middle), end) with `mask_large`, two bytes per step; returns the cut position, or `remaining`
/// when none is found. `gear_shifted[i]` is `gear[i] << 1`.
size_t hm_fastcdc_cut(const uint8_t *data, size_t start, size_t middle, size_t end, size_t remaining,
                      uint64_t mask_small, uint64_t mask_large, const uint64_t *gear, const uint64_t *gear_shifted);

#endif
