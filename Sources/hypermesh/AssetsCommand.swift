import ArgumentParser
import Foundation
import HyperMeshAssets
import HyperMeshCommands
import HyperMeshCore

struct AssetsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "assets",
        abstract: "What this machine has: CPU, memory, storage and the cgroup interface used for enforcement.",
        discussion: """
            Examples:
              hypermesh assets
              hypermesh assets --path /srv/pools -o json | jq .memory.totalBytes
            """
    )

    @OptionGroup var global: GlobalOptions
    @Option(help: ArgumentHelp("A filesystem path to report storage for (repeatable; default: the state directory).",
                               valueName: "PATH"))
    var path: [String] = []
    @Option(name: .shortAndLong, help: "Output format: table or json.") var output: OutputFormat = .table

    func run() throws {
        let paths = self.path.isEmpty ? [self.global.stateDirectory.path] : self.path
        let inventory = try HostInventory.discover(storagePaths: paths)
        if self.output == .json {
            Output.line(inventory.json.prettyJSON())
            return
        }
        var table = TextTable(headers: ["ASSET", "TOTAL", "AVAILABLE", "DETAIL"])
        table.append(["cpu", "\(inventory.cpu.onlineCPUs.count)", inventory.cpu.usableCores.description,
                      inventory.cpu.model ?? "-"])
        table.append(["memory", Self.bytes(inventory.memory.totalBytes), Self.bytes(inventory.memory.availableBytes), "/proc/meminfo"])
        for storage in inventory.storage {
            table.append(["storage", Self.bytes(storage.totalBytes), Self.bytes(storage.availableBytes), storage.path])
        }
        for gpu in inventory.gpus {
            table.append(["gpu \(gpu.index)", Self.bytes(gpu.memoryBytes), gpu.type, "\(gpu.name) (\(gpu.uuid))"])
        }
        if let problem = inventory.gpuProblem { table.append(["gpu", "-", "-", problem]) }
        table.append(["cgroups", inventory.cgroups.name, "-", Self.describe(inventory.cgroups)])
        Output.print(table.rendered)
    }

    /// Bytes rounded down to a readable binary unit (the JSON output has them exactly).
    static func bytes(_ value: Int64) -> String {
        let units = ["B", "Ki", "Mi", "Gi", "Ti", "Pi"]
        var scaled = Double(value)
        var unit = 0
        while scaled >= 1024, unit < units.count - 1 {
            scaled /= 1024
            unit += 1
        }
        return unit == 0 ? "\(value)B" : String(format: "%.1f%@", scaled, units[unit])
    }

    static func describe(_ hierarchy: CgroupHierarchy) -> String {
        switch hierarchy {
        case .v2(let root): return root
        case .v1(let mounts): return mounts.keys.sorted().joined(separator: ",")
        case .unavailable(let reason): return reason
        }
    }
}
