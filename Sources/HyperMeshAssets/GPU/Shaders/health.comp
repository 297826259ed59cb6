#version 450
// HyperMesh's GPU health check: each invocation turns x into x * x + 7 (mod 2^32).
// The SPIR-V beside this file is generated from it: `make shaders`; a test recompiles and compares.
layout(local_size_x = 64) in;
layout(std430, binding = 0) buffer Data { uint values[]; };

void main() {
    uint index = gl_GlobalInvocationID.x;
    if (index < values.length()) {
        values[index] = values[index] * values[index] + 7u;
    }
}
