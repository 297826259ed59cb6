import CSystemd
import Foundation
import HyperMeshCore

/// The CLI's side of the local API: finds `STATE/agent.sock` and talks to the agent behind it.
public struct AgentClient: Sendable {
    public let socketPath: String

    /// A client when the socket exists in `stateDirectory`; `nil` when no agent has one there.
    public init?(stateDirectory: URL) {
        let path = stateDirectory.appendingPathComponent(LocalAPIMessage.socketName).path
        var status = stat()
        guard stat(path, &status) == 0, status.st_mode & S_IFMT == S_IFSOCK else { return nil }
        self.socketPath = path
    }

    /// Sends one request and returns the reply's members.
    ///
    /// - Throws: ``HyperMeshError`` `io` when the agent cannot be reached (refused, gone, permission),
    ///   `conflict` with the agent's message when it answers with an error.
    public func send(_ request: LocalAPIMessage.Request, timeout: Duration = .seconds(10)) throws -> [String: JSONValue] {
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw HyperMeshError.io("socket: \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        guard let address = UnixSocketAddress(path: self.socketPath) else {
            throw HyperMeshError.io("cannot reach the agent at \(self.socketPath): the path is too long for a unix socket")
        }
        guard address.withSockaddr({ connect(descriptor, $0, $1) }) == 0 else {
            throw HyperMeshError.io("cannot reach the agent at \(self.socketPath): \(String(cString: strerror(errno)))")
        }
        let line = Array((request.json.canonicalJSON + "\n").utf8)
        // MSG_NOSIGNAL: an agent that refuses us closes the socket, and SIGPIPE must not kill the CLI. Its
        // refusal may already be waiting to be read, so a failed write is only an error if no reply comes.
        let sent = line.withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        let writeError = sent == line.count ? nil : String(cString: strerror(errno))
        let deadline = ContinuousClock.now + timeout
        var reply: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while !reply.contains(UInt8(ascii: "\n")) {
            let left = deadline - ContinuousClock.now
            guard left > .zero else { throw HyperMeshError.io("the agent did not answer within \(timeout)") }
            var descriptorPoll = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            _ = poll(&descriptorPoll, 1, Int32(min(1000, max(1, left.components.seconds * 1000 + 1))))
            if descriptorPoll.revents == 0 { continue }
            let count = read(descriptor, &chunk, chunk.count)
            guard count > 0 else {
                throw HyperMeshError.io(writeError.map { "cannot write to the agent at \(self.socketPath): \($0)" }
                    ?? "the agent closed the connection without an answer")
            }
            reply.append(contentsOf: chunk[0..<count])
        }
        let text = String(decoding: reply.prefix { $0 != UInt8(ascii: "\n") }, as: UTF8.self)
        guard case .object(let members)? = try? JSONValue(parsingJSON: text) else {
            throw HyperMeshError.io("the agent's answer is not JSON: \(text.prefix(200))")
        }
        guard case .bool(true)? = members["ok"] else {
            if case .string(let message)? = members["error"] { throw HyperMeshError.conflict(message) }
            throw HyperMeshError.conflict("the agent refused the request")
        }
        return members
    }

    /// Keys one request carries at most: a key is at most ~80 bytes of JSON, so a request line stays well under
    /// ``LocalAPIMessage/maximumLineBytes`` however long the names.
    public static let keysPerRequest = 8_000

    /// Sends `request` once per ``keysPerRequest`` of its keys: what an apply of 100,000 objects needs. Waits run
    /// one after another within `request.timeout` (a later batch gets what is left, and answers at once when
    /// nothing is); the replies' `list` arrays (`notReady`, `remaining`) are joined.
    public func sendInBatches(_ request: LocalAPIMessage.Request, joining list: String? = nil) throws -> [String: JSONValue] {
        guard let keys = request.keys, keys.count > Self.keysPerRequest else {
            return try self.send(request, timeout: request.operation.waits ? request.timeout + .seconds(10) : .seconds(10))
        }
        let deadline = ContinuousClock.now + request.timeout
        var joined: [JSONValue] = []
        var last: [String: JSONValue] = [:]
        for start in stride(from: 0, to: keys.count, by: Self.keysPerRequest) {
            var batch = request
            batch.keys = Array(keys[start..<min(keys.count, start + Self.keysPerRequest)])
            if request.operation.waits { batch.timeout = max(.zero, deadline - ContinuousClock.now) }
            last = try self.send(batch, timeout: request.operation.waits ? batch.timeout + .seconds(10) : .seconds(10))
            if let list, case .array(let items)? = last[list] { joined += items }
        }
        if let list { last[list] = .array(joined) }
        return last
    }
}
