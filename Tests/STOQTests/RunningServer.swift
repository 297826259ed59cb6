import Foundation
import HyperMeshTestSupport
import Logging
@testable import STOQ

/// A ``STOQServer`` on a thread of its own, serving a temporary directory on a kernel-chosen port.
final class RunningServer: @unchecked Sendable {
    let server: STOQServer
    let root: TemporaryDirectory
    private let finished = DispatchSemaphore(value: 0)

    init(tls: TLSConfiguration = TestPKI.shared.server, host: String = "127.0.0.1",
         configure: (inout STOQServer.Configuration) -> Void = { _ in }) throws {
        self.root = try TemporaryDirectory(prefix: "stoq-root")
        var configuration = STOQServer.Configuration(listenAddress: try SocketAddress(host: host, port: 0), tls: tls,
                                                     root: self.root.url)
        configure(&configuration)
        var logger = Logger(label: "stoq.test.server")
        logger.logLevel = .critical
        self.server = try STOQServer(configuration: configuration, logger: logger)
        let thread = Thread { [server, finished] in
            server.run()
            finished.signal()
        }
        thread.start()
    }

    var address: SocketAddress { self.server.localAddress }

    /// Writes a file of `count` pseudo-random bytes under the root; returns its bytes.
    @discardableResult
    func addFile(_ name: String, count: Int, seed: UInt64 = 1) throws -> [UInt8] {
        let bytes = Self.pseudoRandom(count: count, seed: seed)
        let url = self.root.url.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(bytes).write(to: url)
        return bytes
    }

    static func pseudoRandom(count: Int, seed: UInt64) -> [UInt8] {
        var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        var bytes = [UInt8](repeating: 0, count: count)
        for index in 0..<count {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            bytes[index] = UInt8(truncatingIfNeeded: state)
        }
        return bytes
    }

    func stop() {
        self.server.stop()
        self.finished.wait()
        self.root.remove()
    }

    /// A client connection with `tls` (the good client by default).
    func connect(tls: TLSConfiguration = TestPKI.shared.client, alpn: String = STOQDefaults.meshALPN,
                 configure: (inout STOQClient.Configuration) -> Void = { _ in }) throws -> STOQClientConnection {
        var configuration = STOQClient.Configuration(tls: tls)
        configuration.alpn = alpn
        configure(&configuration)
        var logger = Logger(label: "stoq.test.client")
        logger.logLevel = .critical
        return try STOQClient(configuration: configuration, logger: logger).connect(to: self.address,
                                                                                   timeout: .seconds(10))
    }
}
