// A small C layer over the Vulkan loader for HyperMeshAssets: device discovery and a compute
// health check. Vulkan's C API is verbose from Swift; this keeps it in one place.
#ifndef HM_VULKAN_H
#define HM_VULKAN_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    char name[256];
    uint32_t type;            // VkPhysicalDeviceType
    uint32_t vendorID;
    uint32_t deviceID;
    uint8_t uuid[16];         // VkPhysicalDeviceIDProperties.deviceUUID
    uint32_t apiVersion;
    uint32_t driverVersion;
    char driverName[256];     // VkPhysicalDeviceDriverProperties (Vulkan 1.2)
    char driverInfo[256];
    uint32_t heapCount;
    uint64_t heapBytes[16];
    uint32_t heapDeviceLocal[16];
    uint32_t computeQueueFamilies;  // families with VK_QUEUE_COMPUTE_BIT
} hm_vk_device;

/// Lists physical devices. Returns 0 on success, else a VkResult (<0) or -1000 with `error` set.
int hm_vk_enumerate(hm_vk_device *devices, uint32_t capacity, uint32_t *count, char *error, size_t error_length);

/// Runs `spirv` (a compute shader over one storage buffer of `element_count` uint32, local size 64)
/// on device `device_index`, with the buffer filled with 0 ..< element_count; copies the result out.
int hm_vk_compute(uint32_t device_index, const uint32_t *spirv, size_t spirv_bytes, uint32_t element_count,
                  uint32_t *result, char *error, size_t error_length);

#endif
