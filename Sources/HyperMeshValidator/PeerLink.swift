import Foundation
import Logging
import STOQ
import Synchronization

/// The sending half of the connection to one other validator: a thread of its own, a bounded queue of
/// encoded messages, one STOQ connection (mutual TLS, the peer's node id checked) re-made when it fails.
///
/// Messages that cannot be sent are dropped, never retried here: the protocol tolerates loss (a
/// validator that missed something catches up through new-view messages), and a queue that waits for a
/// dead peer would only grow.
final class PeerLink: @unchecked Sendable {
    let peer: ValidatorSet.Member
    private let client: STOQClient
    private let address: SocketAddress
    private let logger: Logger
    private let queue = Mutex<[[UInt8]]>([])
    private let signal = DispatchSemaphore(value: 0)
    private let stopped = Atomic<Bool>(false)
    private let finished = DispatchSemaphore(value: 0)
    /// Messages dropped because the queue was full or the peer unreachable.
    let dropped = Atomic<Int>(0)
    let sent = Atomic<Int>(0)
    /// The server whose socket the connection leaves from (the agent's, hosting this validator); `nil`: its own.
    private let dialFrom = Mutex<STOQServer?>(nil)
    static let queueLimit = 8192
    static let batchLimit = 64

    init(peer: ValidatorSet.Member, tls: TLSConfiguration, logger: Logger) throws {
        self.peer = peer
        self.address = try SocketAddress(parsing: peer.address)
        var configuration = STOQClient.Configuration(tls: tls)
        configuration.expectedPeerNodeID = peer.nodeID
        var quiet = logger
        quiet.logLevel = .critical
        self.client = try STOQClient(configuration: configuration, logger: quiet)
        self.logger = logger
    }

    /// Dial from `server`'s socket from the next connection on (before ``start()``: from the first).
    func dial(from server: STOQServer) {
        self.dialFrom.withLock { $0 = server }
    }

    func start() {
        Thread { [self] in
            self.run()
            self.finished.signal()
        }.start()
    }

    func send(_ message: [UInt8]) {
        let overflow = self.queue.withLock { queue -> Bool in
            queue.append(message)
            guard queue.count > Self.queueLimit else { return false }
            queue.removeFirst(queue.count - Self.queueLimit)
            return true
        }
        if overflow { self.dropped.add(1, ordering: .relaxed) }
        self.signal.signal()
    }

    func stop() {
        self.stopped.store(true, ordering: .sequentiallyConsistent)
        self.signal.signal()
        self.finished.wait()
    }

    private func run() {
        var connection: STOQClientConnection?
        var failures = 0
        while !self.stopped.load(ordering: .sequentiallyConsistent) {
            _ = self.signal.wait(timeout: .now() + .milliseconds(200))
            while !self.stopped.load(ordering: .sequentiallyConsistent) {
                let batch = self.queue.withLock { queue -> [[UInt8]] in
                    let taken = Array(queue.prefix(Self.batchLimit))
                    queue.removeFirst(taken.count)
                    return taken
                }
                guard !batch.isEmpty else { break }
                do {
                    if connection == nil {
                        connection = try self.client.connect(to: self.address, preferringSocketOf: self.dialFrom.withLock { $0 },
                                                             timeout: .seconds(2))
                    }
                    let responses = try connection!.perform(batch.map { STOQRequest(.message($0)) }, timeout: .seconds(10))
                    if let error = responses.compactMap(\.error).first {
                        self.logger.warning("Validator refused a message", metadata: ["peer": "\(self.peer.address)",
                                                                                      "reason": "\(error.message)"])
                    }
                    self.sent.add(batch.count, ordering: .relaxed)
                    if failures > 0 {
                        self.logger.info("Validator reachable again", metadata: ["peer": "\(self.peer.address)"])
                    }
                    failures = 0
                } catch {
                    connection?.close()
                    connection = nil
                    self.dropped.add(batch.count, ordering: .relaxed)
                    failures += 1
                    if failures == 1 {
                        self.logger.warning("Validator unreachable; dropping its messages until it answers",
                                            metadata: ["peer": "\(self.peer.address)", "reason": "\(error)"])
                    }
                    // Back off (up to 2 s), dropping what queued meanwhile: it is stale by then.
                    Thread.sleep(forTimeInterval: min(2.0, 0.05 * Double(1 << min(failures, 6))))
                    let stale = self.queue.withLock { queue in
                        defer { queue.removeAll() }
                        return queue.count
                    }
                    self.dropped.add(stale, ordering: .relaxed)
                }
            }
        }
        connection?.close()
    }
}
