import Foundation
import HyperMeshCore

/// GPU (Vulkan): devices from the loader; a claim gets devices and a memory budget that is
/// accounted (Vulkan has no kernel-enforced per-process limit); health is a compute dispatch.
public struct GPUAdapter: AssetAdapter {
    public init() {}

    public var kind: AssetKind { .gpu }
    public var capabilities: AssetCapabilities {
        AssetCapabilities(enforced: false, mechanism: "Vulkan device assignment and memory budget", reason: "accounted by the agent")
    }

    public func discover() throws -> JSONValue { .array(try GPUDevices.discover().map(\.json)) }

    public func allocate(_ request: AssetRequest) throws -> AssetGrant {
        let devices = try GPUDevices.discover()
        let missing = request.devices.filter { reference in !devices.contains { $0.matches(reference) } }
        guard missing.isEmpty else { throw HyperMeshError.notFound("GPU \(missing.joined(separator: ", ")) not found in Vulkan") }
        return AssetGrant(kind: .gpu, details: ["gpuDevices": .array(request.devices.map(JSONValue.string))])
    }

    public func release(_ request: AssetRequest) throws {}

    public func usage(_ request: AssetRequest) throws -> JSONValue { ["budget": .string(request.amount.description)] }

    public func health() -> String? {
        do {
            let devices = try GPUDevices.discover()
            for device in devices { try GPUDevices.healthCheck(deviceIndex: device.index) }
            return nil
        } catch let error as HyperMeshError {
            return error.message
        } catch {
            return "\(error)"
        }
    }
}
