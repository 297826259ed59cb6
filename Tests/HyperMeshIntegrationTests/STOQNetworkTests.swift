import Foundation
import HyperMeshTestSupport
import Testing

/// Two network namespaces joined by a veth pair, made and removed by the test: the server in one, the client
/// in the other, with random packet loss (iptables `statistic`, as this kernel has no netem) or a tbf rate limit.
final class NamespacePair {
    let server: String
    let client: String
    let serverAddress = "10.77.0.1"

    static let ip = URL(fileURLWithPath: "/usr/sbin/ip")

    /// `nil`, with the reason printed, where namespaces cannot be made (not root, no `ip`).
    static func make() throws -> NamespacePair? {
        guard getuid() == 0 else {
            print("skipped: network namespace tests need root")
            return nil
        }
        guard FileManager.default.isExecutableFile(atPath: Self.ip.path) else {
            print("skipped: no /usr/sbin/ip")
            return nil
        }
        let pair = NamespacePair(suffix: "\(getpid() % 100_000)")
        do {
            try pair.setUp()
        } catch {
            pair.tearDown()
            print("skipped: cannot make network namespaces: \(error)")
            return nil
        }
        return pair
    }

    private init(suffix: String) {
        self.server = "hmq\(suffix)s"
        self.client = "hmq\(suffix)c"
    }

    @discardableResult
    func run(_ arguments: [String], in namespace: String? = nil) throws -> ProcessResult {
        let full = namespace.map { ["netns", "exec", $0] + arguments } ?? Array(arguments.dropFirst())
        let executable = namespace == nil ? URL(fileURLWithPath: "/usr/sbin/" + arguments[0]) : Self.ip
        let result = try ProcessRunner.run(executable, full)
        guard result.status == 0 else {
            throw CocoaError(.executableLoad, userInfo: [NSLocalizedDescriptionKey: "\(arguments.joined(separator: " ")): \(result.standardError)"])
        }
        return result
    }

    private func setUp() throws {
        try self.run(["ip", "netns", "add", self.server])
        try self.run(["ip", "netns", "add", self.client])
        try self.run(["ip", "link", "add", "v" + self.server, "netns", self.server, "type", "veth", "peer", "name",
                      "v" + self.client, "netns", self.client])
        for (namespace, address) in [(self.server, self.serverAddress), (self.client, "10.77.0.2")] {
            try self.run(["ip", "addr", "add", address + "/24", "dev", "v" + namespace], in: namespace)
            try self.run(["ip", "link", "set", "v" + namespace, "up"], in: namespace)
            try self.run(["ip", "link", "set", "lo", "up"], in: namespace)
            // One datagram per packet on the wire: with UDP GSO a whole burst would otherwise cross the veth as
            // one packet, and "5 % of packets" would mean 5 % of bursts.
            try self.run(["ip", "link", "set", "v" + namespace, "gso_max_segs", "1"], in: namespace)
        }
    }

    /// Drops each packet arriving in either namespace with `probability`.
    func dropPackets(probability: Double) throws {
        for namespace in [self.server, self.client] {
            try self.run(["iptables", "-A", "INPUT", "-i", "v" + namespace, "-m", "statistic", "--mode", "random",
                          "--probability", String(probability), "-j", "DROP"], in: namespace)
        }
    }

    /// Packets the drop rules have dropped so far, in both namespaces.
    func droppedPackets() throws -> Int {
        try [self.server, self.client].reduce(0) { total, namespace in
            let listing = try self.run(["iptables", "-L", "INPUT", "-v", "-n", "-x"], in: namespace).standardOutput
            let drops = listing.split(separator: "\n").filter { $0.contains("DROP") }
            return total + drops.compactMap { Int($0.split(separator: " ").first ?? "") }.reduce(0, +)
        }
    }

    func clearDropRules() throws {
        for namespace in [self.server, self.client] { try self.run(["iptables", "-F", "INPUT"], in: namespace) }
    }

    /// Limits what the server sends to `rate` with a token bucket.
    func limitServerRate(_ rate: String) throws {
        try self.run(["tc", "qdisc", "add", "dev", "v" + self.server, "root", "tbf", "rate", rate, "burst", "64kb",
                      "latency", "50ms"], in: self.server)
    }

    func tearDown() {
        _ = try? ProcessRunner.run(Self.ip, ["netns", "del", self.server])
        _ = try? ProcessRunner.run(Self.ip, ["netns", "del", self.client])
    }
}

@Suite(.serialized)
struct STOQNetworkTests {
    /// `stoq get` of `file` from the server at `address`, run in the client namespace; its result and how long it took.
    static func fetch(_ file: String, from address: String, into output: String, timeout: String, pair: NamespacePair,
                      mesh: STOQCommandTests.Mesh) throws -> (ProcessResult, TimeInterval) {
        let start = Date()
        let result = try ProcessRunner.run(NamespacePair.ip, ["netns", "exec", pair.client, PackageLayout.binary.path, "stoq", "get",
                                                              "stoq://\(address)/\(file)", "-o", output, "--timeout", timeout]
                                           + mesh.tls("client"))
        return (result, Date().timeIntervalSince(start))
    }

    @Test func transfersSurviveFivePercentLossAndARateLimit() throws {
        guard let pair = try NamespacePair.make() else { return }
        defer { pair.tearDown() }
        let mesh = try STOQCommandTests.Mesh()
        defer { mesh.directory.remove() }
        let file = try mesh.writeFile("big.bin", megabytes: 64)
        let (server, address) = try mesh.serve(listen: pair.serverAddress + ":0", namespace: pair.server)
        defer { server.stop() }
        func fetch(_ name: String) throws -> (ProcessResult, TimeInterval) {
            try Self.fetch("big.bin", from: address, into: mesh.directory.path + "/" + name, timeout: "3m", pair: pair, mesh: mesh)
        }

        try pair.dropPackets(probability: 0.05)
        let (lossy, lossySeconds) = try fetch("lossy.out")
        #expect(lossy.status == 0, "\(lossy.standardError)")
        #expect(try mesh.same(file, mesh.directory.path + "/lossy.out"))
        let dropped = try pair.droppedPackets()
        #expect(dropped > 100, "the loss rules dropped only \(dropped) packets")
        print("64 MiB with 5 % loss each way: \(String(format: "%.2f", lossySeconds)) s, \(dropped) packets dropped")

        try pair.clearDropRules()
        try pair.limitServerRate("100mbit")
        let (limited, limitedSeconds) = try fetch("limited.out")
        #expect(limited.status == 0, "\(limited.standardError)")
        #expect(try mesh.same(file, mesh.directory.path + "/limited.out"))
        // 64 MiB at 100 Mbit/s takes at least 5.4 s; faster would mean the limit was not in the path.
        #expect(limitedSeconds > 5.0)
        print("64 MiB under tbf 100 Mbit/s: \(String(format: "%.2f", limitedSeconds)) s")
    }

    /// 256 MiB across a veth pair with 1 % of packets dropped each way arrives byte-identical; the time beside the
    /// lossless transfer on the same path, in the same run, is printed (a figure, not a bound).
    @Test func aQuarterGigabyteUnderOnePercentLossIsByteIdentical() throws {
        guard let pair = try NamespacePair.make() else { return }
        defer { pair.tearDown() }
        let mesh = try STOQCommandTests.Mesh()
        defer { mesh.directory.remove() }
        let file = try mesh.writeFile("quarter.bin", megabytes: 256)
        let (server, address) = try mesh.serve(listen: pair.serverAddress + ":0", namespace: pair.server)
        defer { server.stop() }
        func fetch(_ name: String) throws -> (ProcessResult, TimeInterval) {
            try Self.fetch("quarter.bin", from: address, into: mesh.directory.path + "/" + name, timeout: "5m", pair: pair, mesh: mesh)
        }
        let (clean, cleanSeconds) = try fetch("clean.out")
        #expect(clean.status == 0, "\(clean.standardError)")
        try pair.dropPackets(probability: 0.01)
        let (lossy, lossySeconds) = try fetch("lossy.out")
        #expect(lossy.status == 0, "\(lossy.standardError)")
        #expect(try mesh.same(file, mesh.directory.path + "/lossy.out"), "the bytes differ after 1 % loss")
        let dropped = try pair.droppedPackets()
        #expect(dropped > 100, "the loss rules dropped only \(dropped) packets")
        print(String(format: "256 MiB over veth: lossless %.2f s, 1 %% loss each way %.2f s (%d packets dropped): %.2f of the lossless rate",
                     cleanSeconds, lossySeconds, dropped, cleanSeconds / lossySeconds))
    }
}
