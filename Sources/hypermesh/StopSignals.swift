import Dispatch
import Foundation

/// SIGINT and SIGTERM call `stop` (on a dispatch queue) instead of killing the process, for servers that
/// close their connections and exit 0. A parent may have blocked the signals (test runners do): they are
/// unblocked first.
struct StopSignals {
    private let sources: [any DispatchSourceSignal]

    init(_ stop: @escaping @Sendable () -> Void) {
        var unblock = sigset_t()
        sigemptyset(&unblock)
        sigaddset(&unblock, SIGINT)
        sigaddset(&unblock, SIGTERM)
        sigprocmask(SIG_UNBLOCK, &unblock, nil)
        self.sources = [SIGINT, SIGTERM].map { number -> any DispatchSourceSignal in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler(handler: stop)
            source.resume()
            return source
        }
    }

    func cancel() { self.sources.forEach { $0.cancel() } }
}
