import CNGTCP2
import Foundation

/// Connections this node dials from the server's own socket (``STOQClient/connect(to:from:timeout:)``) are driven
/// by the server's loop like its own: their packets go straight to them by connection ID, their timers run with
/// the rest. A dialling thread hands the loop "work until this is done" and waits for the outcome, so the loop is
/// the only thread that touches the connection — no hand-off of datagrams, no third busy thread.
extension STOQServer {
    /// One wait of a dialling thread: run `done` on the loop after each pass until it holds, the connection fails
    /// or the deadline passes.
    final class DialledWork: @unchecked Sendable {
        let connection: QUICConnection
        /// Dropped before the waiter is woken: the waiter's closure must not outlive its wait.
        private var condition: (() -> Bool)?
        let deadline: UInt64
        var outcome: STOQError??
        let finished = DispatchSemaphore(value: 0)

        init(connection: QUICConnection, done: @escaping () -> Bool, deadline: UInt64) {
            self.connection = connection
            self.condition = done
            self.deadline = deadline
        }

        /// Whether the waiter's condition holds now (on the loop).
        func done() -> Bool { self.condition?() ?? true }

        func complete(_ error: STOQError?) {
            guard self.outcome == nil else { return }
            self.outcome = .some(error)
            self.condition = nil
            self.finished.signal()
        }
    }

    /// From the dialling thread: runs `done` on the loop until it returns true; throws what ended the wait.
    func drive(_ connection: QUICConnection, until done: () -> Bool, deadline: UInt64) throws {
        // The loop would wait for itself.
        guard !self.isLoopThread else { throw STOQError.socket("a STOQ server's own loop cannot dial from its socket and wait") }
        try withoutActuallyEscaping(done) { escapable in
            // The caller blocks until the loop is finished with `escapable`, so it never outlives this call.
            let work = DialledWork(connection: connection, done: escapable, deadline: deadline)
            guard self.dialling.submit(work) else {
                throw STOQError.connectionClosed("the STOQ server at \(self.localAddress) is stopped")
            }
            var one: UInt64 = 1
            _ = write(self.wakeDescriptor, &one, 8)
            work.finished.wait()
            if case .some(.some(let error)) = work.outcome { throw error }
        }
    }

    /// On the loop: takes the connections and waits handed over since the last pass.
    func adoptDialledWork() {
        for work in self.dialling.takeNew() {
            let key = ObjectIdentifier(work.connection)
            if self.connections[key] == nil {
                self.connections[key] = work.connection
                self.dialledConnections.insert(key)
                self.statistics.connectionsDialled += 1
                for id in work.connection.sourceConnectionIDs { self.routes[id] = work.connection }
            }
            self.dialledWork.append(work)
        }
    }

    /// On the loop, after a pass: finishes the waits whose condition holds, whose connection failed, or whose
    /// deadline passed (the same outcomes a client driving its own socket reports).
    func progressDialledWork() {
        guard !self.dialledWork.isEmpty else { return }
        let now = cngtcp2_timestamp()
        self.dialledWork.removeAll { work in
            let connection = work.connection
            if work.done() {
                _ = connection.write(now: cngtcp2_timestamp())
                work.complete(nil)
                return true
            }
            guard connection.state == .active else {
                work.complete(STOQClientConnection.failure(of: connection))
                return true
            }
            if now >= work.deadline {
                work.complete(.timedOut("no answer from \(connection.remoteAddress)"))
                return true
            }
            return false
        }
    }

    /// When the loop stops: every wait ends.
    func abandonDialledWork() {
        for work in self.dialling.close() + self.dialledWork {
            work.complete(.connectionClosed("the STOQ server at \(self.localAddress) stopped"))
        }
        self.dialledWork.removeAll()
    }
}

/// Waits handed from dialling threads to the loop.
final class DiallingQueue: @unchecked Sendable {
    private let lock = NSLock()
    private var pending: [STOQServer.DialledWork] = []
    private var closed = false

    /// `false` once the loop has stopped.
    func submit(_ work: STOQServer.DialledWork) -> Bool {
        self.lock.withLock {
            guard !self.closed else { return false }
            self.pending.append(work)
            return true
        }
    }

    func takeNew() -> [STOQServer.DialledWork] {
        self.lock.withLock {
            defer { self.pending.removeAll() }
            return self.pending
        }
    }

    func close() -> [STOQServer.DialledWork] {
        self.lock.withLock {
            self.closed = true
            defer { self.pending.removeAll() }
            return self.pending
        }
    }
}
