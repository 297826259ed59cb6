import Foundation
import HyperMeshCore

/// The local API's wire format: one JSON object per line, both ways, over `STATE/agent.sock`.
///
/// Requests: `{"apiVersion": 1, "op": "wake", "keys": ["Claim/x"]}` (reconcile these, or everything
/// without `keys`), `{"apiVersion": 1, "op": "wait", "keys": [...], "timeoutMilliseconds": 5000}` (reply when
/// all are Ready for their current generation or the time is up; it wakes nothing, so send `wake` first), `{"apiVersion": 1, "op": "waitRemoved", "keys": [...], "timeoutMilliseconds": 5000}`
/// (reply when all are gone from the store, their cleanup done, or the time is up), `{"apiVersion": 1, "op": "status"}`.
/// Replies: `{"apiVersion": 1, "ok": true, …}` or `{"apiVersion": 1, "ok": false, "error": "…"}`.
public enum LocalAPIMessage {
    public static let apiVersion: Int64 = 1
    /// A request line longer than this is refused and the connection closed.
    public static let maximumLineBytes = 1 << 20
    public static let socketName = "agent.sock"

    public enum Operation: String, Sendable {
        case wake, wait, waitRemoved, status

        /// Whether the request blocks until its keys reach a state, and so carries a timeout.
        var waits: Bool { self == .wait || self == .waitRemoved }
    }

    /// A parsed request.
    public struct Request: Sendable, Equatable {
        public var operation: Operation
        public var keys: [ResourceKey]?
        public var timeout: Duration

        public init(operation: Operation, keys: [ResourceKey]? = nil, timeout: Duration = .seconds(0)) {
            self.operation = operation
            self.keys = keys
            self.timeout = timeout
        }

        public var json: JSONValue {
            var members: [String: JSONValue] = ["apiVersion": .integer(LocalAPIMessage.apiVersion), "op": .string(self.operation.rawValue)]
            if let keys = self.keys { members["keys"] = .array(keys.map { .string($0.description) }) }
            if self.operation.waits {
                let parts = self.timeout.components
                members["timeoutMilliseconds"] = .integer(parts.seconds * 1000 + parts.attoseconds / 1_000_000_000_000_000)
            }
            return .object(members)
        }
    }

    /// Parses one request line; the error says what is wrong with it.
    public static func parseRequest(_ line: String) throws(HyperMeshError) -> Request {
        let value: JSONValue
        do { value = try JSONValue(parsingJSON: line) } catch { throw .invalidArgument("request is not JSON: \(error)") }
        guard case .object(let members) = value else { throw .invalidArgument("request must be a JSON object") }
        guard case .integer(let version)? = members["apiVersion"] else { throw .invalidArgument("request has no apiVersion") }
        guard version == Self.apiVersion else {
            throw .invalidArgument("apiVersion \(version) is not supported; this agent speaks \(Self.apiVersion)")
        }
        guard case .string(let name)? = members["op"], let operation = Operation(rawValue: name) else {
            throw .invalidArgument("op must be one of wake, wait, waitRemoved, status")
        }
        var request = Request(operation: operation)
        if let keysValue = members["keys"] {
            guard case .array(let items) = keysValue else { throw .invalidArgument("keys must be an array of \"Kind/name\"") }
            request.keys = try items.map { item throws(HyperMeshError) -> ResourceKey in
                guard case .string(let text) = item, let key = ResourceKey(parsing: text) else {
                    throw .invalidArgument("keys: \(item) is not \"Kind/name\"")
                }
                return key
            }
        }
        if operation.waits {
            guard case .integer(let milliseconds)? = members["timeoutMilliseconds"], milliseconds >= 0,
                  milliseconds <= 86_400_000 else {
                throw .invalidArgument("\(name) needs timeoutMilliseconds from 0 to 86400000")
            }
            guard request.keys != nil else { throw .invalidArgument("\(name) needs keys") }
            request.timeout = .milliseconds(milliseconds)
        }
        return request
    }

    static func reply(_ members: [String: JSONValue]) -> String {
        JSONValue.object(members.merging(["apiVersion": .integer(Self.apiVersion), "ok": .bool(true)]) { $1 }).canonicalJSON
    }

    static func errorReply(_ message: String) -> String {
        JSONValue.object(["apiVersion": .integer(Self.apiVersion), "ok": .bool(false), "error": .string(message)]).canonicalJSON
    }
}
