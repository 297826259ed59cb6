import Foundation

/// What sockets a process holds, from /proc: how tests check that a node uses one UDP port.
enum ProcessSockets {
    /// The local ports of the UDP sockets process `pid` holds (its fds' socket inodes, looked up in /proc/net/udp).
    static func udpPorts(of pid: Int32) throws -> [UInt16] {
        var inodes = Set<String>()
        for fd in try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd") {
            if let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\(fd)"), target.hasPrefix("socket:[") {
                inodes.insert(String(target.dropFirst("socket:[".count).dropLast()))
            }
        }
        var ports: [UInt16] = []
        for table in ["/proc/net/udp", "/proc/net/udp6"] {
            guard let text = try? String(contentsOfFile: table, encoding: .utf8) else { continue }
            for line in text.split(separator: "\n").dropFirst() {
                let fields = line.split(separator: " ", omittingEmptySubsequences: true)
                guard fields.count > 9, inodes.contains(String(fields[9])), let port = fields[1].split(separator: ":").last else { continue }
                ports.append(UInt16(port, radix: 16) ?? 0)
            }
        }
        return ports.sorted()
    }
}
