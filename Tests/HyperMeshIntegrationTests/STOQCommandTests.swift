import Foundation
import HyperMeshCore
import HyperMeshTestSupport
import Testing

/// `hypermesh stoq …` end to end: the built binary as server and client, aioquic as an independent peer,
/// and transfers through network namespaces with packet loss and a rate limit.
@Suite(.serialized)
struct STOQCommandTests {
    /// A CA with server and client certificates, and a certificate from another CA.
    struct Mesh {
        let directory: TemporaryDirectory
        var state: String { self.directory.path + "/state" }
        var root: String { self.directory.path + "/root" }
        var ca: String { self.state + "/ca/root.pem" }

        init() throws {
            self.directory = try TemporaryDirectory(prefix: "hypermesh-stoq")
            try FileManager.default.createDirectory(atPath: self.directory.path + "/root", withIntermediateDirectories: true)
            let steps: [[String]] = [
                ["ca", "init", "--name", "stoq"],
                ["ca", "issue", "--cn", "server", "--dns", "localhost", "--ip", "127.0.0.1", "--ip", "10.77.0.1",
                 "--node-identity", "--out", self.directory.path + "/server"],
                ["ca", "issue", "--cn", "client", "--out", self.directory.path + "/client"],
            ]
            for step in steps {
                let result = try ProcessRunner.hypermesh(step, stateDirectory: self.directory.path + "/state")
                guard result.status == 0 else { throw CocoaError(.fileWriteUnknown, userInfo: ["step": "\(step): \(result.standardError)"]) }
            }
            let other = try ProcessRunner.hypermesh(["ca", "init", "--name", "other"], stateDirectory: self.directory.path + "/other")
            let foreign = try ProcessRunner.hypermesh(["ca", "issue", "--cn", "foreign", "--out", self.directory.path + "/foreign"],
                                                      stateDirectory: self.directory.path + "/other")
            guard other.status == 0 && foreign.status == 0 else { throw CocoaError(.fileWriteUnknown) }
        }

        func tls(_ who: String, ca: String? = nil) -> [String] {
            ["--cert", "\(self.directory.path)/\(who)/chain.pem", "--key", "\(self.directory.path)/\(who)/key.pem",
             "--ca", ca ?? self.ca]
        }

        func writeFile(_ name: String, megabytes: Int, extra: Int = 0) throws -> String {
            let path = self.root + "/" + name
            let result = try ProcessRunner.run(URL(fileURLWithPath: "/bin/sh"), ["-c",
                "head -c \(megabytes * 1_048_576 + extra) /dev/urandom > '\(path)'"])
            #expect(result.status == 0)
            return path
        }

        /// Starts `hypermesh stoq serve` (optionally inside a network namespace) and waits for its address.
        func serve(listen: String = "127.0.0.1:0", namespace: String? = nil, extra: [String] = []) throws -> (BackgroundProcess, String) {
            let arguments = ["stoq", "serve", "--listen", listen, "--root", self.root] + self.tls("server") + extra
            let server: BackgroundProcess
            if let namespace {
                server = try BackgroundProcess(URL(fileURLWithPath: "/usr/sbin/ip"),
                                               ["netns", "exec", namespace, PackageLayout.binary.path] + arguments)
            } else {
                server = try BackgroundProcess(PackageLayout.binary, arguments)
            }
            let line = server.readLine() ?? ""
            #expect(line.hasPrefix("listening on "), "\(line) \(server.standardError)")
            return (server, String(line.dropFirst("listening on ".count)))
        }

        func same(_ first: String, _ second: String) throws -> Bool {
            try ProcessRunner.run(URL(fileURLWithPath: "/usr/bin/cmp"), ["-s", first, second]).status == 0
        }
    }

    static let aioquicClient = PackageLayout.root.appendingPathComponent("Tests/Peers/aioquic_hq_get.py").path

    static func aioquic(_ address: String, _ arguments: [String]) throws -> ProcessResult {
        let port = String(address.split(separator: ":").last!)
        // The python3 on PATH: the one Packaging/install-deps.sh installed aioquic for.
        return try ProcessRunner.run(URL(fileURLWithPath: "/usr/bin/env"),
                                     ["python3", Self.aioquicClient, "127.0.0.1", port] + arguments)
    }

    @Test func aioquicFetchesByteIdenticalFilesAndIsRefusedWithoutAGoodCertificate() throws {
        let mesh = try Mesh()
        defer { mesh.directory.remove() }
        let big = try mesh.writeFile("big.bin", megabytes: 5, extra: 17)
        _ = try mesh.writeFile("empty", megabytes: 0)
        let (server, address) = try mesh.serve()
        let out = mesh.directory.path
        let fetched = try Self.aioquic(address, ["--ca", mesh.ca, "--cert", out + "/client/chain.pem", "--key", out + "/client/key.pem",
                                                 "/big.bin=\(out)/big.out", "/empty=\(out)/empty.out", "/missing=\(out)/missing.out"])
        #expect(fetched.status == 3, "\(fetched.standardError)")  // 3: one stream (the missing file) was reset
        #expect(fetched.standardError.contains("/missing: stream reset"))
        #expect(try mesh.same(big, out + "/big.out"))
        #expect(try mesh.same(mesh.root + "/empty", out + "/empty.out"))

        let anonymous = try Self.aioquic(address, ["--ca", mesh.ca, "/big.bin=\(out)/anon.out"])
        #expect(anonymous.status == 2 && anonymous.standardError.contains("0x174"), "\(anonymous.standardError)")
        let foreign = try Self.aioquic(address, ["--ca", mesh.ca, "--cert", out + "/foreign/chain.pem",
                                                 "--key", out + "/foreign/key.pem", "/big.bin=\(out)/foreign.out"])
        #expect(foreign.status == 2 && foreign.standardError.contains("0x12a"), "\(foreign.standardError)")
        #expect(!FileManager.default.fileExists(atPath: out + "/anon.out"))
        #expect(server.stop() == 0)
        #expect(server.standardError.contains("Certificate is required"))
        #expect(server.standardError.contains("The certificate issuer is unknown"))
    }

    @Test func getPutAndErrorsFromTheCommandLine() throws {
        let mesh = try Mesh()
        defer { mesh.directory.remove() }
        let file = try mesh.writeFile("a.bin", megabytes: 2)
        let (server, address) = try mesh.serve()
        let hm = { (arguments: [String]) throws -> ProcessResult in
            try ProcessRunner.hypermesh(arguments, stateDirectory: mesh.state)
        }
        let out = mesh.directory.path + "/a.out"
        let got = try hm(["stoq", "get", "stoq://\(address)/a.bin", "-o", out] + mesh.tls("client"))
        #expect(got.status == 0, "\(got.standardError)")
        #expect(got.standardOutput.contains("2097152 bytes in") && got.standardOutput.contains("Gbit/s"))
        #expect(try mesh.same(file, out))
        let interop = try hm(["stoq", "get", "stoq://\(address)/a.bin", "-o", out + "2", "--alpn", "hq-interop"] + mesh.tls("client"))
        #expect(try interop.status == 0 && mesh.same(file, out + "2"))

        // Special files are written to, never replaced; `-o -` writes to stdout.
        let discarded = try hm(["stoq", "get", "stoq://\(address)/a.bin", "-o", "/dev/null"] + mesh.tls("client"))
        #expect(discarded.status == 0, "\(discarded.standardError)")
        var status = stat()
        #expect(stat("/dev/null", &status) == 0 && status.st_mode & S_IFMT == S_IFCHR)
        #expect(!FileManager.default.fileExists(atPath: "/dev/null.part"))
        let piped = try hm(["stoq", "get", "stoq://\(address)/a.bin", "-o", "-"] + mesh.tls("client"))
        #expect(piped.status == 0 && !piped.standardOutput.isEmpty && piped.standardError.contains("2097152 bytes in"))

        let put = try hm(["stoq", "put", "stoq://\(address)", file] + mesh.tls("client"))
        #expect(put.status == 0, "\(put.standardError)")
        let id = put.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(id.count == 64)
        #expect(FileManager.default.fileExists(atPath: "\(mesh.root)/.blobs/\(id.prefix(2))/\(id)"))
        let blob = try hm(["stoq", "get", "stoq://\(address)/\(id)", "--blob", "-o", out + "3"] + mesh.tls("client"))
        #expect(try blob.status == 0 && mesh.same(file, out + "3"))

        for (arguments, message) in [
            (["stoq", "get", "stoq://\(address)/nope", "-o", out] + mesh.tls("client"), "nope: no such file"),
            (["stoq", "get", "http://\(address)/a.bin", "-o", out] + mesh.tls("client"), "expected stoq://HOST:PORT/PATH"),
            (["stoq", "get", "stoq://example.org:1/a", "-o", out] + mesh.tls("client"), "not an IPv4 or IPv6 address"),
            (["stoq", "get", "stoq://\(address)/abc", "--blob", "-o", out] + mesh.tls("client"), "64 hex digits"),
            (["stoq", "get", "stoq://\(address)/a.bin", "-o", out] + mesh.tls("foreign"), "refused the handshake"),
            (["stoq", "get", "stoq://\(address)/a.bin", "-o", out, "--cert", "/nope.pem", "--key", "/nope", "--ca", mesh.ca],
             "/nope.pem: no such readable file"),
            (["stoq", "serve", "--root", "/nonexistent"] + mesh.tls("server"), "not a directory"),
            (["stoq", "serve", "--root", mesh.root, "--listen", "127.0.0.1:99999"] + mesh.tls("server"), "--listen"),
        ] {
            let result = try hm(arguments)
            #expect(result.status == 1, "\(arguments)")
            #expect(result.standardError.contains(message), "\(arguments): \(result.standardError)")
        }
        #expect(try mesh.same(file, out))  // a failed get leaves an existing output alone
        #expect(server.stop() == 0)
    }

    @Test func benchMeasuresBothEndsInSeparateProcesses() throws {
        let result = try ProcessRunner.run(PackageLayout.binary, ["stoq", "bench", "--size", "8Mi", "--rounds", "3", "--no-baseline",
                                                                  "-o", "json"])
        #expect(result.status == 0, "\(result.standardError)")
        let report = try #require(try? JSONValue(parsingJSON: result.standardOutput))
        #expect(report["bytesPerRun"]?.integerValue == 8_388_608 && report["rounds"]?.integerValue == 3)
        let runs = report.value(atPath: "stoqMbitPerSecond.runs")?.arrayValue ?? []
        #expect(runs.count == 3 && runs.allSatisfy { ($0.integerValue ?? 0) > 0 }, "\(result.standardOutput)")
        #expect(report["loadAverageBefore"]?.stringValue != nil && report["tcpMbitPerSecond"] == nil)
        // Dialling from a server's own socket, as agents do.
        let shared = try ProcessRunner.run(PackageLayout.binary, ["stoq", "bench", "--size", "8Mi", "--rounds", "2", "--no-baseline",
                                                                  "--shared-socket", "-o", "json"])
        #expect(shared.status == 0, "\(shared.standardError)")
        let sharedReport = try? JSONValue(parsingJSON: shared.standardOutput)
        #expect(sharedReport?["sharedSocket"] == .bool(true) && sharedReport?["bytesPerRun"]?.integerValue == 8_388_608)
    }

    /// STOQ and iperf3 interleaved, round by round, with the medians, the spread and the ratio.
    @Test func benchInterleavesTheTCPBaselineAndReportsMediansAndSpread() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/iperf3") else {
            print("skipped: no /usr/bin/iperf3")
            return
        }
        let result = try ProcessRunner.run(PackageLayout.binary, ["stoq", "bench", "--size", "8Mi", "--rounds", "2", "--connections", "2"])
        #expect(result.status == 0, "\(result.standardError)")
        let lines = result.standardOutput.split(separator: "\n")
        #expect(lines.filter { $0.hasPrefix("round ") && $0.contains("STOQ") && $0.contains("TCP") && $0.contains("ratio") }.count == 2,
                "\(result.standardOutput)")
        #expect(lines.contains { $0.hasPrefix("STOQ: median") && $0.contains("spread") })
        #expect(lines.contains { $0.hasPrefix("TCP:  median") })
        #expect(lines.contains { $0.hasPrefix("ratio of medians STOQ / TCP") })
        #expect(lines.contains { $0.hasPrefix("load average before") })
        let refused = try ProcessRunner.run(PackageLayout.binary, ["stoq", "bench", "--rounds", "0"])
        #expect(refused.status != 0 && refused.standardError.contains("--rounds must be 1 to 100"))
    }
}
