#include "hm_vulkan.h"

#include <stdio.h>
#include <string.h>
#include <vulkan/vulkan.h>

#define FAIL(code, ...) do { snprintf(error, error_length, __VA_ARGS__); result_code = (code); goto done; } while (0)
#define CHECK(call, what) do { VkResult r_ = (call); if (r_ != VK_SUCCESS) FAIL((int)r_, "%s failed: VkResult %d", what, (int)r_); } while (0)

static VkResult make_instance(VkInstance *instance) {
    VkApplicationInfo app = {.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO, .pApplicationName = "hypermesh",
                             .apiVersion = VK_API_VERSION_1_2};
    VkInstanceCreateInfo info = {.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO, .pApplicationInfo = &app};
    return vkCreateInstance(&info, NULL, instance);
}

int hm_vk_enumerate(hm_vk_device *devices, uint32_t capacity, uint32_t *count, char *error, size_t error_length) {
    int result_code = 0;
    VkInstance instance = VK_NULL_HANDLE;
    *count = 0;
    CHECK(make_instance(&instance), "vkCreateInstance");
    uint32_t found = 0;
    CHECK(vkEnumeratePhysicalDevices(instance, &found, NULL), "vkEnumeratePhysicalDevices");
    VkPhysicalDevice physical[64];
    if (found > 64) found = 64;
    CHECK(vkEnumeratePhysicalDevices(instance, &found, physical), "vkEnumeratePhysicalDevices");
    for (uint32_t i = 0; i < found && i < capacity; i++) {
        hm_vk_device *out = &devices[i];
        memset(out, 0, sizeof(*out));
        VkPhysicalDeviceDriverProperties driver = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES};
        VkPhysicalDeviceIDProperties ids = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_ID_PROPERTIES, .pNext = &driver};
        VkPhysicalDeviceProperties2 properties = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &ids};
        vkGetPhysicalDeviceProperties2(physical[i], &properties);
        snprintf(out->name, sizeof(out->name), "%s", properties.properties.deviceName);
        out->type = (uint32_t)properties.properties.deviceType;
        out->vendorID = properties.properties.vendorID;
        out->deviceID = properties.properties.deviceID;
        memcpy(out->uuid, ids.deviceUUID, 16);
        out->apiVersion = properties.properties.apiVersion;
        out->driverVersion = properties.properties.driverVersion;
        snprintf(out->driverName, sizeof(out->driverName), "%s", driver.driverName);
        snprintf(out->driverInfo, sizeof(out->driverInfo), "%s", driver.driverInfo);
        VkPhysicalDeviceMemoryProperties memory;
        vkGetPhysicalDeviceMemoryProperties(physical[i], &memory);
        out->heapCount = memory.memoryHeapCount > 16 ? 16 : memory.memoryHeapCount;
        for (uint32_t h = 0; h < out->heapCount; h++) {
            out->heapBytes[h] = memory.memoryHeaps[h].size;
            out->heapDeviceLocal[h] = (memory.memoryHeaps[h].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) ? 1 : 0;
        }
        uint32_t families = 0;
        vkGetPhysicalDeviceQueueFamilyProperties(physical[i], &families, NULL);
        VkQueueFamilyProperties family[32];
        if (families > 32) families = 32;
        vkGetPhysicalDeviceQueueFamilyProperties(physical[i], &families, family);
        for (uint32_t f = 0; f < families; f++) {
            if (family[f].queueFlags & VK_QUEUE_COMPUTE_BIT) out->computeQueueFamilies++;
        }
        (*count)++;
    }
done:
    if (instance) vkDestroyInstance(instance, NULL);
    return result_code;
}

int hm_vk_compute(uint32_t device_index, const uint32_t *spirv, size_t spirv_bytes, uint32_t element_count,
                  uint32_t *result, char *error, size_t error_length) {
    int result_code = 0;
    VkInstance instance = VK_NULL_HANDLE;
    VkDevice device = VK_NULL_HANDLE;
    VkBuffer buffer = VK_NULL_HANDLE;
    VkDeviceMemory memory = VK_NULL_HANDLE;
    VkShaderModule shader = VK_NULL_HANDLE;
    VkDescriptorSetLayout set_layout = VK_NULL_HANDLE;
    VkPipelineLayout pipeline_layout = VK_NULL_HANDLE;
    VkPipeline pipeline = VK_NULL_HANDLE;
    VkDescriptorPool descriptor_pool = VK_NULL_HANDLE;
    VkCommandPool command_pool = VK_NULL_HANDLE;
    VkFence fence = VK_NULL_HANDLE;
    const VkDeviceSize size = (VkDeviceSize)element_count * sizeof(uint32_t);

    CHECK(make_instance(&instance), "vkCreateInstance");
    uint32_t found = 0;
    VkPhysicalDevice physical[64];
    CHECK(vkEnumeratePhysicalDevices(instance, &found, NULL), "vkEnumeratePhysicalDevices");
    if (found > 64) found = 64;
    CHECK(vkEnumeratePhysicalDevices(instance, &found, physical), "vkEnumeratePhysicalDevices");
    if (device_index >= found) FAIL(-1000, "no Vulkan device %u (found %u)", device_index, found);
    VkPhysicalDevice gpu = physical[device_index];

    uint32_t families = 0, family_index = UINT32_MAX;
    VkQueueFamilyProperties family[32];
    vkGetPhysicalDeviceQueueFamilyProperties(gpu, &families, NULL);
    if (families > 32) families = 32;
    vkGetPhysicalDeviceQueueFamilyProperties(gpu, &families, family);
    for (uint32_t f = 0; f < families; f++) {
        if (family[f].queueFlags & VK_QUEUE_COMPUTE_BIT) { family_index = f; break; }
    }
    if (family_index == UINT32_MAX) FAIL(-1000, "device %u has no compute queue", device_index);

    float priority = 1.0f;
    VkDeviceQueueCreateInfo queue_info = {.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
                                          .queueFamilyIndex = family_index, .queueCount = 1, .pQueuePriorities = &priority};
    VkDeviceCreateInfo device_info = {.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO, .queueCreateInfoCount = 1,
                                      .pQueueCreateInfos = &queue_info};
    CHECK(vkCreateDevice(gpu, &device_info, NULL, &device), "vkCreateDevice");
    VkQueue queue;
    vkGetDeviceQueue(device, family_index, 0, &queue);

    VkBufferCreateInfo buffer_info = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO, .size = size,
                                      .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT, .sharingMode = VK_SHARING_MODE_EXCLUSIVE};
    CHECK(vkCreateBuffer(device, &buffer_info, NULL, &buffer), "vkCreateBuffer");
    VkMemoryRequirements requirements;
    vkGetBufferMemoryRequirements(device, buffer, &requirements);
    VkPhysicalDeviceMemoryProperties memory_properties;
    vkGetPhysicalDeviceMemoryProperties(gpu, &memory_properties);
    uint32_t type_index = UINT32_MAX;
    const VkMemoryPropertyFlags wanted = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    for (uint32_t t = 0; t < memory_properties.memoryTypeCount; t++) {
        if ((requirements.memoryTypeBits & (1u << t)) && (memory_properties.memoryTypes[t].propertyFlags & wanted) == wanted) {
            type_index = t;
            break;
        }
    }
    if (type_index == UINT32_MAX) FAIL(-1000, "no host-visible coherent memory for the buffer");
    VkMemoryAllocateInfo allocate = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO, .allocationSize = requirements.size,
                                     .memoryTypeIndex = type_index};
    CHECK(vkAllocateMemory(device, &allocate, NULL, &memory), "vkAllocateMemory");
    CHECK(vkBindBufferMemory(device, buffer, memory, 0), "vkBindBufferMemory");
    uint32_t *mapped = NULL;
    CHECK(vkMapMemory(device, memory, 0, size, 0, (void **)&mapped), "vkMapMemory");
    for (uint32_t i = 0; i < element_count; i++) mapped[i] = i;
    vkUnmapMemory(device, memory);

    VkShaderModuleCreateInfo shader_info = {.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO, .codeSize = spirv_bytes, .pCode = spirv};
    CHECK(vkCreateShaderModule(device, &shader_info, NULL, &shader), "vkCreateShaderModule");
    VkDescriptorSetLayoutBinding binding = {.binding = 0, .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, .descriptorCount = 1,
                                            .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT};
    VkDescriptorSetLayoutCreateInfo set_info = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO, .bindingCount = 1,
                                                .pBindings = &binding};
    CHECK(vkCreateDescriptorSetLayout(device, &set_info, NULL, &set_layout), "vkCreateDescriptorSetLayout");
    VkPipelineLayoutCreateInfo layout_info = {.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO, .setLayoutCount = 1,
                                              .pSetLayouts = &set_layout};
    CHECK(vkCreatePipelineLayout(device, &layout_info, NULL, &pipeline_layout), "vkCreatePipelineLayout");
    VkComputePipelineCreateInfo pipeline_info = {
        .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
        .stage = {.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO, .stage = VK_SHADER_STAGE_COMPUTE_BIT,
                  .module = shader, .pName = "main"},
        .layout = pipeline_layout};
    CHECK(vkCreateComputePipelines(device, VK_NULL_HANDLE, 1, &pipeline_info, NULL, &pipeline), "vkCreateComputePipelines");

    VkDescriptorPoolSize pool_size = {.type = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, .descriptorCount = 1};
    VkDescriptorPoolCreateInfo pool_info = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO, .maxSets = 1, .poolSizeCount = 1,
                                            .pPoolSizes = &pool_size};
    CHECK(vkCreateDescriptorPool(device, &pool_info, NULL, &descriptor_pool), "vkCreateDescriptorPool");
    VkDescriptorSet set;
    VkDescriptorSetAllocateInfo set_allocate = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO, .descriptorPool = descriptor_pool,
                                                .descriptorSetCount = 1, .pSetLayouts = &set_layout};
    CHECK(vkAllocateDescriptorSets(device, &set_allocate, &set), "vkAllocateDescriptorSets");
    VkDescriptorBufferInfo buffer_descriptor = {.buffer = buffer, .offset = 0, .range = size};
    VkWriteDescriptorSet write = {.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET, .dstSet = set, .dstBinding = 0, .descriptorCount = 1,
                                  .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, .pBufferInfo = &buffer_descriptor};
    vkUpdateDescriptorSets(device, 1, &write, 0, NULL);

    VkCommandPoolCreateInfo command_pool_info = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO, .queueFamilyIndex = family_index};
    CHECK(vkCreateCommandPool(device, &command_pool_info, NULL, &command_pool), "vkCreateCommandPool");
    VkCommandBuffer commands;
    VkCommandBufferAllocateInfo command_allocate = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO, .commandPool = command_pool,
                                                    .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY, .commandBufferCount = 1};
    CHECK(vkAllocateCommandBuffers(device, &command_allocate, &commands), "vkAllocateCommandBuffers");
    VkCommandBufferBeginInfo begin = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                      .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
    CHECK(vkBeginCommandBuffer(commands, &begin), "vkBeginCommandBuffer");
    vkCmdBindPipeline(commands, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline);
    vkCmdBindDescriptorSets(commands, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline_layout, 0, 1, &set, 0, NULL);
    vkCmdDispatch(commands, (element_count + 63) / 64, 1, 1);
    CHECK(vkEndCommandBuffer(commands), "vkEndCommandBuffer");
    VkFenceCreateInfo fence_info = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    CHECK(vkCreateFence(device, &fence_info, NULL, &fence), "vkCreateFence");
    VkSubmitInfo submit = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1, .pCommandBuffers = &commands};
    CHECK(vkQueueSubmit(queue, 1, &submit, fence), "vkQueueSubmit");
    CHECK(vkWaitForFences(device, 1, &fence, VK_TRUE, 10ull * 1000 * 1000 * 1000), "vkWaitForFences");
    CHECK(vkMapMemory(device, memory, 0, size, 0, (void **)&mapped), "vkMapMemory");
    memcpy(result, mapped, size);
    vkUnmapMemory(device, memory);
done:
    if (device) {
        if (fence) vkDestroyFence(device, fence, NULL);
        if (command_pool) vkDestroyCommandPool(device, command_pool, NULL);
        if (descriptor_pool) vkDestroyDescriptorPool(device, descriptor_pool, NULL);
        if (pipeline) vkDestroyPipeline(device, pipeline, NULL);
        if (pipeline_layout) vkDestroyPipelineLayout(device, pipeline_layout, NULL);
        if (set_layout) vkDestroyDescriptorSetLayout(device, set_layout, NULL);
        if (shader) vkDestroyShaderModule(device, shader, NULL);
        if (buffer) vkDestroyBuffer(device, buffer, NULL);
        if (memory) vkFreeMemory(device, memory, NULL);
        vkDestroyDevice(device, NULL);
    }
    if (instance) vkDestroyInstance(instance, NULL);
    return result_code;
}
