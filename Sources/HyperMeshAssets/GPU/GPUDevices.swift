import CVulkan
import Foundation
import HyperMeshCore

/// A Vulkan physical device, as the loader reports it.
public struct GPUDevice: Sendable, Hashable {
    public var index: Int
    public var name: String
    /// `discrete`, `integrated`, `virtual`, `cpu` or `other`.
    public var type: String
    public var vendorID: UInt32
    public var deviceID: UInt32
    /// `VkPhysicalDeviceIDProperties.deviceUUID`, formatted 8-4-4-4-12.
    public var uuid: String
    public var apiVersion: String
    public var driverVersion: UInt32
    public var driverName: String
    public var driverInfo: String
    /// Memory heaps: size in bytes and whether device-local.
    public var heaps: [(bytes: Int64, deviceLocal: Bool)]
    public var computeQueueFamilies: Int

    public static func == (lhs: GPUDevice, rhs: GPUDevice) -> Bool { lhs.uuid == rhs.uuid && lhs.index == rhs.index }
    public func hash(into hasher: inout Hasher) { hasher.combine(self.uuid) }

    /// The memory a claim can be given: the device-local heaps, or all heaps when none is (a CPU device).
    public var memoryBytes: Int64 {
        let local = self.heaps.filter(\.deviceLocal).map(\.bytes).reduce(0, +)
        return local > 0 ? local : self.heaps.map(\.bytes).reduce(0, +)
    }

    public var json: JSONValue {
        [
            "index": .integer(Int64(self.index)), "name": .string(self.name), "type": .string(self.type),
            "vendorID": .integer(Int64(self.vendorID)), "deviceID": .integer(Int64(self.deviceID)), "uuid": .string(self.uuid),
            "apiVersion": .string(self.apiVersion), "driverName": .string(self.driverName), "driverInfo": .string(self.driverInfo),
            "memoryBytes": .integer(self.memoryBytes), "computeQueueFamilies": .integer(Int64(self.computeQueueFamilies)),
            "heaps": .array(self.heaps.map { ["bytes": .integer($0.bytes), "deviceLocal": .bool($0.deviceLocal)] }),
        ]
    }

    /// Whether a pool's `devices` entry (an index or a UUID) names this device.
    public func matches(_ reference: String) -> Bool {
        reference == String(self.index) || reference.lowercased() == self.uuid
    }
}

/// Discovery and health of Vulkan devices through the loader. Never CUDA.
public enum GPUDevices {
    /// Every physical device the Vulkan loader offers; empty when there is no loader or ICD.
    ///
    /// - Throws: ``HyperMeshError`` `io` when the loader fails for another reason.
    public static func discover() throws -> [GPUDevice] {
        var devices = [hm_vk_device](repeating: hm_vk_device(), count: 16)
        var count: UInt32 = 0
        var message = [CChar](repeating: 0, count: 512)
        let status = hm_vk_enumerate(&devices, UInt32(devices.count), &count, &message, message.count)
        if status == -9 { return [] }  // VK_ERROR_INCOMPATIBLE_DRIVER: no Vulkan driver on this machine
        guard status == 0 else { throw HyperMeshError.io("Vulkan: \(Self.text(message))") }
        return (0..<Int(count)).map { Self.device(devices[$0], index: $0) }
    }

    /// The text of a NUL-terminated message buffer the C shim filled.
    static func text(_ buffer: [CChar]) -> String {
        String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func device(_ raw: hm_vk_device, index: Int) -> GPUDevice {
        var raw = raw
        let name = withUnsafeBytes(of: &raw.name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
        let driverName = withUnsafeBytes(of: &raw.driverName) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
        let driverInfo = withUnsafeBytes(of: &raw.driverInfo) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
        let uuidBytes = withUnsafeBytes(of: &raw.uuid) { Array($0) }
        let hex = uuidBytes.hexString
        let uuid = [0..<8, 8..<12, 12..<16, 16..<20, 20..<32].map { range in
            String(hex[hex.index(hex.startIndex, offsetBy: range.lowerBound)..<hex.index(hex.startIndex, offsetBy: range.upperBound)])
        }.joined(separator: "-")
        let sizes = withUnsafeBytes(of: &raw.heapBytes) { Array($0.bindMemory(to: UInt64.self)) }
        let local = withUnsafeBytes(of: &raw.heapDeviceLocal) { Array($0.bindMemory(to: UInt32.self)) }
        let heaps = (0..<Int(raw.heapCount)).map { (bytes: Int64(sizes[$0]), deviceLocal: local[$0] != 0) }
        let types = [0: "other", 1: "integrated", 2: "discrete", 3: "virtual", 4: "cpu"]
        let version = raw.apiVersion
        return GPUDevice(index: index, name: name, type: types[Int(raw.type)] ?? "other", vendorID: raw.vendorID, deviceID: raw.deviceID,
                         uuid: uuid, apiVersion: "\(version >> 22 & 0x7F).\(version >> 12 & 0x3FF).\(version & 0xFFF)",
                         driverVersion: raw.driverVersion, driverName: driverName, driverInfo: driverInfo, heaps: heaps,
                         computeQueueFamilies: Int(raw.computeQueueFamilies))
    }

    /// Dispatches the health-check compute shader on device `index` over 4,096 values and
    /// verifies every result (x → x·x + 7). Throws when the device cannot run it or computes wrong.
    public static func healthCheck(deviceIndex: Int, elementCount: Int = 4096) throws {
        precondition(elementCount > 0 && elementCount <= 1 << 24)
        var results = [UInt32](repeating: 0, count: elementCount)
        var message = [CChar](repeating: 0, count: 512)
        let status = HealthShader.spirv.withUnsafeBufferPointer { code in
            hm_vk_compute(UInt32(deviceIndex), code.baseAddress, code.count * 4, UInt32(elementCount), &results, &message, message.count)
        }
        guard status == 0 else { throw HyperMeshError.io("Vulkan compute on device \(deviceIndex): \(Self.text(message))") }
        for (index, value) in results.enumerated() where value != UInt32(index) &* UInt32(index) &+ 7 {
            throw HyperMeshError.corruptData("device \(deviceIndex) computed \(value) for \(index), expected \(UInt32(index) &* UInt32(index) &+ 7)")
        }
    }
}
