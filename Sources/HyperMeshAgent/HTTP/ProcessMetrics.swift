import Foundation
import Prometheus

/// The standard `process_*` metrics, read from `/proc/self` at scrape time.
struct ProcessMetrics {
    private let residentMemory: Gauge
    private let virtualMemory: Gauge
    private let cpuSeconds: Gauge
    private let openDescriptors: Gauge
    private let startTime: Gauge
    private let pageSize = Double(sysconf(Int32(_SC_PAGESIZE)))
    private let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))
    private let started = Date().timeIntervalSince1970

    init(registry: PrometheusCollectorRegistry) {
        self.residentMemory = Self.gauge(registry, "process_resident_memory", unit: "bytes", help: "Resident memory size in bytes.")
        self.virtualMemory = Self.gauge(registry, "process_virtual_memory", unit: "bytes", help: "Virtual memory size in bytes.")
        self.cpuSeconds = Self.gauge(registry, "process_cpu_seconds", unit: "total", help: "User and system CPU time in seconds.")
        self.openDescriptors = Self.gauge(registry, "process_open", unit: "fds", help: "Open file descriptors.")
        self.startTime = Self.gauge(registry, "process_start_time", unit: "seconds", help: "Start time since the epoch in seconds.")
    }

    /// A gauge named `NAME_UNIT`, through the descriptor API (the name-and-help form is deprecated).
    private static func gauge(_ registry: PrometheusCollectorRegistry, _ name: String, unit: String, help: String) -> Gauge {
        registry.makeGauge(descriptor: MetricNameDescriptor(metricName: name, unitName: unit, helpText: help))
    }

    func update() {
        if let statm = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) {
            let fields = statm.split(separator: " ").compactMap { Double($0) }
            if fields.count >= 2 {
                self.virtualMemory.set(fields[0] * self.pageSize)
                self.residentMemory.set(fields[1] * self.pageSize)
            }
        }
        if let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
           let close = stat.lastIndex(of: ")") {
            // Fields after the command name: state is field 3; utime and stime are fields 14 and 15.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) {
                self.cpuSeconds.set((user + system) / self.ticksPerSecond)
            }
        }
        let descriptors = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? 0
        self.openDescriptors.set(Double(descriptors))
        self.startTime.set(self.started)
    }
}
