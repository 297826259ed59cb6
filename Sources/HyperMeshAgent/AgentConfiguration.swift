import Foundation
import HyperMeshCore
import Logging
import STOQ
import Yams

/// How an agent runs: flags on the command line, or `/etc/hypermesh/agent.yaml` (flags win).
///
/// ```yaml
/// stateDirectory: /var/lib/hypermesh
/// watch: [/etc/hypermesh/specs]
/// http: 127.0.0.1:9464        # or "none"
/// stoq: 0.0.0.0:9292          # hold and serve peers' mirror shards (default: none)
/// resync: 5m
/// logLevel: info
/// ```
public struct AgentConfiguration: Sendable, Equatable {
    public var stateDirectory: URL
    public var watchDirectories: [URL] = []
    /// `host:port` for `/healthz`, `/readyz`, `/metrics`; `nil` for none.
    public var httpAddress: (host: String, port: Int)? = ("127.0.0.1", 9464)
    /// `host:port` where the agent holds and serves other nodes' mirror shards over STOQ; `nil` for none.
    public var stoqAddress: String?
    public var resyncPeriod: Duration = .seconds(300)
    public var logLevel: Logger.Level = .info

    public init(stateDirectory: URL) {
        self.stateDirectory = stateDirectory
    }

    public static func == (lhs: AgentConfiguration, rhs: AgentConfiguration) -> Bool {
        lhs.stateDirectory == rhs.stateDirectory && lhs.watchDirectories == rhs.watchDirectories
            && lhs.httpAddress?.host == rhs.httpAddress?.host && lhs.httpAddress?.port == rhs.httpAddress?.port
            && lhs.stoqAddress == rhs.stoqAddress && lhs.resyncPeriod == rhs.resyncPeriod && lhs.logLevel == rhs.logLevel
    }

    /// Parses `host:port` or `none`.
    public static func parseHTTPAddress(_ text: String) throws(HyperMeshError) -> (host: String, port: Int)? {
        if text == "none" { return nil }
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port)
        else { throw .invalidArgument("\"\(text)\" is not HOST:PORT or none") }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { throw .invalidArgument("\"\(text)\" has no host") }
        return (host, port)
    }

    /// Parses the STOQ address: `host:port`, `[v6]:port`, or `none`.
    public static func parseSTOQAddress(_ text: String) throws(HyperMeshError) -> String? {
        if text == "none" { return nil }
        do { _ = try SocketAddress(parsing: text) } catch { throw .invalidArgument("\"\(text)\" is not HOST:PORT or none") }
        return text
    }

    /// Reads the YAML file at `path` over `self`; problems are reported as `path:line:col: message`.
    public func reading(file path: String) throws -> AgentConfiguration {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw HyperMeshError.invalidArgument("\(path): cannot read it: \(error.localizedDescription)")
        }
        let node: Node?
        do { node = try Yams.compose(yaml: text) } catch {
            throw HyperMeshError.invalidSpec("\(path): not YAML: \(error)")
        }
        var result = self
        guard let node else { return result }
        guard case .mapping(let mapping) = node else { throw HyperMeshError.invalidSpec("\(path):1:1: expected a mapping") }
        func place(_ node: Node) -> String { "\(path):\(node.mark.map { "\($0.line):\($0.column)" } ?? "1:1")" }
        for (keyNode, value) in mapping {
            guard let key = keyNode.string else { throw HyperMeshError.invalidSpec("\(place(keyNode)): keys must be strings") }
            switch key {
            case "stateDirectory":
                guard let text = value.string, text.hasPrefix("/") else {
                    throw HyperMeshError.invalidSpec("\(place(value)): stateDirectory must be an absolute path")
                }
                result.stateDirectory = URL(fileURLWithPath: text)
            case "watch":
                guard let items = value.sequence?.map({ $0.string }), items.allSatisfy({ $0?.hasPrefix("/") == true }) else {
                    throw HyperMeshError.invalidSpec("\(place(value)): watch must be a list of absolute directory paths")
                }
                result.watchDirectories = items.compactMap { $0 }.map { URL(fileURLWithPath: $0) }
            case "http":
                guard let text = value.string else { throw HyperMeshError.invalidSpec("\(place(value)): http must be HOST:PORT or none") }
                do { result.httpAddress = try Self.parseHTTPAddress(text) } catch {
                    throw HyperMeshError.invalidSpec("\(place(value)): http: \(error.message)")
                }
            case "stoq":
                guard let text = value.string else { throw HyperMeshError.invalidSpec("\(place(value)): stoq must be HOST:PORT or none") }
                do { result.stoqAddress = try Self.parseSTOQAddress(text) } catch {
                    throw HyperMeshError.invalidSpec("\(place(value)): stoq: \(error.message)")
                }
            case "resync":
                guard let text = value.string, let span = try? TimeSpan(parsing: text) else {
                    throw HyperMeshError.invalidSpec("\(place(value)): resync must be a duration such as 5m")
                }
                result.resyncPeriod = span.duration
            case "logLevel":
                guard let text = value.string, let level = Logger.Level(rawValue: text) else {
                    throw HyperMeshError.invalidSpec("\(place(value)): logLevel must be trace, debug, info, notice, warning, error or critical")
                }
                result.logLevel = level
            default:
                throw HyperMeshError.invalidSpec("\(place(keyNode)): unknown key \"\(key)\" (known: stateDirectory, watch, http, stoq, resync, logLevel)")
            }
        }
        return result
    }
}
