import Foundation

/// The connection IDs of client connections that dial from a server's socket, and the inbox of each: the
/// server's loop reads every datagram on that socket and hands those carrying one of these IDs to the thread
/// that drives the connection. Locked: the loop looks up while dialling threads add and remove.
final class SharedSocketRoutes: @unchecked Sendable {
    private let lock = NSLock()
    private var inboxes: [ConnectionID: DatagramInbox] = [:]

    func inbox(for id: ConnectionID) -> DatagramInbox? { self.lock.withLock { self.inboxes[id] } }
    func add(_ id: ConnectionID, _ inbox: DatagramInbox) { self.lock.withLock { self.inboxes[id] = inbox } }
    func remove(_ ids: some Sequence<ConnectionID>) { self.lock.withLock { for id in ids { self.inboxes[id] = nil } } }
    var count: Int { self.lock.withLock { self.inboxes.count } }
}

/// What one client connection on a server's socket tells that server: the connection IDs to route to its inbox.
final class SharedSocketRouting: QUICConnectionOwner {
    let inbox = DatagramInbox()
    private let routes: SharedSocketRoutes
    private var ids: Set<ConnectionID> = []
    let staticSecret: [UInt8] = []

    init(routes: SharedSocketRoutes) {
        self.routes = routes
    }

    /// Starts routing the connection's first ID (before its first packet leaves).
    func start(with ids: [ConnectionID]) {
        for id in ids { self.route(id) }
    }

    func connection(_ connection: QUICConnection, didIssue id: ConnectionID) { self.route(id) }

    private func route(_ id: ConnectionID) {
        self.ids.insert(id)
        self.routes.add(id, self.inbox)
    }

    func connection(_ connection: QUICConnection, didRetire id: ConnectionID) {
        self.ids.remove(id)
        self.routes.remove([id])
    }

    func connection(_ connection: QUICConnection, didOpenRemoteStream stream: QUICStream) {
        // A server may not open streams towards a client here (its stream limit is zero).
        stream.reset(errorCode: 0x2)
    }

    /// Stops routing: the connection is closed.
    func release() {
        self.routes.remove(self.ids)
        self.ids.removeAll()
    }

    deinit { self.release() }
}
