import Foundation
import CSystemd
import Logging

/// A swift-log handler writing native journal entries to journald's socket, with structured fields:
/// `MESSAGE`, `PRIORITY`, `SYSLOG_IDENTIFIER`, `CODE_FILE/LINE/FUNC`, `HYPERMESH_OBJECT` (from metadata
/// `object`), `HYPERMESH_GENERATION`, `HYPERMESH_REASON`, and every other metadata key as `HYPERMESH_KEY`.
///
/// It speaks the protocol itself rather than through `sd_journal_sendv`, which always writes to
/// `/run/systemd/journal/socket`: the socket path is a parameter, so tests can bind their own.
public struct JournalLogHandler: LogHandler {
    public static let defaultSocketPath = "/run/systemd/journal/socket"

    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    private let label: String
    private let socket: JournalSocket

    public init(label: String, socketPath: String = Self.defaultSocketPath, logLevel: Logger.Level = .info) {
        self.label = label
        self.logLevel = logLevel
        self.socket = JournalSocket.shared(for: socketPath)
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { self.metadata[key] }
        set { self.metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields: [(name: String, value: String)] = [
            ("MESSAGE", "\(event.message)"),
            ("PRIORITY", String(Self.priority(event.level))),
            ("SYSLOG_IDENTIFIER", "hypermesh"),
            ("HYPERMESH_LOGGER", self.label),
            ("CODE_FILE", event.file),
            ("CODE_LINE", String(event.line)),
            ("CODE_FUNC", event.function),
        ]
        let merged = self.metadata.merging(event.metadata ?? [:]) { $1 }
        for (key, value) in merged.sorted(by: { $0.key < $1.key }) {
            fields.append(("HYPERMESH_" + JournalEntry.fieldName(key), "\(value)"))
        }
        self.socket.send(JournalEntry(fields: fields).encoded)
    }

    /// syslog priorities, as journald wants them.
    static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: return 7
        case .info: return 6
        case .notice: return 5
        case .warning: return 4
        case .error: return 3
        case .critical: return 2
        }
    }

    /// Whether stderr is connected to the journal: `$JOURNAL_STREAM` is `DEVICE:INODE` of stderr's stream.
    public static func stderrIsJournal(environment: [String: String] = ProcessInfo.processInfo.environment) -> Bool {
        guard let stream = environment["JOURNAL_STREAM"] else { return false }
        let parts = stream.split(separator: ":")
        guard parts.count == 2, let device = UInt64(parts[0]), let inode = UInt64(parts[1]) else { return false }
        var status = stat()
        guard fstat(STDERR_FILENO, &status) == 0 else { return false }
        return UInt64(status.st_dev) == device && UInt64(status.st_ino) == inode
    }
}

/// One datagram socket per journal path, shared by every handler.
final class JournalSocket: @unchecked Sendable {
    private let descriptor: Int32
    private let address: UnixSocketAddress?
    private static let lock = NSLock()
    private nonisolated(unsafe) static var sockets: [String: JournalSocket] = [:]

    static func shared(for path: String) -> JournalSocket {
        self.lock.withLock {
            if let socket = self.sockets[path] { return socket }
            let socket = JournalSocket(path: path)
            self.sockets[path] = socket
            return socket
        }
    }

    private init(path: String) {
        self.descriptor = Glibc.socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        self.address = UnixSocketAddress(path: path)
    }

    func send(_ bytes: [UInt8]) {
        _ = self.address?.withSockaddr { sendto(self.descriptor, bytes, bytes.count, Int32(MSG_NOSIGNAL), $0, $1) }
    }
}
