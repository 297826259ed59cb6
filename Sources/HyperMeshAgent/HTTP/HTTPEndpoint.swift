import Foundation
import Hummingbird
import Logging
import Prometheus

/// `/healthz` (the process answers), `/readyz` (200 once READY and the last pass succeeded or is recent),
/// `/metrics` (Prometheus text format) on Hummingbird 2.
enum HTTPEndpoint {
    /// Passes older than this (while failing) make `/readyz` answer 503.
    static let readinessBound: TimeInterval = 30

    static func application(host: String, port: Int, state: AgentState, registry: PrometheusCollectorRegistry,
                            logger: Logger) -> some ApplicationProtocol {
        let router = Router()
        let process = ProcessMetrics(registry: registry)
        router.get("healthz") { _, _ in
            "ok\n"
        }
        router.get("readyz") { _, _ -> Response in
            let (ready, reason) = state.readiness(within: Self.readinessBound)
            return Response(status: ready ? .ok : .serviceUnavailable, headers: [.contentType: "text/plain; charset=utf-8"],
                            body: ResponseBody(byteBuffer: ByteBuffer(string: reason + "\n")))
        }
        router.get("metrics") { _, _ -> Response in
            process.update()
            var bytes: [UInt8] = []
            registry.emit(into: &bytes)
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
        }
        var quiet = logger
        quiet.logLevel = max(logger.logLevel, .warning)
        return Application(router: router, configuration: .init(address: .hostname(host, port: port), serverName: "hypermesh"),
                           logger: quiet)
    }
}
