import Foundation
import HyperMeshAssets
import HyperMeshCore
import HyperMeshTestSupport
import Testing

/// Vulkan through the loader: lavapipe here, a real GPU where a machine has one.
struct GPUTests {
    static func vulkaninfoSummary() throws -> String? {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/vulkaninfo") else { return nil }
        return try ProcessRunner.run(URL(fileURLWithPath: "/usr/bin/vulkaninfo"), ["--summary"]).standardOutput
    }

    @Test func discoveryMatchesVulkaninfo() throws {
        let devices = try GPUDevices.discover()
        guard let summary = try Self.vulkaninfoSummary() else {
            print("skipped: vulkaninfo is not installed")
            return
        }
        let names = summary.split(separator: "\n").filter { $0.contains("deviceName") }.map {
            $0.split(separator: "=", maxSplits: 1)[1].trimmingCharacters(in: .whitespaces)
        }
        let uuids = summary.split(separator: "\n").filter { $0.contains("deviceUUID") }.map {
            $0.split(separator: "=", maxSplits: 1)[1].trimmingCharacters(in: .whitespaces)
        }
        #expect(devices.map(\.name) == names)
        #expect(devices.map(\.uuid) == uuids)
        for device in devices {
            #expect(device.computeQueueFamilies >= 1)
            #expect(device.memoryBytes > 0)
            #expect(device.matches(String(device.index)) && device.matches(device.uuid.uppercased()))
        }
        if summary.contains("PHYSICAL_DEVICE_TYPE_CPU") { #expect(devices.contains { $0.type == "cpu" }) }
    }

    @Test func computeHealthCheckPassesOnEveryDevice() throws {
        let devices = try GPUDevices.discover()
        if devices.isEmpty { print("skipped: no Vulkan device (install mesa-vulkan-drivers for lavapipe)") }
        for device in devices { try GPUDevices.healthCheck(deviceIndex: device.index) }
        #expect(throws: HyperMeshError.io()) { try GPUDevices.healthCheck(deviceIndex: 99) }
    }

    @Test func committedSPIRVIsTheCompiledGLSL() throws {
        let shaders = PackageLayout.root.appendingPathComponent("Sources/HyperMeshAssets/GPU/Shaders")
        let output = try TemporaryDirectory(prefix: "spirv")
        defer { output.remove() }
        let compile = try ProcessRunner.run(URL(fileURLWithPath: "/usr/bin/glslangValidator"), [
            "-V", "--target-env", "vulkan1.0", "-o", output.path + "/health.comp.spv", shaders.path + "/health.comp",
        ])
        try #require(compile.status == 0, "\(compile.standardOutput)")
        let fresh = try Data(contentsOf: URL(fileURLWithPath: output.path + "/health.comp.spv"))
        let committed = try Data(contentsOf: shaders.appendingPathComponent("health.comp.spv"))
        #expect(fresh == committed, "run `make shaders` and commit")
        let embedded = try String(contentsOf: PackageLayout.root.appendingPathComponent("Sources/HyperMeshAssets/GPU/HealthShader.swift"),
                                  encoding: .utf8)
        let words = fresh.withUnsafeBytes { Array($0.bindMemory(to: UInt32.self)) }
        #expect(words.allSatisfy { embedded.contains(String(format: "0x%08x", $0)) })
        #expect(embedded.components(separatedBy: "0x").count - 1 == words.count)
    }
}
