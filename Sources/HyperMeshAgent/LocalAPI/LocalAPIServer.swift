import CSystemd
import Foundation
import HyperMeshCore
import HyperMeshStore
import Logging
import Metrics
import ServiceLifecycle

/// The local API on `STATE/agent.sock` (mode 0660): a thread accepts connections, each handled on a thread
/// of its own. Peers other than root, the agent's own user and the socket's group are refused after
/// checking `SO_PEERCRED`; malformed requests get an error reply, never a crash.
final class LocalAPIServer: Service, @unchecked Sendable {
    private let path: String
    private let store: StateStore
    private let state: AgentState
    private let logger: Logger
    private var descriptor: Int32 = -1
    private let stopFlag = NSLock()
    private var stopped = false
    /// Connections served at once; more wait in the listen backlog.
    static let maximumConnections = 32
    private var active = 0

    init(stateDirectory: URL, store: StateStore, state: AgentState, logger: Logger) {
        self.path = stateDirectory.appendingPathComponent(LocalAPIMessage.socketName).path
        self.store = store
        self.state = state
        self.logger = logger
    }

    /// Binds the socket (replacing a stale one) with mode 0660.
    func bind() throws {
        unlink(self.path)
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw HyperMeshError.io("socket: \(String(cString: strerror(errno)))") }
        guard let address = UnixSocketAddress(path: self.path) else {
            close(descriptor)
            throw HyperMeshError.invalidArgument("\(self.path): too long for a unix socket path")
        }
        let bound = address.withSockaddr { Glibc.bind(descriptor, $0, $1) }
        guard bound == 0, chmod(self.path, 0o660) == 0, listen(descriptor, 64) == 0 else {
            let reason = String(cString: strerror(errno))
            close(descriptor)
            throw HyperMeshError.io("\(self.path): \(reason)")
        }
        self.descriptor = descriptor
    }

    func run() async throws {
        if self.descriptor < 0 { try self.bind() }
        let thread = Thread { self.acceptLoop() }
        thread.start()
        await withGracefulShutdownHandler {
            while !(Task.isCancelled || Task.isShuttingDownGracefully) { try? await Task.sleep(for: .milliseconds(100)) }
        } onGracefulShutdown: {
            self.stopFlag.withLock { self.stopped = true }
        }
        self.stopFlag.withLock { self.stopped = true }
        unlink(self.path)
    }

    private var isStopped: Bool { self.stopFlag.withLock { self.stopped } }

    private func acceptLoop() {
        defer { close(self.descriptor) }
        while !self.isStopped {
            var descriptor = pollfd(fd: self.descriptor, events: Int16(POLLIN), revents: 0)
            guard poll(&descriptor, 1, 100) > 0 else { continue }
            let connection = accept(self.descriptor, nil, nil)
            guard connection >= 0 else { continue }
            let admitted: Bool = self.stopFlag.withLock {
                guard self.active < Self.maximumConnections else { return false }
                self.active += 1
                return true
            }
            guard admitted else {
                self.send(LocalAPIMessage.errorReply("busy: \(Self.maximumConnections) connections open"), to: connection)
                close(connection)
                continue
            }
            Thread {
                self.serve(connection)
                close(connection)
                self.stopFlag.withLock { self.active -= 1 }
            }.start()
        }
    }

    /// Root, the agent's own user, or a member (primary group) of the socket file's group.
    private func permitted(_ connection: Int32) -> (Bool, String) {
        var pid: pid_t = 0
        var uid: uid_t = 0
        var gid: gid_t = 0
        guard csystemd_peer_credentials(connection, &pid, &uid, &gid) == 0 else { return (false, "no peer credentials") }
        var status = stat()
        let socketGroup = stat(self.path, &status) == 0 ? status.st_gid : gid_t.max
        if uid == 0 || uid == geteuid() || gid == socketGroup { return (true, "") }
        return (false, "permission denied: uid \(uid) (pid \(pid)) is not root, the agent's user, or in group \(socketGroup)")
    }

    private func serve(_ connection: Int32) {
        let (allowed, reason) = self.permitted(connection)
        guard allowed else {
            self.logger.warning("Local API connection refused", metadata: ["reason": "\(reason)"])
            self.send(LocalAPIMessage.errorReply(reason), to: connection)
            return
        }
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while !self.isStopped {
            if let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: buffer[..<newline], as: UTF8.self)
                buffer.removeSubrange(...newline)
                self.send(self.answer(line), to: connection)
                continue
            }
            guard buffer.count <= LocalAPIMessage.maximumLineBytes else {
                self.send(LocalAPIMessage.errorReply("request line over \(LocalAPIMessage.maximumLineBytes) bytes"), to: connection)
                return
            }
            var descriptor = pollfd(fd: connection, events: Int16(POLLIN), revents: 0)
            guard poll(&descriptor, 1, 200) >= 0 else { return }
            if descriptor.revents == 0 { continue }
            let count = read(connection, &chunk, chunk.count)
            guard count > 0 else { return }
            buffer.append(contentsOf: chunk[0..<count])
        }
    }

    private func answer(_ line: String) -> String {
        let request: LocalAPIMessage.Request
        do {
            request = try LocalAPIMessage.parseRequest(line)
        } catch {
            return LocalAPIMessage.errorReply(error.message)
        }
        switch request.operation {
        case .wake:
            // `hypermesh apply` wakes the agent after every apply it stores.
            Counter(label: "hypermesh_applies_total", dimensions: [("source", "cli"), ("result", "applied")]).increment()
            self.state.wake(request.keys)
            return LocalAPIMessage.reply([:])
        case .status:
            return LocalAPIMessage.reply(["ready": .bool(self.state.isReady), "summary": .string(self.state.summary)])
        case .wait:
            // No wake: the client woke what it wants reconciled first. Waking every waited-for key again ran a
            // second full pass over ten thousand objects after each `apply --wait`.
            return self.waitUntilReady(request.keys ?? [], timeout: request.timeout)
        case .waitRemoved:
            // `hypermesh delete` asks for this once it has marked the keys for deletion.
            self.state.wake(request.keys)
            return self.waitUntilRemoved(request.keys ?? [], timeout: request.timeout)
        }
    }

    /// Replies once none of `keys` is in the store (their controllers released what they held) or at
    /// `timeout`, with those still there and why (`Terminating: pool p waits for its bound claims…`).
    private func waitUntilRemoved(_ keys: [ResourceKey], timeout: Duration) -> String {
        // Keys only, not objects: decoding ten thousand objects every poll would slow the cleanup it waits for.
        self.pollStore(keys, timeout: timeout, narrow: { $0.formIntersection(try self.store.keys()) }) { pending in
            let listed = try self.store.objects(pending.sorted()).map { object -> JSONValue in
                let ready = object.status?.condition(Condition.ready)
                let reason = object.deletionRequestedAt == nil ? "NotDeleted" : ready?.reason ?? "CleanupPending"
                return .object(["object": .string(object.key.description), "reason": .string(reason),
                                "message": .string(ready?.message ?? "")])
            }
            return ["remaining": .array(listed)]
        }
    }

    private func waitUntilReady(_ keys: [ResourceKey], timeout: Duration) -> String {
        // Which keys are Ready is asked of SQLite, not by decoding the objects: decoding ten thousand objects
        // every poll competed with the reconciler that makes them Ready. Only the stragglers are decoded, once.
        self.pollStore(keys, timeout: timeout, narrow: { $0.subtract(try self.store.readyKeys()) }) { pending in
            let objects = try self.store.objects(pending.sorted())
            let missing = pending.subtracting(objects.map(\.key))
            let listed = objects.map { object -> JSONValue in
                let ready = object.status?.condition(Condition.ready)
                let current = object.status?.observedGeneration == object.generation
                return .object(["object": .string(object.key.description),
                                "reason": .string(current ? ready?.reason ?? "Pending" : "Pending")])
            } + missing.sorted().map { .object(["object": .string($0.description), "reason": .string("NotFound")]) }
            return ["notReady": .array(listed)]
        }
    }

    /// Polls until `narrow` leaves no key pending, `timeout` passes or the agent stops, then replies with what
    /// `answer` makes of the keys still pending; a store error is the reply instead.
    private func pollStore(_ keys: [ResourceKey], timeout: Duration, narrow: (inout Set<ResourceKey>) throws -> Void,
                      answer: (Set<ResourceKey>) throws -> [String: JSONValue]) -> String
    {
        let deadline = ContinuousClock.now + timeout
        var pending = Set(keys)
        while true {
            do {
                try narrow(&pending)
                if pending.isEmpty || ContinuousClock.now >= deadline || self.isStopped {
                    return LocalAPIMessage.reply(try answer(pending))
                }
            } catch {
                return LocalAPIMessage.errorReply("\(error)")
            }
            usleep(pending.count > 100 ? 100_000 : 20_000)
        }
    }

    private func send(_ line: String, to connection: Int32) {
        let bytes = Array((line + "\n").utf8)
        var offset = 0
        while offset < bytes.count {
            // MSG_NOSIGNAL: a client that went away must not kill the agent with SIGPIPE.
            let written = bytes[offset...].withUnsafeBytes { Glibc.send(connection, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard written > 0 else { return }
            offset += written
        }
    }
}
